"""What a re-package writes when its regular files are the cached index's rows, in
the same order (files edited, none added or removed: the common case).

The stat keys of all rows are compared in one go (:func:`.reuse.changed_rows`);
the entries are then the cached records in runs, broken only where something
happens: a changed row (written anew), an entry that is not a row (a link, an
added entry such as the manifest: written anew in its place), or a row whose
record did not follow the previous one in the cached archive. The work is
proportional to those, not to the files, and the entries are exactly those the
entry-by-entry plan of :mod:`.archive` gives.
"""

from __future__ import annotations

import bisect
import codecs
import os
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from itertools import compress, islice
from operator import add, itemgetter, lt, ne
from typing import TypeVar

from cbdeploy.client.packaging.bulk import FileColumns
from cbdeploy.client.packaging.cache import ArchiveCache
from cbdeploy.client.packaging.model import FileStat, SelectedFile
from cbdeploy.client.packaging.reader import LINK_MODE, Item, Opener, file_item
from cbdeploy.client.packaging.reuse import changed_rows, reusable
from cbdeploy.client.packaging.table import FLAG_SORTED, Columns
from cbdeploy.client.packaging.writer import CopyRun

Entry = Item | CopyRun
_PATH = itemgetter(0)
_TARGET = itemgetter(1)
_T = TypeVar("_T")


def encoded_names(files: Sequence[SelectedFile]) -> list[bytes]:
    """``os.fsencode(f.path)`` of each file."""
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    if codecs.lookup(encoding).name == "utf-8":  # stateless: the pieces encode alone
        return "\0".join(map(_PATH, files)).encode(encoding, errors).split(b"\0") if files else []
    return [f.path.encode(encoding, errors) for f in files]


def _same_names(columns: FileColumns, old: Columns) -> bool:
    """Whether the files are the cached rows, in the same order, and that order is strictly
    increasing: no link among them, and their names joined are the index's names blob
    (one comparison instead of encoding each path; the index knows its order)."""
    if columns.links or len(columns.paths) != len(old.names) or not old.flags & FLAG_SORTED:
        return False
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    if codecs.lookup(encoding).name != "utf-8":
        return False
    return "\0".join(columns.paths).encode(encoding, errors) == old.names_blob


def plan_entries(
    files: Sequence[SelectedFile],
    columns: FileColumns,
    extra: Mapping[str, bytes],
    cache: ArchiveCache | None,
    root: bytes,
    opener: Opener,
) -> list[Entry] | None:
    """The entries to write, in order; None when the files are not in strict byte order
    or their regular files are not the cached rows (then each entry is looked up)."""
    if cache is None or not cache.columns.names:
        return None
    links = columns.links
    if _same_names(columns, cache.columns):  # the common case: files edited, none moved
        names = row_names = cache.columns.names
    else:
        names = encoded_names(files)
        if not all(map(lt, names, islice(names, 1, None))):  # sorted, and no name twice
            return None
        row_names = _without(names, links)
        if len(row_names) != len(cache.columns.names):
            return None
    row_stats = _without(columns.stats, links)
    dirty = changed_rows(row_names, row_stats, root, cache, opener)
    if dirty is None:
        return None
    inserts: list[tuple[int, bytes, Item]] = []
    for before, at in enumerate(links):  # a link: after the rows before it
        target = os.fsencode(files[at].link_target or "")
        inserts.append((at - before, names[at], (names[at], LINK_MODE, target, True)))
    for path, data in extra.items():
        name = os.fsencode(path)
        at = bisect.bisect_left(names, name)
        if at < len(names) and names[at] == name:
            raise ValueError(f"two archive entries named {path}")
        item: Item = (name, 0o100644, bytes(data), False)
        inserts.append((bisect.bisect_left(row_names, name), name, item))
    inserts.sort()
    events = dirty.union(_gaps(cache), (k for k, _, _ in inserts))
    return _entries(sorted(events), dirty, inserts, row_names, row_stats)


def _entries(
    events: list[int], dirty: set[int], inserts: list[tuple[int, bytes, Item]],
    row_names: list[bytes], row_stats: list[FileStat],
) -> list[Entry]:
    """Runs of rows between the ``events`` (rows where a run must stop), and at each
    event the inserts before that row, then the row itself if it is ``dirty``."""
    entries: list[Entry] = []
    rows, start, pending = len(row_names), 0, 0
    for event in [*events, rows]:
        if start < event:
            run = CopyRun(start)
            run.stop = event
            entries.append(run)
        while pending < len(inserts) and inserts[pending][0] == event:
            entries.append(inserts[pending][2])
            pending += 1
        if event in dirty:
            entries.append((row_names[event], *row_stats[event]))
            start = event + 1
        else:
            start = event
    return entries


def _gaps(cache: ArchiveCache) -> list[int]:
    """The rows whose record does not follow the previous row's in the cached archive
    (a link or an added entry sits between them): a copy cannot run across them. The
    index keeps them (see :class:`~.table.Table`); :func:`gaps_of` says what they are."""
    return cache.columns.gaps.tolist()


def gaps_of(offsets: Sequence[int], lengths: Sequence[int]) -> list[int]:
    """The rows whose record does not start where the previous row's ends."""
    ends = array("Q", map(add, offsets, lengths))
    steps = map(ne, islice(offsets, 1, None), ends)
    return list(compress(range(1, len(offsets)), steps))


def _without(items: Sequence[_T], positions: list[int]) -> list[_T]:
    """``items`` but those at ``positions`` (ascending)."""
    kept: list[_T] = []
    start = 0
    for at in positions:
        kept += items[start:at]
        start = at + 1
    kept += items[start:]
    return kept


def entries_one_by_one(
    files: Sequence[SelectedFile],
    stats: Mapping[str, FileStat],
    extra: Mapping[str, bytes],
    cache: ArchiveCache | None,
    root: bytes,
    opener: Opener,
) -> Iterator[Entry]:
    """The entries to write, in order, decided one by one (files added or removed since
    the cached build, no cache, or files not in byte order): runs of cached records to
    copy, the others to compress."""
    extras = list(extra.items())
    order = [(name, i) for i, name in enumerate(encoded_names(files))]
    order += [(os.fsencode(path), -1 - i) for i, (path, _) in enumerate(extras)]
    order.sort()
    reuse = reusable(order, files, stats, root, cache, opener)
    columns = cache.columns if cache is not None else Columns.empty()
    offsets, lengths = columns.offsets, columns.lengths
    run: CopyRun | None = None
    previous = None
    for p, (name, index) in enumerate(order):
        if name == previous:
            raise ValueError(f"two archive entries named {os.fsdecode(name)}")
        previous = name
        r = reuse[p]
        if r >= 0:
            if run is not None and r == run.stop and offsets[r] == offsets[r - 1] + lengths[r - 1]:
                run.stop += 1  # the next record in the cached archive too: one copy
                continue
            if run is not None:
                yield run
            run = CopyRun(r)
            continue
        if run is not None:
            yield run
            run = None
        if index < 0:
            yield (name, 0o100644, bytes(extras[-1 - index][1]), False)
        else:  # a selected file or link, unless the cache has its record
            yield file_item(name, files[index], stats)
    if run is not None:
        yield run
