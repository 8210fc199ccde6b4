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
read (:mod:`.writer`). Progress is counted in bytes read (:mod:`.meter`), and
Ctrl-C stops the compressing threads within a chunk.
"""

from __future__ import annotations

import json
import os
import stat
import sys
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
    NO_DIGEST,
    OFFSET,
    USIZE,
    ArchiveCache,
    Row,
    is_racy,
)
from cbdeploy.client.packaging.meter import Meter
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
from cbdeploy.client.packaging.writer import CopyRun, Output, copy_run, reserve
from cbdeploy.client.packaging.zipformat import central_header, end_records, local_header

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

MANIFEST = ".cbdeploy/manifest.json"
# on_progress(done, total): bytes of content packaged so far (read and compressed, or
# copied from the cache), of all the entries' bytes: a large file moves it as it is read.
Progress = Callable[[int, int], None]
BATCH_BYTES = 1 << 20
BATCH_FILES = 128
INLINE_BYTES = 256 << 10  # compressed on the writing thread before a pool is worth starting
INLINE_FILE_COST = 4096  # what opening and reading a file costs, counted as bytes
LINK_MODE = 0o120777
PROGRESS_EVERY = 0.1  # seconds between progress reports while waiting for a batch


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
    ``on_progress(done, total)`` is called on this thread, in bytes of content (the
    files' sizes, link targets and added entries): as entries are written, and about
    every :data:`PROGRESS_EVERY` seconds while a batch or a large file is compressed.
    A KeyboardInterrupt (Ctrl-C) stops the compressing threads within one chunk.
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
        self._meter = Meter()
        self._copied = self._total = 0
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
        raw_size = sum(
            len(os.fsencode(f.link_target)) if f.link_target is not None else stats[f.path].size
            for f in selection.files
        )
        self._meter, self._copied = Meter(), 0
        self._total = raw_size + sum(len(data) for data in extra.values())
        check_output_path(output)
        cache = ArchiveCache(cache_dir) if cache_dir is not None else None
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.parent / f".{output.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        out = Output(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        try:
            with out.handle:
                reserved = reserve(out.handle.fileno(), cache.size if cache else 0)
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
        return ArchiveResult(output, out.sha256(), out.offset, len(selection.files), raw_size)

    def _units(
        self,
        selection: Selection,
        stats: Mapping[str, FileStat],
        extra: Mapping[str, bytes],
        cache: ArchiveCache | None,
    ) -> Iterator[_Batch | CopyRun]:
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
        run: CopyRun | None = None
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
                row = rows.get(name) if selected.link_target is None else None
                if row is not None and self._unchanged(row, st, root + name, cache):
                    if batch.entries:
                        yield batch
                        batch = _Batch()
                    if run is not None and run.end != row[OFFSET]:
                        yield run
                        run = None
                    run = run or CopyRun(row[OFFSET])
                    run.rows.append((name, row))
                    run.end += row[LENGTH]
                    continue
                entry = self._entry(name, root, st, selected.link_target)
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

    def _entry(self, name: bytes, root: bytes, st: FileStat, link_target: str | None) -> Entry:
        """The entry to produce for a selected file (or link) the cache cannot supply."""
        if link_target is not None:
            return Entry(name, LINK_MODE, data=os.fsencode(link_target), store=True)
        # A file this build may not see change gets a digest, for the next.
        racy = is_racy(st.mtime_ns, st.ctime_ns, self._started_ns)
        return Entry(name, normal_mode(st.mode), root + name, None, st, wants_store(name), racy)

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
        tick = self._meter.tick
        return [produce(entry, self.opener, tick) for entry in batch.entries]

    def _write(
        self, out: Output, units: Iterator[_Batch | CopyRun], cache: ArchiveCache | None
    ) -> None:
        # The pool starts only once there is more to compress than INLINE_BYTES: a
        # re-package that recompresses a file or two does it here, without paying for
        # importing concurrent.futures and starting threads.
        pool: ThreadPoolExecutor | None = None
        window: deque[Future[list[Produced]] | CopyRun | _Done] = deque()
        limit = self.jobs * 3
        inline = INLINE_BYTES
        try:
            for unit in units:
                if isinstance(unit, CopyRun):
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
                # After an error or Ctrl-C: the workers stop at their next chunk or file.
                self._meter.cancel()
                pool.shutdown(wait=True, cancel_futures=True)

    def _emit(
        self,
        out: Output,
        unit: Future[list[Produced]] | CopyRun | _Done,
        cache: ArchiveCache | None,
    ) -> None:
        if isinstance(unit, CopyRun):
            assert cache is not None
            copy_run(out, unit, cache)
            self._copied += sum(row[USIZE] for _, row in unit.rows)
            self._progress()
            return
        produced_all = unit.result() if isinstance(unit, _Done) else self._wait(unit)
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
        self._progress()

    def _wait(self, future: Future[list[Produced]]) -> list[Produced]:
        """The batch's result, reporting progress meanwhile (a large file takes seconds)."""
        from concurrent.futures import TimeoutError as Timeout

        while True:
            try:
                return future.result(timeout=PROGRESS_EVERY if self.on_progress else None)
            except Timeout:
                self._progress()

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(min(self._meter.done + self._copied, self._total), self._total)


def _inline_cost(batch: _Batch) -> int:
    return batch.size + INLINE_FILE_COST * len(batch.entries)


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
