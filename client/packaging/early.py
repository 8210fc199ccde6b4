"""Compressing the first files of a cold build while the rest are still being selected.

Selection lists the tracked files at once, then lstats them while git looks for
untracked ones: the worker processes would idle meanwhile. :class:`EarlyBatches`
takes the files as selection resolves them (:func:`.select.select_files`'s
``on_files``), forms batches by the builder's own rule, and hands them to the
workers at once, up to :data:`BUDGET` bytes. The builder (:mod:`.cold`) then
takes an early batch in place of the entries it covers only where those entries
are exactly its items, in the same order (the same files, with the same stats,
and nothing between them): an untracked file, an added entry or a dropped file
among them makes it form its own batches there, and the early one is discarded.
Who compresses an entry, and when, never changes its bytes, so the archive is the
same either way. Items and batches are formed for a whole part of the files at
once (:func:`file_items`, :func:`batch_ends`), never an object call per file.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import accumulate, compress, repeat
from operator import add, gt, is_not, itemgetter
from pathlib import Path

from cbdeploy.client.packaging.bulk import encoded
from cbdeploy.client.packaging.model import FileStat, SelectedFile
from cbdeploy.client.packaging.reader import LARGE, LINK_MODE, WHOLE, Item
from cbdeploy.client.packaging.table import RACY_NS
from cbdeploy.client.packaging.workers import Workers, has_cache, start_workers

BATCH_BYTES = 1 << 20
BATCH_FILES = 128
BUDGET = 32 << 20  # at most this much handed out before the builder starts writing
# Where the entries the build adds go (the manifest, a deploy's plan and runner): no
# selected file is there (bulk.NEVER_SHIPPED), and an early batch ends there, so that
# none holds their place (the build could not take it).
ADDED_AT = b".cbdeploy/"
_PATH = itemgetter(0)
_TARGET = itemgetter(1)
_SIZE = itemgetter(0)


class Batch:
    """Entries compressed together by one worker (plain classes: cheaper to import)."""

    __slots__ = ("items", "size", "files", "stats")

    def __init__(self, items: list[Item] | None = None, size: int = 0) -> None:
        self.items: list[Item] = items if items is not None else []
        self.size = size
        # An early batch's: the selected files and stats its items were made of.
        self.files: list[SelectedFile] = []
        self.stats: list[FileStat] = []

    def cut_before(self, size: int) -> bool:
        """Whether an item of ``size`` begins a new batch: a large one does (it goes alone)."""
        return bool(self.items) and size > LARGE

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
        self._past_added = False  # whether a file after ADDED_AT was fed
        self.taken = self.discarded = 0  # batches the build took, and did not

    def feed(self, root: Path, files: Sequence[SelectedFile], stats: Mapping[str, FileStat]) -> None:
        """Take the next resolved files of the selection under ``root`` (in byte order)."""
        if self._left <= 0 or not files:
            return
        if self.root is None:
            self.root = os.fsencode(root).rstrip(b"/") + b"/"
            self.workers.begin(self.root, self.started_ns - RACY_NS)
        files = list(files)
        fstats = list(map(stats.__getitem__, map(_PATH, files)))
        names = encoded(files)
        items, sizes = file_items(names, files, fstats)
        cut = len(names) if self._past_added else bisect_left(names, ADDED_AT)
        self._add(items[:cut], files[:cut], fstats[:cut], sizes[:cut])
        if cut < len(names) and self._left > 0:  # the added entries' place: a batch ends
            self._past_added = True
            self._hand()
            self._add(items[cut:], files[cut:], fstats[cut:], sizes[cut:])

    def _add(
        self, items: list[Item], files: list[SelectedFile], fstats: list[FileStat],
        sizes: list[int],
    ) -> None:
        """Add entries to the batch being formed, handing out each batch formed."""
        if self._left <= 0:
            return
        ends, _, _ = batch_ends(sizes, len(self._batch.items), self._batch.size)
        start = 0
        for end in ends:
            batch = self._batch
            batch.items += items[start:end]
            batch.files += files[start:end]
            batch.stats += fstats[start:end]
            batch.size += sum(sizes[start:end])
            start = end
            if batch.size > WHOLE:  # one file, streamed on a thread by the builder
                self._batch = Batch()
                continue
            self._hand()
            if self._left <= 0:
                return
        batch = self._batch  # the batch being formed: more may come
        batch.items += items[start:]
        batch.files += files[start:]
        batch.stats += fstats[start:]
        batch.size += sum(sizes[start:])

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


def file_items(
    names: list[bytes], files: Sequence[SelectedFile], stats: Sequence[FileStat]
) -> tuple[list[Item], list[int]]:
    """The items of ``files`` (``names``: their paths encoded, ``stats`` their stats) and
    their sizes: :func:`.reader.file_item` and :func:`.reader.item_size` of each, made
    in C but for the links."""
    items: list[Item] = list(map(add, zip(names), stats))
    sizes = list(map(_SIZE, stats))
    for at in compress(range(len(files)), map(is_not, map(_TARGET, files), repeat(None))):
        target = os.fsencode(files[at].link_target or "")
        items[at] = (names[at], LINK_MODE, target, True)
        sizes[at] = len(target)
    return items, sizes


def batch_ends(sizes: Sequence[int], count: int = 0, total: int = 0) -> tuple[list[int], int, int]:
    """Where the batches formed of entries of ``sizes`` end, after a batch being formed
    of ``count`` entries and ``total`` bytes: :class:`Batch`'s rule (a large entry goes
    alone, a batch ends once full), found a batch at a time (a search of the running
    sums), not an entry at a time. Also the count and bytes of the batch left being
    formed. An end at 0 ends the batch being formed."""
    ends: list[int] = []
    stop = len(sizes)
    sums = list(accumulate(sizes, initial=0))  # sums[i]: the bytes before entry i
    large = deque(compress(range(stop), map(gt, sizes, repeat(LARGE))))
    at = 0
    while at < stop:
        if large and large[0] == at:  # alone, after the batch being formed
            large.popleft()
            ends += [at, at + 1] if count else [at + 1]
            at, count, total = at + 1, 0, 0
            continue
        full = min(
            at + BATCH_FILES - count,  # the entry that makes it BATCH_FILES
            bisect_left(sums, sums[at] + BATCH_BYTES - total, at + 1),  # or BATCH_BYTES
        )
        cut = large[0] if large else stop
        if full <= cut:
            ends.append(full)
            at, count, total = full, 0, 0
        else:  # a large entry, or the end, comes first
            count += cut - at
            total += sums[cut] - sums[at]
            at = cut
    return ends, count, total


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

