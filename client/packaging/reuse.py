"""Which cached records a re-package may copy: one decision per archive entry.

When the files to write are the cached index's, in the same order (the common
case: files edited, none added or removed), their stat keys are packed into one
block and compared with the index's in one go (:func:`~.table.differing`); only
the rows that differ, and the racily clean ones (read again and compared by
digest, git's rule), are looked at one by one. Otherwise each file is looked up
by name and compared alone.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from itertools import chain

from cbdeploy.client.packaging.cache import ArchiveCache
from cbdeploy.client.packaging.model import FileStat, SelectedFile
from cbdeploy.client.packaging.reader import Opener, content_digest
from cbdeploy.client.packaging.table import KEY_FORMAT, KEY_SIZE, NO_DIGEST, differing


def reusable(
    order: Sequence[tuple[bytes, int]],
    files: Sequence[SelectedFile],
    stats: Mapping[str, FileStat],
    root: bytes,
    cache: ArchiveCache | None,
    opener: Opener,
) -> list[int]:
    """Per entry of ``order`` (name, index into ``files``; negative: an added entry),
    the cached row to copy, or -1 to write it anew."""
    result = [-1] * len(order)
    if cache is None or not cache.columns.names:
        return result
    columns = cache.columns
    positions: list[int] = []
    names: list[bytes] = []
    row_stats: list[FileStat] = []
    for p, (name, index) in enumerate(order):
        if index >= 0:
            selected = files[index]
            if selected.link_target is None:
                positions.append(p)
                names.append(name)
                row_stats.append(stats[selected.path])
    keys = pack_keys(row_stats)

    def verified(row: int, new: int) -> bool:
        """A racily clean row: the content read again must have the recorded digest."""
        digest = columns.digest(row)
        st = stats[files[order[positions[new]][1]].path]
        return digest != NO_DIGEST and content_digest(root + names[new], st, opener) == digest

    if names == columns.names:
        dirty = set(differing(keys, columns.keys, len(names)))
        dirty.update(r for r in columns.racy if r not in dirty and not verified(r, r))
        for r, p in enumerate(positions):
            result[p] = r
        for r in dirty:
            result[positions[r]] = -1
        return result
    racy = set(columns.racy)
    for new, p in enumerate(positions):
        r = cache.position(names[new])
        key = keys[new * KEY_SIZE : (new + 1) * KEY_SIZE]
        if r < 0 or columns.keys[r * KEY_SIZE : (r + 1) * KEY_SIZE] != key:
            continue
        if r not in racy or verified(r, new):
            result[p] = r
    return result


def changed_rows(
    names: list[bytes], row_stats: list[FileStat], root: bytes, cache: ArchiveCache,
    opener: Opener,
) -> set[int] | None:
    """The rows not to copy, when the files from disk (``names``, their stats) are the
    cached index's rows in the same order; None when they are not: the rows whose key
    changed, and the racily clean ones whose content, read again, lost their digest."""
    columns = cache.columns
    if names != columns.names:
        return None
    dirty = set(differing(pack_keys(row_stats), columns.keys, len(names)))
    for r in columns.racy:
        if r not in dirty:
            digest = columns.digest(r)
            if digest == NO_DIGEST or content_digest(root + names[r], row_stats[r], opener) != digest:
                dirty.add(r)
    return dirty


def pack_keys(row_stats: Sequence[FileStat]) -> bytes:
    """The keys of ``row_stats`` as one block: ``b"".join(map(pack_key, row_stats))``,
    packed by one struct call."""
    return struct.pack("<" + KEY_FORMAT * len(row_stats), *chain.from_iterable(row_stats))
