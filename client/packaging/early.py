"""Compressing the first files of a cold build while the rest are still being selected.

Selection lists the tracked files at once, then lstats them while git looks for
untracked ones: the worker processes would idle meanwhile. :class:`EarlyBatches`
takes the files as selection resolves them (:func:`.select.select_files`'s
``on_files``), forms batches by the builder's own rule, and hands them to the
workers at once, up to :data:`BUDGET` bytes. The builder then takes an early
batch in place of the one it would have formed only where its entries are the
same items, in the same order (same names, same stats): an untracked file, an
added entry or a dropped file between them makes it form its own batch there, and
the early one is discarded. Who compresses an entry, and when, never changes its
bytes, so the archive is the same either way.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from cbdeploy.client.packaging.model import FileStat, SelectedFile
from cbdeploy.client.packaging.reader import LARGE, WHOLE, Item, file_item, item_size
from cbdeploy.client.packaging.table import RACY_NS
from cbdeploy.client.packaging.workers import Workers, has_cache, start_workers

BATCH_BYTES = 1 << 20
BATCH_FILES = 128
BUDGET = 32 << 20  # at most this much handed out before the builder starts writing


class Batch:
    """Entries compressed together by one worker (plain classes: cheaper to import)."""

    __slots__ = ("items", "size")

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.size = 0

    def cut_before(self, size: int, start: bool = False) -> bool:
        """Whether an item of ``size`` begins a new batch: a large one does (it goes
        alone), and so does one where a batch must ``start``."""
        return bool(self.items) and (start or size > LARGE)

    def add(self, item: Item, size: int) -> None:
        self.items.append(item)
        self.size += size

    def full(self) -> bool:
        return self.size >= BATCH_BYTES or len(self.items) >= BATCH_FILES


class Remote:
    """A batch handed to a worker process, by its ticket."""

    __slots__ = ("batch", "ticket")

    def __init__(self, batch: Batch, ticket: int) -> None:
        self.batch = batch
        self.ticket = ticket


class EarlyBatches:
    """Batches handed to ``workers`` before the build starts; the build's start time is
    this object's (``started_ns``): the racy bound the workers were given derives from it."""

    def __init__(
        self, workers: Workers, *, budget: int = BUDGET, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.workers = workers
        self.started_ns = clock_ns()
        self.root: bytes | None = None
        self.handed: deque[Remote] = deque()
        self._batch = Batch()
        self._left = budget
        self.taken = self.discarded = 0  # batches the build took, and did not
        self._encoding = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())

    def feed(self, root: Path, files: Iterable[SelectedFile], stats: Mapping[str, FileStat]) -> None:
        """Take the next resolved files of the selection under ``root`` (in byte order)."""
        if self._left <= 0:
            return
        if self.root is None:
            self.root = os.fsencode(root).rstrip(b"/") + b"/"
            self.workers.begin(self.root, self.started_ns - RACY_NS)
        encoding, errors = self._encoding
        batch = self._batch
        for f in files:
            item = file_item(f.path.encode(encoding, errors), f, stats)
            size = item_size(item)
            if size > WHOLE:  # streamed on a thread by the builder: the batch ends here
                self._hand()
                batch = self._batch
                continue
            if batch.cut_before(size):
                self._hand()
                batch = self._batch
            batch.add(item, size)
            if batch.full():
                self._hand()
                batch = self._batch
                if self._left <= 0:
                    return

    def finish(self) -> None:
        """The selection is complete: hand out the batch being formed."""
        if self._left > 0:
            self._hand()
        self._left = 0

    def take(self) -> Remote:
        """The next batch handed out, which the build writes in its place."""
        self.taken += 1
        return self.handed.popleft()

    def discard(self) -> None:
        """The next batch handed out is not in the archive as it is: drop its reply."""
        self.discarded += 1
        self.workers.discard(self.handed.popleft().ticket)

    def _hand(self) -> None:
        batch = self._batch
        if batch.items:
            self.handed.append(Remote(batch, self.workers.submit(batch.items, batch.size)))
            self._left -= batch.size
            self._batch = Batch()


@contextmanager
def cold_start(cache: Path | None) -> Iterator[EarlyBatches | None]:
    """A cold build's head start (``cbdeploy package``'s and a deploy's): worker processes
    started now, before the files are selected, and the :class:`EarlyBatches` that feeds
    them (its ``feed`` is ``select_files``' ``on_files``; it and its ``workers`` go to
    ``build_archive``). None where the cache folder ``cache`` will mostly supply the
    archive (it is looked at, never created; None: no cache is used), or where workers
    cannot start. The workers end with the block, if not before."""
    workers = None if cache is not None and has_cache(cache) else start_workers()
    if workers is None:
        yield None
        return
    with workers:
        yield EarlyBatches(workers)

