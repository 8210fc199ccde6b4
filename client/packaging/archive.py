"""Write a selection as a deterministic zip, compressing on every core.

Entries are written in byte order of their paths, each with the same
timestamp and a normalised Unix mode (0644, 0755 when any execute bit is
set, 0120777 for links, whose data is the link target), so the same tree
gives the same bytes, and the same SHA-256, on any machine with the same
zlib. Entries are compressed by a thread pool in batches and written in order
by this thread as they complete (the first few small batches are compressed
by this thread: a re-package of an edit or two never starts the pool); only a
bounded window of batches is in flight, and the archive streams to a
temporary file next to the output, renamed into place only once complete.
With a cache, runs of unchanged files are copied from the previous archive
instead (see :mod:`.cache`), hashed on another thread while the next chunk is
read.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.cache import (
    DIGEST,
    KEY,
    LENGTH,
    METHOD,
    NO_DIGEST,
    OFFSET,
    ArchiveCache,
    Row,
    is_racy,
)
from cbdeploy.client.packaging.model import ArchiveResult, FileStat, Selection, shown
from cbdeploy.client.packaging.nogc import paused_gc
from cbdeploy.client.packaging.reader import (
    LARGE,
    Entry,
    Opener,
    Produced,
    content_digest,
    copy_stored,
    default_open,
    produce,
    wants_store,
)
from cbdeploy.client.packaging.zipformat import (
    central_header,
    central_record,
    end_records,
    local_header,
)

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

MANIFEST = ".cbdeploy/manifest.json"
# on_progress(done, total): entries written so far, of all the archive's entries.
Progress = Callable[[int, int], None]
BATCH_BYTES = 1 << 20
BATCH_FILES = 128
INLINE_BYTES = 256 << 10  # compressed on the writing thread before a pool is worth starting
RESERVE_SLACK = 1 << 20  # room for the edited files to grow, over the cached archive's size
INLINE_FILE_COST = 4096  # what opening and reading a file costs, counted as bytes
LINK_MODE = 0o120777


def build_archive(
    selection: Selection,
    output: Path,
    *,
    extra_entries: Mapping[str, bytes] = {},  # noqa: B006 - read only, the agreed signature
    cache_dir: Path | None = None,
    jobs: int | None = None,
    on_progress: Progress | None = None,
) -> ArchiveResult:
    """Write ``selection`` (plus the manifest and ``extra_entries``) to ``output`` as a zip.

    ``cache_dir`` (e.g. ``<root>/.cbdeploy/cache``) lets a re-package reuse the
    compressed bytes of unchanged files; the archive is byte-identical either
    way. Raises :class:`~client.errors.PackagingError` naming a file that cannot
    be read or changes while it is read; no partial archive is left behind.
    ``on_progress(done, total)`` is called on this thread as entries are written
    (a batch at a time): ``total`` counts every entry, the added ones included.
    """
    with paused_gc():
        return ArchiveBuilder(jobs=jobs, on_progress=on_progress).build(
            selection, Path(output), extra_entries, cache_dir
        )


def manifest(selection: Selection, stats: Mapping[str, FileStat]) -> bytes:
    """``.cbdeploy/manifest.json``: links and executables, for the runner to recreate."""
    links = [
        {"path": f.path, "target": f.link_target}
        for f in selection.files
        if f.link_target is not None
    ]
    executables = [
        f.path for f in selection.files if f.link_target is None and stats[f.path].mode & 0o111
    ]
    document = {"version": 1, "links": links, "executables": sorted(executables, key=os.fsencode)}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("ascii")


def check_output_path(output: Path) -> None:
    """Refuse an output path that holds anything but a regular file.

    The archive is written next to it and renamed over it, which would replace a
    device node, a FIFO or a socket, and write through no link: a link there (even
    to a regular file) is refused rather than silently replaced.
    """
    try:
        st = os.lstat(output)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PackagingError(
            f"Cannot write the archive to {shown(output)}: {exc.strerror or exc}.",
            "Choose another --output path.",
        ) from exc
    if stat.S_ISREG(st.st_mode):
        return
    kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
    raise PackagingError(
        f"Refusing to write the archive to {shown(output)}: it is {kind}.",
        "Choose another --output path, or remove what is there first.",
    )


_KINDS = {
    stat.S_IFLNK: "a symbolic link (cbdeploy never writes through a link)",
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def normal_mode(st_mode: int) -> int:
    if stat.S_ISLNK(st_mode):
        return LINK_MODE
    return 0o100755 if st_mode & 0o111 else 0o100644


class _Batch:
    """Entries compressed together by one worker (plain classes: cheaper to import)."""

    __slots__ = ("entries", "size")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.size = 0


class _Done:
    """A batch compressed on this thread, waiting in the window like a pool's future."""

    __slots__ = ("produced",)

    def __init__(self, produced: list[Produced]) -> None:
        self.produced = produced

    def result(self) -> list[Produced]:
        return self.produced


class _CopyRun:
    """Consecutive unchanged records, ``[start, end)`` in the cached archive."""

    __slots__ = ("start", "end", "rows")

    def __init__(self, start: int) -> None:
        self.start = start
        self.end = start
        self.rows: list[tuple[bytes, Row]] = []


class _Output:
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


class ArchiveBuilder:
    """The executor behind :func:`build_archive`; ``opener`` is how files are opened
    (tests hand in one that changes a file while it is read), ``clock_ns`` the clock
    that decides which files are too recently modified to trust to the cache."""

    def __init__(
        self,
        *,
        jobs: int | None = None,
        opener: Opener = default_open,
        clock_ns: Callable[[], int] = time.time_ns,
        on_progress: Progress | None = None,
    ) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.opener = opener
        self.clock_ns = clock_ns
        self.on_progress = on_progress
        self._done = self._total = 0
        self._started_ns = 0

    def build(
        self,
        selection: Selection,
        output: Path,
        extra_entries: Mapping[str, bytes],
        cache_dir: Path | None,
    ) -> ArchiveResult:
        started_ns = self._started_ns = self.clock_ns()
        if MANIFEST in extra_entries:
            raise ValueError(f"{MANIFEST} is written by build_archive itself")
        stats = _complete_stats(selection)
        extra = {MANIFEST: manifest(selection, stats), **extra_entries}
        self._done, self._total = 0, len(selection.files) + len(extra)
        check_output_path(output)
        cache = ArchiveCache(cache_dir) if cache_dir is not None else None
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.parent / f".{output.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        out = _Output(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        try:
            with out.handle:
                reserved = _reserve(out.handle.fileno(), cache.size if cache else 0)
                self._write(out, self._units(selection, stats, extra, cache), cache)
                cd_offset = out.offset
                out.write(b"".join(out.central))
                out.write(end_records(len(out.central), cd_offset, out.offset - cd_offset))
                if reserved > out.offset:
                    out.handle.flush()
                    os.ftruncate(out.handle.fileno(), out.offset)
            os.chmod(tmp, 0o644)
            check_output_path(output)  # again: something may have taken its place meanwhile
            os.replace(tmp, output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            if cache is not None:
                cache.close()
        if cache is not None:
            cache.save(output, out.rows, started_ns)
        raw_size = sum(
            len(os.fsencode(f.link_target)) if f.link_target is not None else stats[f.path].size
            for f in selection.files
        )
        return ArchiveResult(output, out.sha256(), out.offset, len(selection.files), raw_size)

    def _units(
        self,
        selection: Selection,
        stats: Mapping[str, FileStat],
        extra: Mapping[str, bytes],
        cache: ArchiveCache | None,
    ) -> Iterator[_Batch | _CopyRun]:
        """What to write, in order: batches to compress, runs to copy from the cache."""
        files = selection.files
        root = os.fsencode(selection.root).rstrip(b"/") + b"/"
        extras = list(extra.items())
        encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
        order = [(f.path.encode(encoding, errors), i) for i, f in enumerate(files)]  # fsencode
        order += [(os.fsencode(path), -1 - i) for i, (path, _) in enumerate(extras)]
        order.sort()
        rows = cache.rows if cache is not None else {}
        batch = _Batch()
        run: _CopyRun | None = None
        previous = None
        for name, index in order:
            if name == previous:
                raise ValueError(f"two archive entries named {os.fsdecode(name)}")
            previous = name
            if index < 0:
                entry = Entry(name, 0o100644, data=bytes(extras[-1 - index][1]))
            else:
                selected = files[index]
                st = stats[selected.path]
                if selected.link_target is not None:
                    target = os.fsencode(selected.link_target)
                    entry = Entry(name, LINK_MODE, data=target, store=True)
                else:
                    row = rows.get(name)
                    if row is not None and self._unchanged(row, st, root + name, cache):
                        if batch.entries:
                            yield batch
                            batch = _Batch()
                        if run is not None and run.end != row[OFFSET]:
                            yield run
                            run = None
                        if run is None:
                            run = _CopyRun(row[OFFSET])
                        run.rows.append((name, row))
                        run.end += row[LENGTH]
                        continue
                    mode = normal_mode(st.mode)
                    # A file this build may not see change gets a digest, for the next.
                    racy = is_racy(st.mtime_ns, st.ctime_ns, self._started_ns)
                    entry = Entry(name, mode, root + name, None, st, wants_store(name), racy)
            if run is not None:
                yield run
                run = None
            if entry.size_hint > LARGE and batch.entries:
                yield batch
                batch = _Batch()
            batch.entries.append(entry)
            batch.size += entry.size_hint
            if batch.size >= BATCH_BYTES or len(batch.entries) >= BATCH_FILES:
                yield batch
                batch = _Batch()
        if run is not None:
            yield run
        if batch.entries:
            yield batch

    def _unchanged(self, row: Row, st: FileStat, path: bytes, cache: ArchiveCache | None) -> bool:
        """Whether the cached record of the file at ``path`` (stat ``st``) may be copied:
        the same stat, and for a racily clean row, the same content (git's rule)."""
        if row[:KEY] != st:
            return False
        assert cache is not None
        if not cache.needs_check(row):
            return True
        return row[DIGEST] != NO_DIGEST and content_digest(path, st, self.opener) == row[DIGEST]

    def _compress(self, batch: _Batch) -> list[Produced]:
        return [produce(entry, self.opener) for entry in batch.entries]

    def _write(
        self, out: _Output, units: Iterator[_Batch | _CopyRun], cache: ArchiveCache | None
    ) -> None:
        # The pool starts only once there is more to compress than INLINE_BYTES: a
        # re-package that recompresses a file or two does it here, without paying for
        # importing concurrent.futures and starting threads.
        pool: ThreadPoolExecutor | None = None
        window: deque[Future[list[Produced]] | _CopyRun | _Done] = deque()
        limit = self.jobs * 3
        inline = INLINE_BYTES
        try:
            for unit in units:
                if isinstance(unit, _CopyRun):
                    window.append(unit)
                elif pool is None and _inline_cost(unit) <= inline:
                    inline -= _inline_cost(unit)
                    window.append(_Done(self._compress(unit)))
                else:
                    if pool is None:
                        from concurrent.futures import ThreadPoolExecutor

                        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="cbdeploy-zip")
                    window.append(pool.submit(self._compress, unit))
                while len(window) > limit:
                    self._emit(out, window.popleft(), cache)
            while window:
                self._emit(out, window.popleft(), cache)
        finally:
            if pool is not None:
                for pending in window:
                    if not isinstance(pending, (_CopyRun, _Done)):
                        pending.cancel()
                pool.shutdown(wait=True)

    def _emit(
        self,
        out: _Output,
        unit: Future[list[Produced]] | _CopyRun | _Done,
        cache: ArchiveCache | None,
    ) -> None:
        if isinstance(unit, _CopyRun):
            assert cache is not None
            _copy(out, unit, cache)
            self._progress(len(unit.rows))
            return
        produced_all = unit.result()
        for produced in produced_all:
            offset = out.offset
            info = produced.info
            out.write(local_header(info))
            if produced.payload is not None:
                out.write(produced.payload)
            elif produced.spool is not None:
                with produced.spool as spool:
                    while chunk := spool.read(1 << 20):
                        out.write(chunk)
            else:
                copy_stored(produced, out.write, self.opener)
            out.central.append(central_header(info, offset))
            st = produced.stat
            if st is not None:  # a file from disk: remembered for the next build
                digest = produced.digest or NO_DIGEST
                row = (*st, offset, out.offset - offset, *info[1:], digest)
                out.rows.append((info.name, row))
        self._progress(len(produced_all))

    def _progress(self, written: int) -> None:
        self._done += written
        if self.on_progress is not None:
            self.on_progress(self._done, self._total)


def _reserve(fd: int, size: int) -> int:
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


def _inline_cost(batch: _Batch) -> int:
    return batch.size + INLINE_FILE_COST * len(batch.entries)


def _copy(out: _Output, run: _CopyRun, cache: ArchiveCache) -> None:
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


def _complete_stats(selection: Selection) -> dict[str, FileStat]:
    """The selection's stats, taking those it lacks (a Selection built by hand)."""
    stats = dict(selection.stats)
    root = os.fsencode(selection.root).rstrip(b"/") + b"/"
    for f in selection.files:
        if f.path not in stats:
            path = root + os.fsencode(f.path)
            try:
                st = os.lstat(path) if f.link_target is not None else os.stat(path)
            except OSError as exc:
                raise PackagingError(
                    f"Cannot read {shown(f.path)}: {exc.strerror or exc}.",
                    "Package again: the project changed while it was being selected.",
                ) from exc
            stats[f.path] = FileStat.of(st)
    return stats
