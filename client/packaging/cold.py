"""A cold build's batches: formed for many files at once, the early ones taken in place.

Without a cache to copy from, every entry is compressed: the selection's files
in byte order with the added entries (the manifest, a deploy's files) in their
places. Their items and batches are made in bulk (:func:`.early.file_items`,
:func:`.early.batch_ends`), never an object call per file, and a batch handed
out early (:mod:`.early`) is taken instead of forming its entries again where
those entries are exactly its items: the same files with the same stats, at
consecutive places, with no added entry between them. Where an early batch's
files are not so (an untracked file or an added entry among them, a file dropped
from the selection), it is discarded and its entries are formed anew. Either way
the archive's entries are the same, in the same order, so are its bytes.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from operator import lt

from cbdeploy.client.packaging.bulk import FileColumns, encoded
from cbdeploy.client.packaging.early import Batch, EarlyBatches, Remote, batch_ends, file_items
from cbdeploy.client.packaging.model import SelectedFile
from cbdeploy.client.packaging.reader import Item

CHUNK = 4096  # files whose items are made at a time: the first batches go out early


def cold_units(
    files: Sequence[SelectedFile],
    columns: FileColumns,
    extra: Mapping[str, bytes],
    early: EarlyBatches | None,
) -> Iterator[Batch | Remote] | None:
    """The batches of a cold build, in archive order (with ``early``: its batches taken
    where they fit, the others discarded); None when the files are not in strictly
    increasing byte order (the caller then orders the entries one by one)."""
    names = encoded(files)
    if not all(map(lt, names, islice(names, 1, None))):
        return None
    added: list[tuple[int, Item, int]] = []  # (the place: before names[place], item, size)
    for path, data in extra.items():
        name = os.fsencode(path)
        place = bisect_left(names, name)
        if place < len(names) and names[place] == name:
            raise ValueError(f"two archive entries named {path}")
        added.append((place, (name, 0o100644, bytes(data), False), len(data)))
    added.sort(key=lambda pair: pair[1][0])
    return _Plan(names, files, columns, added).units(early)


class _Plan:
    def __init__(
        self, names: list[bytes], files: Sequence[SelectedFile], columns: FileColumns,
        added: list[tuple[int, Item, int]],
    ) -> None:
        self.names = names
        self.files = files
        self.stats = columns.stats
        self.added = added
        self._next_added = 0

    def units(self, early: EarlyBatches | None) -> Iterator[Batch | Remote]:
        done = 0  # the files written up to here
        try:
            while early is not None and early.handed:
                span = self._span(early.handed[0].batch, done)
                if span is None:
                    early.discard()
                    continue
                yield from self._formed(done, span[0])
                yield early.take()
                done = span[1]
            yield from self._formed(done, len(self.names))
        finally:
            while early is not None and early.handed:
                early.discard()

    def _span(self, batch: Batch, done: int) -> tuple[int, int] | None:
        """Where ``batch``'s files are, if its items are exactly the entries there."""
        names, count = self.names, len(batch.files)
        first = batch.items[0][0]
        start = bisect_left(names, first, done)
        stop = start + count
        if start >= len(names) or names[start] != first or stop > len(names):
            return None
        if list(self.files[start:stop]) != batch.files or self.stats[start:stop] != batch.stats:
            return None
        pending = self.added[self._next_added :]
        if any(start < place < stop for place, _, _ in pending):
            return None  # an added entry between its files
        return start, stop

    def _formed(self, start: int, stop: int) -> Iterator[Batch]:
        """Batches of the files from ``start`` to ``stop`` and the added entries among
        them (and just before ``stop``), made a :data:`CHUNK` of files at a time."""
        held: list[Item] = []  # the batch being formed
        held_size = 0
        for lo in range(start, max(stop, start + 1), CHUNK):
            hi = min(lo + CHUNK, stop)
            items, sizes = file_items(self.names[lo:hi], self.files[lo:hi], self.stats[lo:hi])
            inserted = 0
            while self._next_added < len(self.added):
                place, item, size = self.added[self._next_added]
                if place > hi or (place == hi and hi != stop):
                    break
                items.insert(place - lo + inserted, item)
                sizes.insert(place - lo + inserted, size)
                self._next_added += 1
                inserted += 1
            ends, _, _ = batch_ends(sizes, len(held), held_size)
            at = 0
            for end in ends:
                yield Batch(held + items[at:end], held_size + sum(sizes[at:end]))
                held, held_size, at = [], 0, end
            held += items[at:]
            held_size += sum(sizes[at:])
        if held:
            yield Batch(held, held_size)
