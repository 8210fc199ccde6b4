"""The re-package cache: the previous archive plus an index of its entries' byte ranges.

A local record (header + compressed data) does not depend on where it sits in
the archive, so an unchanged file's record can be copied byte for byte from
the previous archive, and runs of unchanged files in a row are one copy. The
result is identical to a cold build. An entry is reused only when its path,
size, mtime (ns), mode and compression policy match, and a file modified in
the last seconds before the build is never indexed (its mtime could hide a
later change within the same clock tick: git's "racy" problem).
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from client.packaging.zipformat import EntryInfo

log = logging.getLogger(__name__)

MAGIC = b"CBDC\x00\x01"  # format 1
ARCHIVE = "archive.zip"
INDEX = "index.bin"
RACY_NS = 2_000_000_000
CHUNK = 1 << 20
# identity of the cached archive (size, mtime_ns, inode), row count, names blob length
_HEADER = struct.Struct("<QqQQQ")
# size, mtime_ns, st_mode, policy | offset, length | method, crc, csize, usize, zip mode
_ROW = struct.Struct("<QqQQQQQQQQQ")

Key = tuple[int, int, int, int]  # size, mtime_ns, st_mode, compression policy


class Record(NamedTuple):
    """Where an entry's local record sits in an archive, and what its headers say."""

    key: Key
    offset: int
    length: int
    info: EntryInfo


class ArchiveCache:
    """Reads the previous build's records; remembers this build's for the next one."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(cache_dir)
        self._rows: dict[bytes, tuple[int, ...]] = {}
        self._fd: int | None = None
        self._load()

    def _load(self) -> None:
        try:
            data = (self.dir / INDEX).read_bytes()
            if not data.startswith(MAGIC):
                return
            size, mtime_ns, ino, count, names_len = _HEADER.unpack_from(data, len(MAGIC))
            rows_at = len(MAGIC) + _HEADER.size
            names_at = rows_at + count * _ROW.size
            names = data[names_at : names_at + names_len].split(b"\0") if count else []
            if len(names) != count:
                return
            fd = os.open(self.dir / ARCHIVE, os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, struct.error):
            return
        st = os.fstat(fd)
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (size, mtime_ns, ino):
            os.close(fd)  # the cached archive is not the one the index describes
            return
        self._fd = fd
        self._rows = dict(zip(names, _ROW.iter_unpack(data[rows_at:names_at]), strict=True))

    def lookup(self, name: bytes, key: Key) -> Record | None:
        row = self._rows.get(name)
        if row is None or row[:4] != key:
            return None
        return Record(key, row[4], row[5], EntryInfo(name, *row[6:]))

    def read(self, offset: int, length: int) -> Iterator[bytes]:
        assert self._fd is not None
        end = offset + length
        while offset < end:
            chunk = os.pread(self._fd, min(CHUNK, end - offset), offset)
            if not chunk:
                raise OSError(f"cached archive in {self.dir} is truncated")
            offset += len(chunk)
            yield chunk

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def save(self, archive: Path, records: list[tuple[bytes, Record]], started_ns: int) -> None:
        """Keep ``archive`` and the index of its records (best effort: a cache never fails a build)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp_archive = self.dir / f".{ARCHIVE}.{os.getpid()}.tmp"
            tmp_archive.unlink(missing_ok=True)
            try:
                os.link(archive, tmp_archive)  # a new build replaces the output, never edits it
            except OSError:
                shutil.copyfile(archive, tmp_archive)
            st = os.stat(tmp_archive)
            kept = [(name, r) for name, r in records if r.key[1] < started_ns - RACY_NS]
            rows = b"".join(_ROW.pack(*r.key, r.offset, r.length, *r.info[1:]) for _, r in kept)
            names = b"\0".join(name for name, _ in kept)
            header = _HEADER.pack(st.st_size, st.st_mtime_ns, st.st_ino, len(kept), len(names))
            tmp_index = self.dir / f".{INDEX}.{os.getpid()}.tmp"
            tmp_index.write_bytes(MAGIC + header + rows + names)
            os.replace(tmp_archive, self.dir / ARCHIVE)
            os.replace(tmp_index, self.dir / INDEX)
        except OSError as exc:
            log.debug("could not update the package cache in %s: %s", self.dir, exc)
