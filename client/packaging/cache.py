"""The re-package cache: the previous archive plus an index of its entries' byte ranges.

A local record (header + compressed data) does not depend on where it sits in
the archive, so an unchanged file's record can be copied byte for byte from
the previous archive, and runs of unchanged files in a row are one copy. The
result is identical to a cold build. An entry is reused only when the
compression settings (level, stored formats, libdeflate and zlib versions) are those the index
was written with and the file's stat matches the one recorded, keyed as git's
index keys it: size, mtime and ctime in nanoseconds, inode, device and mode.
Restoring an mtime (``touch -d``, ``cp -p``, ``rsync -t``, a checkout) cannot
restore the ctime, which every write moves.

A timestamp is only as fine as the file system's clock tick, so a file changed
again within the tick of its recorded stat could keep that stat. Git's rule for
such "racily clean" entries applies: an entry whose mtime or ctime is not
clearly older than the moment the index was written (``written_ns`` less
:data:`RACY_NS`, a margin for coarse clocks and small clock steps) is reused
only after its content, read again, matches the digest recorded for it.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from cbdeploy.client.packaging.reader import DIGEST_SIZE, LEVEL, LIBDEFLATE, STORED_SUFFIXES, WHOLE

ARCHIVE = "archive.zip"
_OLD = ".old"  # suffix of replaced archives waiting to be deleted
INDEX = "index.bin"
RACY_NS = 2_000_000_000
CHUNK = 4 << 20  # two buffers of this size
# Anything that changes the bytes of a record for the same file changes the magic.
_SETTINGS = (
    f"{LEVEL}:{zlib.ZLIB_RUNTIME_VERSION}:{LIBDEFLATE}:{WHOLE}:{','.join(sorted(STORED_SUFFIXES))}"
)
MAGIC = b"CBDC3" + struct.pack("<I", zlib.crc32(_SETTINGS.encode()))
# identity of the cached archive (size, mtime_ns, inode), when the index was written
# (the build's start), row count, names blob length
_HEADER = struct.Struct("<QqQqQQ")
# FileStat (size, mtime_ns, ctime_ns, ino, dev, st_mode) | offset, length
# | method, crc, csize, usize, zip mode | content digest (zeros: none)
_ROW = struct.Struct(f"<QqqQQQQQQQQQQ{DIGEST_SIZE}s")

Row = tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, bytes]
# row[:KEY] is the FileStat; row[OFFSET], row[LENGTH] locate the record
KEY: Final = 6
OFFSET: Final = 6
LENGTH: Final = 7
METHOD: Final = 8  # row[METHOD:DIGEST]: method, crc, csize, usize, zip mode
USIZE: Final = 11
DIGEST: Final = 13
NO_DIGEST = bytes(DIGEST_SIZE)


def is_racy(mtime_ns: int, ctime_ns: int, written_ns: int) -> bool:
    """Whether a file with these times may have changed unseen after ``written_ns``:
    its mtime or ctime is within :data:`RACY_NS` of it, or later."""
    return max(mtime_ns, ctime_ns) >= written_ns - RACY_NS


class ArchiveCache:
    """The previous build's records (``rows``: name -> :data:`Row`), and saving this build's."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(cache_dir)
        self.rows: dict[bytes, Row] = {}
        self.written_ns = 0  # when the index was written (the start of its build)
        self._fd: int | None = None
        self._size = 0
        self._buffers: list[memoryview] = []
        self._turn = 0
        self._load()

    def _load(self) -> None:
        try:
            data = (self.dir / INDEX).read_bytes()
            if not data.startswith(MAGIC):
                return
            size, mtime_ns, ino, written_ns, count, names_len = _HEADER.unpack_from(
                data, len(MAGIC)
            )
            rows_at = len(MAGIC) + _HEADER.size
            names_at = rows_at + count * _ROW.size
            names = data[names_at : names_at + names_len].split(b"\0") if count else []
            if len(names) != count:
                return
            with open(self.dir / ARCHIVE, "rb") as handle:
                st = os.fstat(handle.fileno())
                if (st.st_size, st.st_mtime_ns, st.st_ino) != (size, mtime_ns, ino) or not size:
                    return  # the cached archive is not the one the index describes
                self._fd = os.dup(handle.fileno())
                self._size = size
        except (OSError, ValueError, struct.error):
            return
        rows: Iterator[Row] = _ROW.iter_unpack(data[rows_at:names_at])
        self.rows = dict(zip(names, rows, strict=True))
        self.written_ns = written_ns

    @property
    def size(self) -> int:
        """The cached archive's size in bytes (0: no usable cache)."""
        return self._size if self._fd is not None else 0

    def read(self, offset: int, length: int) -> Iterator[memoryview]:
        """The bytes of the cached archive in ``[offset, offset + length)``, in chunks.

        Chunks are views of two buffers used in turn, across calls too (memory stays
        bounded whatever the archive's size): a chunk stays valid while the next one
        is read, and until the one after is asked for. The writer hashes a chunk on
        another thread while this reads the next.
        """
        assert self._fd is not None
        end = offset + length
        if end > self._size:
            raise OSError(f"cached archive in {self.dir} is truncated")
        if not self._buffers:  # allocated once per build: allocating is not free
            size = min(CHUNK, self._size)
            self._buffers = [memoryview(bytearray(size)), memoryview(bytearray(size))]
        while offset < end:
            view = self._buffers[self._turn]
            self._turn ^= 1
            got = os.preadv(self._fd, [view[: min(CHUNK, end - offset)]], offset)
            if got <= 0:
                raise OSError(f"cached archive in {self.dir} is truncated")
            yield view[:got]
            offset += got

    def close(self) -> None:
        self._buffers = []
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def needs_check(self, row: Row) -> bool:
        """Whether ``row`` is racily clean: reuse it only if the content matches
        ``row[DIGEST]`` (a row without a digest is not reused)."""
        return is_racy(row[1], row[2], self.written_ns)

    def save(self, archive: Path, rows: list[tuple[bytes, Row]], started_ns: int) -> None:
        """Keep ``archive`` and the index of its rows (best effort: a cache never fails a
        build). ``started_ns``: when this build started, before it read any file; a
        racily clean row (see :func:`is_racy`) without a digest is left out."""
        unique = f"{os.getpid()}.{os.urandom(4).hex()}"  # concurrent builds never collide
        tmp_archive = self.dir / f".{ARCHIVE}.{unique}.tmp"
        tmp_index = self.dir / f".{INDEX}.{unique}.tmp"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            try:
                os.link(archive, tmp_archive)  # a new build replaces the output, never edits it
            except OSError:
                import shutil

                shutil.copyfile(archive, tmp_archive)
            st = os.stat(tmp_archive)
            kept = [
                (name, row)
                for name, row in rows
                if row[DIGEST] != NO_DIGEST or not is_racy(row[1], row[2], started_ns)
            ]
            packed = b"".join([_ROW.pack(*row) for _, row in kept])
            names = b"\0".join([name for name, _ in kept])
            header = _HEADER.pack(
                st.st_size, st.st_mtime_ns, st.st_ino, started_ns, len(kept), len(names)
            )
            tmp_index.write_bytes(MAGIC + header + packed + names)
            # Renaming over the old archive costs ~15 ms for 20 MB on ext4 (it flushes the
            # new file and frees the old one in the rename); moving the old one aside
            # first is cheap, and it is deleted on a background thread.
            old = self.dir / f".{ARCHIVE}.{unique}{_OLD}"
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.dir / ARCHIVE, old)
            os.replace(tmp_archive, self.dir / ARCHIVE)
            os.replace(tmp_index, self.dir / INDEX)
            _delete_old_archives(self.dir)
        except OSError as exc:
            import logging

            logging.getLogger(__name__).debug("package cache in %s not updated: %s", self.dir, exc)
            for leftover in (tmp_archive, tmp_index):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)


def _delete_old_archives(cache_dir: Path) -> None:
    """Delete replaced archives (this build's, and any a killed build left) on a thread:
    freeing a large file's blocks need not hold up the caller (an upload follows).
    Not a daemon: the interpreter waits for it at exit, so nothing is left behind."""
    import threading

    def delete() -> None:
        with contextlib.suppress(OSError):
            for name in os.listdir(cache_dir):
                if name.startswith(f".{ARCHIVE}.") and name.endswith(_OLD):
                    with contextlib.suppress(OSError):
                        os.unlink(cache_dir / name)

    threading.Thread(target=delete, name="cbdeploy-cache-cleanup").start()
