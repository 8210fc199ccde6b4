"""The re-package cache's index, by column: what it holds, reading it, building the next.

One row per file from disk written to the archive (not links, not added entries),
in archive order. Each column is one block of bytes or one ``array``: the stat
keys of all rows (``_KEY`` each), the records' offsets and lengths, their
header fields, content digests and the positions of their central directory
records, the racily clean rows, the gaps (rows whose record does not follow the
previous row's: a link or an added entry sits between), then the names. A
re-package compares the keys block with the current stats in one go
(:func:`differing`), and copies the rows of a run of unchanged records as
slices, only the offsets moved (:meth:`Table.extend`). The table keeps its gaps
and whether its names are in strictly increasing order as rows come, so a
re-package reads both instead of working them out per row.
"""

from __future__ import annotations

import struct
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import repeat
from mmap import mmap
from operator import add
from typing import Final

from cbdeploy.client.packaging.deflater import LEVEL, STORED_SUFFIXES
from cbdeploy.client.packaging.reader import DIGEST_SIZE, LIBDEFLATE, WHOLE

RACY_NS = 2_000_000_000
LIMIT_32 = 0xFFFFFFFF
# Anything that changes the bytes of a record for the same file changes the magic.
_SETTINGS = (
    f"{LEVEL}:{zlib.ZLIB_RUNTIME_VERSION}:{LIBDEFLATE}:{WHOLE}:{','.join(sorted(STORED_SUFFIXES))}"
)
MAGIC = b"CBDC5" + struct.pack("<I", zlib.crc32(_SETTINGS.encode()))
# identity of the cached archive (size, mtime_ns, inode), when the index was written
# (the build's start), row count, racy row count, gap count, names blob length, central
# directory offset and size, flags, the archive's SHA-256
_HEADER = struct.Struct("<QqQqQQQQQQQ32s")
KEY_SIZE: Final = 48
KEY_FORMAT = "QqqQQQ"  # FileStat: size, mtime_ns, ctime_ns, ino, dev, st_mode
_KEY = struct.Struct("<" + KEY_FORMAT)
_INFO = struct.Struct("<QQQQ")  # method, crc, csize, zip mode (usize has its own column)
FLAG_SIMPLE = 1  # no ZIP64 record: central records may be copied with their offset patched
FLAG_CENTRAL = 2  # the central directory positions are known
FLAG_SORTED = 4  # the names are in strictly increasing byte order (as an archive's are)

Row = tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, bytes]
# row[:KEY] is the FileStat; row[OFFSET], row[LENGTH] locate the record
KEY: Final = 6
OFFSET: Final = 6
LENGTH: Final = 7
METHOD: Final = 8  # row[METHOD:DIGEST]: method, crc, csize, usize, zip mode
USIZE: Final = 11
DIGEST: Final = 13
NO_DIGEST = bytes(DIGEST_SIZE)
CENTRAL_FIXED = 46  # a central record's size before its name
CENTRAL_OFFSET_AT = 42  # where its 4-byte local header offset sits


def is_racy(mtime_ns: int, ctime_ns: int, written_ns: int) -> bool:
    """Whether a file with these times may have changed unseen after ``written_ns``:
    its mtime or ctime is within :data:`RACY_NS` of it, or later."""
    return max(mtime_ns, ctime_ns) >= written_ns - RACY_NS


def pack_key(key: Sequence[int]) -> bytes:
    return _KEY.pack(*key)


def differing(a: bytes, b: bytes, count: int) -> list[int]:
    """Indices of the ``KEY_SIZE``-byte records in which ``a`` and ``b`` differ: equal
    halves are skipped whole (a handful of changed files costs a few dozen compares)."""
    found: list[int] = []
    pending = [(0, count)]
    while pending:
        lo, hi = pending.pop()
        if a[lo * KEY_SIZE : hi * KEY_SIZE] == b[lo * KEY_SIZE : hi * KEY_SIZE]:
            continue
        if hi - lo == 1:
            found.append(lo)
            continue
        mid = (lo + hi) // 2
        pending += [(mid, hi), (lo, mid)]
    return found


class Columns:
    """A loaded index (read only)."""

    __slots__ = ("names", "names_blob", "keys", "offsets", "lengths", "usizes", "info",
                 "digests", "central", "racy", "gaps", "written_ns", "cd_offset", "cd_size",
                 "flags", "sha256")

    def __init__(self, names: list[bytes], keys: bytes, info: bytes, digests: bytes) -> None:
        self.names = names
        self.names_blob = b"\0".join(names)  # (the names as the index holds them)
        self.keys = keys
        self.info = info
        self.digests = digests
        self.offsets = array("Q")
        self.lengths = array("Q")
        self.usizes = array("Q")
        self.central = array("Q")  # where each row's central record sits in the directory
        self.racy: list[int] = []  # rows racily clean when the index was written
        self.gaps = array("Q")  # rows whose record does not follow the previous row's
        self.written_ns = self.cd_offset = self.cd_size = self.flags = 0
        self.sha256 = b""

    @classmethod
    def empty(cls) -> Columns:
        return cls([], b"", b"", b"")

    def row(self, i: int) -> Row:
        method, crc, csize, mode = _INFO.unpack_from(self.info, i * _INFO.size)
        return (*_KEY.unpack_from(self.keys, i * KEY_SIZE), self.offsets[i], self.lengths[i],
                method, crc, csize, self.usizes[i], mode,
                self.digests[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE])

    def digest(self, i: int) -> bytes:
        return self.digests[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE]

    def times(self, i: int) -> tuple[int, int]:
        """Row ``i``'s mtime and ctime."""
        _, mtime, ctime, *_ = _KEY.unpack_from(self.keys, i * KEY_SIZE)
        return mtime, ctime


def load_columns(data: bytes | mmap) -> tuple[Columns | None, tuple[int, int, int]]:
    """The index in ``data`` and the identity of the archive it describes (None: not an
    index of this version and these settings)."""
    if data[: len(MAGIC)] != MAGIC:
        return None, (0, 0, 0)
    (size, mtime_ns, ino, written_ns, count, racy_count, gap_count, names_len, cd_offset,
     cd_size, flags, sha) = _HEADER.unpack_from(data, len(MAGIC))
    at = len(MAGIC) + _HEADER.size
    spans = [count * KEY_SIZE, count * _INFO.size, count * DIGEST_SIZE] + [count * 8] * 4
    parts = []
    for span in spans:
        parts.append(data[at : at + span])
        at += span
    racy = array("Q", data[at : at + racy_count * 8])
    at += racy_count * 8
    gaps = array("Q", data[at : at + gap_count * 8])
    at += gap_count * 8
    blob = data[at : at + names_len]
    names = blob.split(b"\0") if count else []
    if len(names) != count or any(len(p) != s for p, s in zip(parts, spans, strict=True)):
        raise ValueError("index truncated")
    if len(racy) != racy_count or len(gaps) != gap_count:
        raise ValueError("index truncated")
    columns = Columns([], parts[0], parts[1], parts[2])
    columns.names, columns.names_blob, columns.gaps = names, blob, gaps
    for column, part in zip((columns.offsets, columns.lengths, columns.usizes, columns.central),
                            parts[3:], strict=True):
        column.frombytes(part)
    columns.racy = racy.tolist()
    columns.written_ns, columns.cd_offset, columns.cd_size = written_ns, cd_offset, cd_size
    columns.flags, columns.sha256 = flags, sha
    return columns, (size, mtime_ns, ino)


class Table:
    """This build's index as it is written: rows one by one (:meth:`add`), runs of
    rows copied from the cached index (:meth:`extend`)."""

    def __init__(self, started_ns: int) -> None:
        self.started_ns = started_ns
        self.names: list[bytes] = []
        self.keys: list[bytes] = []
        self.info: list[bytes] = []
        self.digests: list[bytes] = []
        self.offsets = array("Q")
        self.lengths = array("Q")
        self.usizes = array("Q")
        self.central = array("Q")
        self.racy: list[int] = []
        self.gaps = array("Q")
        self._end = 0  # where the last row's record ends
        self.flags = FLAG_SIMPLE | FLAG_CENTRAL | FLAG_SORTED
        self.cd_offset = self.cd_size = 0
        self.sha256 = b""

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[bytes, Row]], started_ns: int) -> Table:
        """A table of rows alone, their central records' positions unknown."""
        table = cls(started_ns)
        for name, row in rows:
            table.add(name, row, 0)
        table.flags &= ~FLAG_CENTRAL
        return table

    def add(self, name: bytes, row: Row, central_at: int) -> None:
        """One row; a racily clean one without a digest is left out."""
        racy = is_racy(row[1], row[2], self.started_ns)
        if racy and row[DIGEST] == NO_DIGEST:
            return
        if racy:
            self.racy.append(len(self.names))
        if self.names:
            self._follow(name, row[OFFSET])
        self._end = row[OFFSET] + row[LENGTH]
        self.names.append(name)
        self.keys.append(_KEY.pack(*row[:KEY]))
        self.offsets.append(row[OFFSET])
        self.lengths.append(row[LENGTH])
        method, crc, csize, usize, mode = row[METHOD:DIGEST]
        self.info.append(_INFO.pack(method, crc, csize, mode))
        self.usizes.append(usize)
        self.digests.append(row[DIGEST])
        self.central.append(central_at)
        if max(usize, csize, row[OFFSET] + row[LENGTH]) >= LIMIT_32:
            self.flags &= ~FLAG_SIMPLE

    def extend(self, old: Columns, first: int, stop: int, shift: int, central_shift: int) -> None:
        """Rows ``first`` to ``stop`` of the cached index, their records ``shift`` bytes
        further in the archive and their central records ``central_shift`` further."""
        if stop <= first:
            return
        base = len(self.names)
        if base:
            self._follow(old.names[first], old.offsets[first] + shift)
        inside = old.gaps[bisect_right(old.gaps, first) : bisect_left(old.gaps, stop)]
        self.gaps.extend(base + g - first for g in inside)  # (none: runs stop at gaps)
        self._end = old.offsets[stop - 1] + old.lengths[stop - 1] + shift
        self.names += old.names[first:stop]
        self.keys.append(old.keys[first * KEY_SIZE : stop * KEY_SIZE])
        self.info.append(old.info[first * _INFO.size : stop * _INFO.size])
        self.digests.append(old.digests[first * DIGEST_SIZE : stop * DIGEST_SIZE])
        self.lengths += old.lengths[first:stop]
        self.usizes += old.usizes[first:stop]
        offsets, central = old.offsets[first:stop], old.central[first:stop]
        self.offsets += array("Q", map(add, offsets, repeat(shift))) if shift else offsets
        self.central += (
            array("Q", map(add, central, repeat(central_shift))) if central_shift else central
        )
        self.flags &= old.flags
        if old.flags & FLAG_SIMPLE and self.offsets[-1] + self.lengths[-1] >= LIMIT_32:
            self.flags &= ~FLAG_SIMPLE
        for r in old.racy:  # racily clean then: maybe still now
            if first <= r < stop and is_racy(*old.times(r), self.started_ns):
                self.racy.append(base + r - first)

    def _follow(self, name: bytes, offset: int) -> None:
        """Note what a row after the last one breaks: a gap before its record, the order."""
        if offset != self._end:
            self.gaps.append(len(self.names))
        if name <= self.names[-1]:
            self.flags &= ~FLAG_SORTED

    def unchanged_from(self, old: Columns) -> bool:
        """Whether this index would say what ``old`` says (the archive's bytes, every key,
        every digest): then there is nothing to write."""
        return (
            not self.racy
            and not old.racy
            and self.sha256 == old.sha256
            and self.flags == old.flags
            and self.gaps == old.gaps
            and self.names == old.names
            and b"".join(self.keys) == old.keys
            and b"".join(self.digests) == old.digests
        )

    def serialise(self, identity: tuple[int, int, int]) -> bytes:
        return b"".join(self.pieces(identity))

    def pieces(self, identity: tuple[int, int, int]) -> list[bytes | array[int]]:
        """The index's bytes in pieces, to be written in order (:meth:`serialise` joined):
        a re-package's few large pieces are written as they are, without a copy of them
        all in new memory; a column of many small ones (a cold build's) is joined."""
        names = b"\0".join(self.names)
        header = _HEADER.pack(
            *identity, self.started_ns, len(self.names), len(self.racy), len(self.gaps),
            len(names), self.cd_offset, self.cd_size, self.flags, self.sha256,
        )
        return [
            MAGIC, header, *_few(self.keys), *_few(self.info), *_few(self.digests),
            self.offsets, self.lengths, self.usizes, self.central, array("Q", self.racy),
            self.gaps, names,
        ]


def _few(parts: list[bytes]) -> list[bytes]:
    return parts if len(parts) <= 64 else [b"".join(parts)]
