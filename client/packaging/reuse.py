"""Which cached records a re-package may copy: one decision per archive entry.

When the files to write are the cached index's, in the same order (the common
case: files edited, none added or removed), their stat keys are packed into one
block and compared with the index's in one go (:func:`~.table.differing`); only
the rows that differ, and the racily clean ones (read again and compared by
digest, git's rule), are looked at one by one. Otherwise each file is looked up
by name and compared alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cbdeploy.client.packaging.cache import ArchiveCache
from cbdeploy.client.packaging.model import FileStat, SelectedFile
from cbdeploy.client.packaging.reader import Opener, content_digest
from cbdeploy.client.packaging.table import KEY_SIZE, NO_DIGEST, differing, pack_key


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
    keys: list[bytes] = []
    for p, (name, index) in enumerate(order):
        if index >= 0:
            selected = files[index]
            if selected.link_target is None:
                positions.append(p)
                names.append(name)
                keys.append(pack_key(stats[selected.path]))

    def verified(row: int, new: int) -> bool:
        """A racily clean row: the content read again must have the recorded digest."""
        digest = columns.digest(row)
        st = stats[files[order[positions[new]][1]].path]
        return digest != NO_DIGEST and content_digest(root + names[new], st, opener) == digest

    if names == columns.names:
        dirty = set(differing(b"".join(keys), columns.keys, len(names)))
        dirty.update(r for r in columns.racy if r not in dirty and not verified(r, r))
        for r, p in enumerate(positions):
            result[p] = r
        for r in dirty:
            result[positions[r]] = -1
        return result
    racy = set(columns.racy)
    for new, p in enumerate(positions):
        r = cache.position(names[new])
        if r < 0 or columns.keys[r * KEY_SIZE : (r + 1) * KEY_SIZE] != keys[new]:
            continue
        if r not in racy or verified(r, new):
            result[p] = r
    return result
