"""The re-package cache: the previous archive plus an index of its entries' byte ranges.

A local record (header + compressed data) does not depend on where it sits in
the archive, so an unchanged file's record can be copied byte for byte from
the previous archive, and runs of unchanged files in a row are one copy; so can
their central directory records, with only the offset field moved. The result
is identical to a cold build. An entry is reused only when the compression
settings (level, stored formats, libdeflate and zlib versions) are those the index was written
with and the file's stat matches the one recorded, keyed as git's index keys
it: size, mtime and ctime in nanoseconds, inode, device and mode. Restoring an
mtime (``touch -d``, ``cp -p``, ``rsync -t``, a checkout) cannot restore the
ctime, which every write moves.

A timestamp is only as fine as the file system's clock tick, so a file changed
again within the tick of its recorded stat could keep that stat. Git's rule for
such "racily clean" entries applies: an entry whose mtime or ctime is not
clearly older than the moment the index was written (``written_ns`` less
:data:`RACY_NS`, a margin for coarse clocks and small clock steps) is reused
only after its content, read again, matches the digest recorded for it.

The index is stored by column (:mod:`.table`): the stat keys of all entries are
one block of bytes, compared with the current stats in one go, so a re-package
does no Python work per unchanged file beyond taking its stat.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from cbdeploy.client.packaging.table import Columns, Row, Table, is_racy, load_columns

ARCHIVE = "archive.zip"
_OLD = ".old"  # suffix of replaced archives waiting to be deleted
INDEX = "index.bin"
CHUNK = 4 << 20  # bytes of the cached archive handed to the writer at a time


class ArchiveCache:
    """The previous build's records (by column, :class:`~.table.Columns`), and saving
    this build's (a :class:`~.table.Table`)."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(cache_dir)
        self.columns = Columns.empty()
        self._map: mmap.mmap | None = None
        self._size = 0
        self._positions: dict[bytes, int] | None = None
        self._load()

    def _load(self) -> None:
        try:
            with (  # mapped: its columns are copied out of the page cache once, not twice
                open(self.dir / INDEX, "rb") as index,
                mmap.mmap(index.fileno(), 0, prot=mmap.PROT_READ) as data,
            ):
                columns, identity = load_columns(data)
            if columns is None:
                return
            with open(self.dir / ARCHIVE, "rb") as handle:
                st = os.fstat(handle.fileno())
                if (st.st_size, st.st_mtime_ns, st.st_ino) != identity or not st.st_size:
                    return  # the cached archive is not the one the index describes
                # Mapped, not read: its pages are the page cache's (the previous build
                # wrote them), where buffers would be new memory to fault in and fill.
                self._map = mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ)
                self._size = st.st_size
        except (OSError, ValueError, struct.error):
            return
        self.columns = columns

    @property
    def size(self) -> int:
        """The cached archive's size in bytes (0: no usable cache)."""
        return self._size if self._map is not None else 0

    @property
    def written_ns(self) -> int:
        """When the index was written (the start of its build)."""
        return self.columns.written_ns

    @property
    def rows(self) -> dict[bytes, Row]:
        """Every record by name (the slow path's lookups, and tests)."""
        c = self.columns
        return {name: c.row(i) for i, name in enumerate(c.names)}

    def position(self, name: bytes) -> int:
        """The row index of ``name``, or -1 (a dict built on first use)."""
        if self._positions is None:
            self._positions = {name: i for i, name in enumerate(self.columns.names)}
        return self._positions.get(name, -1)

    def needs_check(self, row: Row) -> bool:
        """Whether ``row`` is racily clean: reuse it only if the content matches
        ``row[DIGEST]`` (a row without a digest is not reused)."""
        return is_racy(row[1], row[2], self.columns.written_ns)

    def central(self) -> memoryview:
        """The cached archive's central directory (a view: valid until :meth:`close`)."""
        c = self.columns
        return self._view(c.cd_offset, c.cd_size)

    def read(self, offset: int, length: int) -> Iterator[memoryview]:
        """The bytes of the cached archive in ``[offset, offset + length)``, in chunks of
        :data:`CHUNK` bytes: views of the mapped archive, valid until :meth:`close`
        (nothing is copied; the writer hashes a chunk on another thread while it writes)."""
        view = self._view(offset, length)
        for at in range(0, length, CHUNK):
            yield view[at : at + CHUNK]

    def _view(self, offset: int, length: int) -> memoryview:
        assert self._map is not None
        if offset + length > self._size:
            raise OSError(f"cached archive in {self.dir} is truncated")
        return memoryview(self._map)[offset : offset + length]

    def close(self) -> None:
        """Unmap the archive (at once if no view of it is left, else once the last goes)."""
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a view outlives the build (an error)
                self._map.close()
            self._map = None

    def save(
        self, archive: Path, rows: Table | list[tuple[bytes, Row]], started_ns: int
    ) -> None:
        """Keep ``archive`` and the index of its rows (best effort: a cache never fails a
        build). ``started_ns``: when this build started, before it read any file; a
        racily clean row (see :func:`is_racy`) without a digest is left out.

        When the table says this build copied every record from the cached archive and
        the archive is the cached one byte for byte, nothing is written: the index and
        the archive there are already this build's (but for the moment it was written,
        which only makes more rows racily clean, never fewer)."""
        table = rows if isinstance(rows, Table) else Table.of_rows(rows, started_ns)
        if self.columns.sha256 and table.unchanged_from(self.columns):
            return
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
            identity = (st.st_size, st.st_mtime_ns, st.st_ino)
            pieces = table.pieces(identity)
            with open(tmp_index, "wb") as handle:
                # Its blocks allocated up front: renamed over the old index, a file with
                # delayed allocation is flushed in the rename (6 ms for babel/babel's).
                with contextlib.suppress(OSError, AttributeError):  # (best effort)
                    size = sum(memoryview(piece).nbytes for piece in pieces)
                    os.posix_fallocate(handle.fileno(), 0, size)
                handle.writelines(pieces)
            # Renaming over the old archive costs ~15 ms for 20 MB on ext4 (it flushes the
            # new file and frees the old one in the rename); moving the old one aside
            # first is cheap, and it is deleted on a background thread.
            old = self.dir / f".{ARCHIVE}.{unique}{_OLD}"
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.dir / ARCHIVE, old)
            os.replace(tmp_archive, self.dir / ARCHIVE)
            # The old index is kept by a second name while the new one replaces it (still
            # in one step), so that the rename does not free its 6 MB: the thread does.
            with contextlib.suppress(OSError):
                os.link(self.dir / INDEX, self.dir / f".{INDEX}.{unique}{_OLD}")
            os.replace(tmp_index, self.dir / INDEX)
            _delete_old_archives(self.dir)
        except OSError as exc:
            import logging

            logging.getLogger(__name__).debug("package cache in %s not updated: %s", self.dir, exc)
            for leftover in (tmp_archive, tmp_index):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)


def _delete_old_archives(cache_dir: Path) -> None:
    """Delete replaced archives and indexes (this build's, and any a killed build left) on
    a thread: freeing a large file's blocks need not hold up the caller (an upload
    follows). Not a daemon: the interpreter waits for it at exit, so nothing is left
    behind."""
    import threading

    def delete() -> None:
        with contextlib.suppress(OSError):
            for name in os.listdir(cache_dir):
                if name.startswith((f".{ARCHIVE}.", f".{INDEX}.")) and name.endswith(_OLD):
                    with contextlib.suppress(OSError):
                        os.unlink(cache_dir / name)

    threading.Thread(target=delete, name="cbdeploy-cache-cleanup").start()
