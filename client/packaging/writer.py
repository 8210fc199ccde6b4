"""The archive being written: a buffered file, its SHA-256 as it grows, the central
directory and the cache's next index; and runs of records copied from the previous
archive."""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections import deque
from functools import partial
from itertools import repeat
from operator import add

from cbdeploy.client.packaging.cache import ArchiveCache
from cbdeploy.client.packaging.table import (
    CENTRAL_FIXED,
    CENTRAL_OFFSET_AT,
    FLAG_CENTRAL,
    FLAG_SIMPLE,
    LIMIT_32,
    Table,
)
from cbdeploy.client.packaging.zipformat import central_record

RESERVE_SLACK = 1 << 20  # room for the edited files to grow, over the cached archive's size
_OFFSET_FIELD = struct.Struct("<I")


class CopyRun:
    """Rows ``first`` to ``stop`` of the cached index: consecutive unchanged records,
    one block of the cached archive."""

    __slots__ = ("first", "stop")

    def __init__(self, first: int) -> None:
        self.first = first
        self.stop = first + 1


class Output:
    """The archive being written: offset, SHA-256, central directory and the next index."""

    def __init__(self, fd: int, started_ns: int = 0) -> None:
        self.handle = open(fd, "wb", buffering=1 << 20)  # noqa: SIM115 - closed by build()
        self.offset = 0
        self.digest = hashlib.sha256()
        self.central: list[bytes | bytearray | memoryview] = []
        self.central_size = 0
        self.entries = 0
        self.table = Table(started_ns)
        self._hashing: threading.Thread | None = None

    def add_central(self, record: bytes | bytearray | memoryview, entries: int = 1) -> None:
        self.central.append(record)
        self.central_size += len(record)
        self.entries += entries

    def write(self, data: bytes | memoryview) -> None:
        self._settle()
        self.handle.write(data)
        self.digest.update(data)
        self.offset += len(data)

    def write_overlapped(self, data: memoryview) -> None:
        """Write a large block while another thread hashes it (both release the GIL).

        The hashing goes on after this returns, so the caller can go on meanwhile:
        ``data`` must stay unchanged until the next write. Every write, and
        :meth:`sha256`, waits for it first, so the digest still sees the bytes in order.
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
    """Copy a run of unchanged records; only their offsets in the central directory move.

    The run's central records are one slice of the cached archive's central directory,
    its offset fields patched, when no record in it needs ZIP64 fields; else they are
    made again from the index's columns."""
    old, first, stop = cache.columns, run.first, run.stop
    start = old.offsets[first]
    end = old.offsets[stop - 1] + old.lengths[stop - 1]
    shift = out.offset - start
    central_at = out.central_size
    if old.flags & FLAG_SIMPLE and old.flags & FLAG_CENTRAL and out.offset + end - start < LIMIT_32:
        lo = old.central[first]
        hi = old.central[stop - 1] + CENTRAL_FIXED + len(old.names[stop - 1])
        block: memoryview | bytearray = cache.central()[lo:hi]  # (a view: nothing copied)
        if shift:  # one copy, each record's offset field moved (in C: no Python step each)
            block = bytearray(block)
            fields = map(add, old.central[first:stop], repeat(CENTRAL_OFFSET_AT - lo))
            moved = map(add, old.offsets[first:stop], repeat(shift))
            deque(map(partial(_OFFSET_FIELD.pack_into, block), fields, moved), maxlen=0)
        out.add_central(block, stop - first)
        out.table.extend(old, first, stop, shift, central_at - lo)
    else:
        for i in range(first, stop):
            row = old.row(i)
            out.table.add(old.names[i], (*row[:6], row[6] + shift, *row[7:]), out.central_size)
            out.add_central(central_record(old.names[i], *row[8:13], row[6] + shift))
    for chunk in cache.read(start, end - start):
        out.write_overlapped(chunk)
