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
import marshal
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from client.packaging.zipformat import EntryInfo

log = logging.getLogger(__name__)

FORMAT = 1
ARCHIVE = "archive.zip"
INDEX = "index.bin"
RACY_NS = 2_000_000_000
CHUNK = 1 << 20

Key = tuple[int, int, int, int]  # size, mtime_ns, st_mode, compression policy


@dataclass(frozen=True)
class Record:
    """Where an entry's local record sits in the cached archive, and what it says."""

    key: Key
    offset: int
    length: int
    info: EntryInfo


class ArchiveCache:
    """Reads the previous build's records; remembers this build's for the next one."""

    def __init__(self, cache_dir: Path, policy: int) -> None:
        self.dir = Path(cache_dir)
        self.policy = policy
        self._records: dict[bytes, Record] = {}
        self._fd: int | None = None
        self._load()

    def _load(self) -> None:
        try:
            with open(self.dir / INDEX, "rb") as handle:
                version, identity, rows = marshal.load(handle)
            if version != FORMAT:
                return
            fd = os.open(self.dir / ARCHIVE, os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, ValueError, EOFError, TypeError):
            return
        st = os.fstat(fd)
        if (st.st_size, st.st_mtime_ns, st.st_ino) != tuple(identity):
            os.close(fd)  # the cached archive is not the one the index describes
            return
        self._fd = fd
        for (
            name,
            size,
            mtime_ns,
            mode,
            policy,
            offset,
            length,
            method,
            crc,
            csize,
            usize,
            zmode,
        ) in rows:
            info = EntryInfo(name, method, crc, csize, usize, zmode)
            self._records[name] = Record((size, mtime_ns, mode, policy), offset, length, info)

    def lookup(self, name: bytes, key: Key) -> Record | None:
        record = self._records.get(name)
        return record if record is not None and record.key == key else None

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
            rows = [
                (
                    name,
                    *r.key,
                    r.offset,
                    r.length,
                    r.info.method,
                    r.info.crc,
                    r.info.compressed_size,
                    r.info.size,
                    r.info.mode,
                )
                for name, r in records
                if r.key[1] < started_ns - RACY_NS
            ]
            tmp_index = self.dir / f".{INDEX}.{os.getpid()}.tmp"
            with open(tmp_index, "wb") as handle:
                marshal.dump((FORMAT, (st.st_size, st.st_mtime_ns, st.st_ino), rows), handle)
            os.replace(tmp_archive, self.dir / ARCHIVE)
            os.replace(tmp_index, self.dir / INDEX)
        except OSError as exc:
            log.debug("could not update the package cache in %s: %s", self.dir, exc)
