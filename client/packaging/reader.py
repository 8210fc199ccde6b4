"""Reading and compressing one entry, in a worker process or on a thread.

Deflate is libdeflate's, from the ``deflate`` package pinned in pyproject.toml:
libdeflate's output is the same for the same input, level and version on every
machine (portable C, no per-CPU variants of the compressor), where the system
zlib varies (Apple's, zlib-ng as the zlib of some distributions). A file up to
:data:`WHOLE` is read and deflated in one piece; a larger one streams through
the zlib Python was built with (libdeflate has no streaming interface, and
holding such a file in memory twice would not do), the same bytes given the
same zlib version.

A file is read through one descriptor and checked before and after: it must be
a regular file, with the stat seen at selection (size, mtime, ctime, inode,
device, mode), and still so after the last byte. Anything else is a
:class:`PackagingError` naming the file, never a silently inconsistent archive.
An entry asked for it also gets a digest of the bytes read, which lets the
cache verify a "racily clean" file before reusing its record (see :mod:`.cache`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from collections.abc import Callable, Mapping
from typing import IO, NamedTuple

import deflate

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.deflater import LEVEL, wants_store
from cbdeploy.client.packaging.filestat import FileStat, SelectedFile, shown
from cbdeploy.client.packaging.zipformat import DEFLATED, STORED, name_flags

LARGE = 1 << 20  # above this a file is compressed alone (a batch of its own)
WHOLE = 16 << 20  # up to this a file is read whole and deflated by libdeflate
LIBDEFLATE = deflate.__version__  # the binding's version, which pins libdeflate's
LINK_MODE = 0o120777
CHUNK = 1 << 20
SPOOL_IN_MEMORY = 4 << 20
DIGEST_SIZE = 16

Opener = Callable[[bytes], int]
# Told the size of every chunk read (progress); raises to stop the work (cancelled).
Tick = Callable[[int], None]


def _no_tick(size: int) -> None:
    pass


def default_open(path: bytes) -> int:
    # O_NONBLOCK: opening a FIFO must not hang; it is refused as not a regular file.
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)


class Entry(NamedTuple):
    """One archive entry to produce: from a file on disk (``source``) or from ``data``."""

    name: bytes
    mode: int  # normalised st_mode written to the archive
    source: bytes | None = None
    data: bytes | None = None
    stat: FileStat | None = None
    store: bool = False  # never try deflate
    digest: bool = False  # also hash the content read (for the cache's racy check)

    @property
    def size_hint(self) -> int:
        if self.data is not None:
            return len(self.data)
        return self.stat.size if self.stat else 0


class EntryInfo(NamedTuple):
    """What the headers of one entry say (:mod:`.zipformat` writes them); ``name`` is
    the raw path bytes."""

    name: bytes
    method: int
    crc: int
    compressed_size: int
    size: int
    mode: int  # full st_mode: file type and permission bits

    @property
    def flags(self) -> int:
        return name_flags(self.name)


class Produced:
    """An entry ready to write: its headers' values and where its payload is."""

    __slots__ = ("info", "payload", "spool", "copy_source", "stat", "digest")

    def __init__(
        self,
        info: EntryInfo,
        payload: bytes | bytearray | None = None,
        *,
        spool: IO[bytes] | None = None,
        copy_source: bytes | None = None,
    ) -> None:
        self.info = info
        self.payload = payload  # entries up to WHOLE: the bytes to write after the header
        self.spool = spool  # larger deflated entries
        self.copy_source = copy_source  # larger stored entries: copied from the file again
        self.stat: FileStat | None = None  # what the file was when read (None: not from disk)
        self.digest: bytes | None = None  # of the content read, when the entry asked for it


# What a worker is handed for each entry, as plain values (marshal carries them):
# a file from disk is (name, *FileStat), a 7-tuple; an entry whose bytes are known
# (a link's target, an added entry) is (name, zip mode, data, store), a 4-tuple.
Item = tuple[bytes, int, int, int, int, int, int] | tuple[bytes, int, bytes, bool]


def file_item(name: bytes, selected: SelectedFile, stats: Mapping[str, FileStat]) -> Item:
    """The item of a selected file (``name``: its path, encoded), with the stat it was
    selected with; of a link, its target, stored."""
    link = selected.link_target
    if link is None:
        return (name, *stats[selected.path])
    return (name, LINK_MODE, os.fsencode(link), True)


def item_size(item: Item) -> int:
    """The bytes an item's entry holds before compression."""
    return len(item[2]) if len(item) == 4 else item[1]


def normal_mode(st_mode: int) -> int:
    if stat.S_ISLNK(st_mode):
        return LINK_MODE
    return 0o100755 if st_mode & 0o111 else 0o100644


def item_entry(item: Item, root: bytes, racy_from_ns: int) -> Entry:
    """The :class:`Entry` for ``item``; a file modified at or after ``racy_from_ns``
    also gets a digest of its content (the cache's racy check, see :mod:`.cache`)."""
    if len(item) == 4:
        name, mode, data, store = item
        return Entry(name, mode, data=data, store=store)
    name, size, mtime_ns, ctime_ns, ino, dev, mode = item
    st = FileStat(size, mtime_ns, ctime_ns, ino, dev, mode)
    racy = max(mtime_ns, ctime_ns) >= racy_from_ns
    return Entry(name, normal_mode(mode), root + name, None, st, wants_store(name), racy)


def produce(entry: Entry, opener: Opener = default_open, tick: Tick = _no_tick) -> Produced:
    """Read and compress one entry (deflate unless stored or deflate does not shrink it).

    ``tick`` is told the bytes read (a large file's chunk by chunk), before they are
    compressed: raising from it stops the work there."""
    if entry.data is not None:
        tick(len(entry.data))
        return _from_bytes(entry, entry.data, deflate.crc32(entry.data))
    assert entry.source is not None
    name = shown(entry.name)
    try:
        fd = opener(entry.source)
    except OSError as exc:
        raise _unreadable(name, exc) from exc
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise PackagingError(
                f"Cannot package {name}: it is not a regular file.",
                "Remove it from the project or add it to .cbdeployignore.",
            )
        _check_unchanged(name, entry.stat, before)
        if before.st_size <= WHOLE:
            data = _read_all(fd, before.st_size)
            _check_unchanged(name, _stat_of(before), os.fstat(fd), len(data))
            tick(len(data))
            produced = _from_bytes(entry, data, deflate.crc32(data))
            if entry.digest:
                produced.digest = _digest(data).digest()
        else:
            produced = _produce_large(entry, fd, name, before, tick)
        produced.stat = entry.stat or _stat_of(before)
        return produced
    except OSError as exc:
        raise _unreadable(name, exc) from exc
    finally:
        os.close(fd)


def _from_bytes(entry: Entry, data: bytes, crc: int) -> Produced:
    if not entry.store and data:
        packed = deflate.deflate_compress(data, LEVEL)
        if len(packed) < len(data):
            return Produced(
                EntryInfo(entry.name, DEFLATED, crc, len(packed), len(data), entry.mode), packed
            )
    return Produced(EntryInfo(entry.name, STORED, crc, len(data), len(data), entry.mode), data)


def _produce_large(
    entry: Entry, fd: int, name: str, before: os.stat_result, tick: Tick
) -> Produced:
    crc = total = packed_size = 0
    deflater = None if entry.store else zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    hasher = _digest() if entry.digest else None
    spool: IO[bytes] | None = None
    if deflater is not None:
        import tempfile

        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="cbdeploy-")  # noqa: SIM115 - handed to the writer
    try:
        while chunk := os.read(fd, CHUNK):
            tick(len(chunk))
            total += len(chunk)
            crc = zlib.crc32(chunk, crc)
            if hasher is not None:
                hasher.update(chunk)
            if deflater is not None and spool is not None:
                packed_size += spool.write(deflater.compress(chunk))
        if deflater is not None and spool is not None:
            packed_size += spool.write(deflater.flush())
        _check_unchanged(name, _stat_of(before), os.fstat(fd), total)
        if spool is not None and packed_size < total:
            spool.seek(0)
            info = EntryInfo(entry.name, DEFLATED, crc, packed_size, total, entry.mode)
            produced, spool = Produced(info, spool=spool), None
        else:
            info = EntryInfo(entry.name, STORED, crc, total, total, entry.mode)
            produced = Produced(info, copy_source=entry.source)
        if hasher is not None:
            produced.digest = hasher.digest()
        return produced
    finally:
        if spool is not None:
            spool.close()


def copy_stored(
    produced: Produced, write: Callable[[bytes], object], opener: Opener = default_open
) -> None:
    """Write a large stored entry's bytes, checking they are the ones whose CRC was taken."""
    assert produced.copy_source is not None
    name = shown(produced.info.name)
    try:
        fd = opener(produced.copy_source)
        try:
            crc = total = 0
            while chunk := os.read(fd, CHUNK):
                crc = zlib.crc32(chunk, crc)
                total += len(chunk)
                write(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _unreadable(name, exc) from exc
    if crc != produced.info.crc or total != produced.info.size:
        raise _changed(name)


def _read_all(fd: int, size: int) -> bytes:
    parts = []
    remaining = size + 1  # one byte more: a file that grew is noticed
    while remaining > 0:
        chunk = os.read(fd, remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def content_digest(path: bytes, expected: FileStat, opener: Opener = default_open) -> bytes | None:
    """The digest of the file at ``path`` if it is a regular file with the stat
    ``expected`` from before the first byte to after the last; None otherwise (or if
    it cannot be read: the caller compresses it then, and reports the error)."""
    try:
        fd = opener(path)
    except OSError:
        return None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or _stat_of(before) != expected:
            return None
        hasher, total = _digest(), 0
        while chunk := os.read(fd, CHUNK):
            hasher.update(chunk)
            total += len(chunk)
        if total != expected.size or _stat_of(os.fstat(fd)) != expected:
            return None
        return hasher.digest()
    except OSError:
        return None
    finally:
        os.close(fd)


def _digest(data: bytes = b"") -> hashlib.blake2b:
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE)


def _stat_of(st: os.stat_result) -> FileStat:
    return FileStat.of(st)


def _check_unchanged(
    name: str, expected: FileStat | None, now: os.stat_result, read: int | None = None
) -> None:
    if expected is None:
        return
    if _stat_of(now) != expected or (read is not None and read != expected.size):
        raise _changed(name)


def _changed(name: str) -> PackagingError:
    return PackagingError(
        f"{name} changed while it was being packaged.",
        "Wait for whatever is writing it (a build, a watcher) to finish, then retry.",
    )


def _unreadable(name: str, exc: OSError) -> PackagingError:
    reason = exc.strerror or str(exc)
    return PackagingError(
        f"Cannot read {name}: {reason}.",
        "Fix its permissions, or add it to .cbdeployignore if it should not be shipped.",
    )
