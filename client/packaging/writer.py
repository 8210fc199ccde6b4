"""The archive being written: a buffered file, its SHA-256 as it grows, the central
directory and the cache rows; and runs of records copied from the previous archive."""

from __future__ import annotations

import hashlib
import os
import threading

from cbdeploy.client.packaging.cache import DIGEST, LENGTH, METHOD, OFFSET, ArchiveCache, Row
from cbdeploy.client.packaging.zipformat import central_record

RESERVE_SLACK = 1 << 20  # room for the edited files to grow, over the cached archive's size


class CopyRun:
    """Consecutive unchanged records, ``[start, end)`` in the cached archive."""

    __slots__ = ("start", "end", "rows")

    def __init__(self, start: int) -> None:
        self.start = start
        self.end = start
        self.rows: list[tuple[bytes, Row]] = []


class Output:
    """The archive being written: offset, SHA-256, central directory and cache rows."""

    def __init__(self, fd: int) -> None:
        self.handle = open(fd, "wb", buffering=1 << 20)  # noqa: SIM115 - closed by build()
        self.offset = 0
        self.digest = hashlib.sha256()
        self.central: list[bytes] = []
        self.rows: list[tuple[bytes, Row]] = []
        self._hashing: threading.Thread | None = None

    def write(self, data: bytes | memoryview) -> None:
        self._settle()
        self.handle.write(data)
        self.digest.update(data)
        self.offset += len(data)

    def write_overlapped(self, data: memoryview) -> None:
        """Write a large block while another thread hashes it (both release the GIL).

        The hashing goes on after this returns, so the caller can read the next block
        meanwhile: ``data`` must stay unchanged until the next write (the cache reads
        into two buffers in turn). Every write, and :meth:`sha256`, waits for it first,
        so the digest still sees the bytes in order.
        """
        self._settle()
        hasher = threading.Thread(target=self.digest.update, args=(data,))
        hasher.start()
        self._hashing = hasher
        self.handle.write(data)
        self.offset += len(data)

    def sha256(self) -> str:
        self._settle()
        return self.digest.hexdigest()

    def _settle(self) -> None:
        if self._hashing is not None:
            self._hashing.join()
            self._hashing = None


def reserve(fd: int, size: int) -> int:
    """Allocate ``size`` bytes (the previous archive's: a re-package's is about as large)
    before writing. Without it, replacing the old output by renaming flushes the new
    file's delayed allocation there and then (ext4's auto_da_alloc): 5-10 ms for 20 MB.
    Best effort; the bytes the archive does not fill are truncated away."""
    if size <= 0 or not hasattr(os, "posix_fallocate"):
        return 0
    try:
        os.posix_fallocate(fd, 0, size + RESERVE_SLACK)
    except OSError:
        return 0
    return size + RESERVE_SLACK


def copy_run(out: Output, run: CopyRun, cache: ArchiveCache) -> None:
    """Copy a run of unchanged records; only their offsets in the central directory move."""
    shift = out.offset - run.start
    add_central, add_row = out.central.append, out.rows.append
    for name, row in run.rows:
        offset = row[OFFSET] + shift
        if shift:
            row = (*row[:OFFSET], offset, *row[LENGTH:])
        add_central(central_record(name, *row[METHOD:DIGEST], offset))
        add_row((name, row))
    for chunk in cache.read(run.start, run.end - run.start):
        out.write_overlapped(chunk)
