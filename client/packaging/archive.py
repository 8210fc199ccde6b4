"""Write a selection as a deterministic zip, compressing on every core.

Entries are written in byte order of their paths, each with the same
timestamp and a normalised Unix mode (0644, 0755 when any execute bit is
set, 0120777 for links, whose data is the link target), so the same tree
gives the same bytes, and the same SHA-256, on any machine with the same
cbdeploy version (deflate is a pinned libdeflate's: see :mod:`.reader`).
Entries are compressed in batches, by worker processes (:mod:`.workers`) when
there is a lot to compress and no cache to copy from (a cold build), else by a
thread pool, and written in order by this thread as they complete (the first
few small batches are compressed by this thread: a re-package of an edit or two
never starts a pool); only a bounded window of batches is in flight, and the
archive streams to a temporary file next to the output, renamed into place only
once complete. Who compresses an entry never changes its bytes.
With a cache, runs of unchanged files are copied from the previous archive
instead (see :mod:`.cache`), hashed on another thread while the next chunk is
read (:mod:`.writer`). Progress is counted in bytes read (:mod:`.meter`), and
Ctrl-C stops the compressing threads within a chunk, and kills the workers.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cbdeploy.client.collector import paused_gc
from cbdeploy.client.packaging import bulk
from cbdeploy.client.packaging.cache import ArchiveCache
from cbdeploy.client.packaging.cold import cold_units
from cbdeploy.client.packaging.destination import check_output_path, complete_stats
from cbdeploy.client.packaging.early import Batch, EarlyBatches, Remote
from cbdeploy.client.packaging.meter import Meter
from cbdeploy.client.packaging.model import ArchiveResult, FileStat, Selection
from cbdeploy.client.packaging.reader import (
    WHOLE,
    Opener,
    Produced,
    copy_stored,
    default_open,
    item_entry,
    item_size,
    produce,
)
from cbdeploy.client.packaging.runs import Entry, entries_one_by_one, plan_entries
from cbdeploy.client.packaging.table import NO_DIGEST, RACY_NS
from cbdeploy.client.packaging.workers import Workers, start_workers, write_reply
from cbdeploy.client.packaging.writer import CopyRun, Output, copy_run, reserve
from cbdeploy.client.packaging.zipformat import central_header, end_records, local_header

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

MANIFEST = ".cbdeploy/manifest.json"
# on_progress(done, total): bytes of content packaged so far (read and compressed, or
# copied from the cache), of all the entries' bytes: a large file moves it as it is read.
Progress = Callable[[int, int], None]
INLINE_BYTES = 256 << 10  # compressed on the writing thread before a pool is worth starting
INLINE_FILE_COST = 4096  # what opening and reading a file costs, counted as bytes
PROGRESS_EVERY = 0.1  # seconds between progress reports while waiting for a batch
# A cold build with at least this much to compress uses worker processes: below
# it, starting them costs more than they save.
PROCESS_BYTES = 8 << 20
WINDOW_BYTES = 32 << 20  # at most this much handed to workers and not yet written


def build_archive(
    selection: Selection,
    output: Path,
    *,
    extra_entries: Mapping[str, bytes] = {},  # noqa: B006 - read only, the agreed signature
    cache_dir: Path | None = None,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    workers: Workers | None = None,
    early: EarlyBatches | None = None,
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
    ``workers``: processes the caller started early (:func:`.workers.start_workers`,
    while the files were selected), used if worth it; the caller closes them.
    ``early``: batches already handed to those workers while the files were selected
    (see :mod:`.early`); the build starts at its time.
    """
    with paused_gc():
        builder = ArchiveBuilder(jobs=jobs, on_progress=on_progress, workers=workers, early=early)
        return builder.build(
            selection, Path(output), extra_entries, cache_dir
        )


def manifest(
    selection: Selection, stats: Mapping[str, FileStat], columns: bulk.FileColumns | None = None
) -> bytes:
    """``.cbdeploy/manifest.json``: links and executables, for the runner to recreate
    (``columns``: the selection's, if they were taken already)."""
    document = manifest_data(selection, stats, columns)
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("ascii")


def manifest_data(
    selection: Selection, stats: Mapping[str, FileStat], columns: bulk.FileColumns | None = None
) -> dict[str, Any]:
    """What :func:`manifest` writes, as data (a delta carries the whole tree's)."""
    files = selection.files
    at_links = columns.links if columns is not None else bulk.link_positions(files)
    links = [{"path": files[at].path, "target": files[at].link_target} for at in at_links]
    if columns is not None:
        executables = columns.executables()
    else:  # (``stats`` may then lack the links': a Selection built by hand)
        executables = [
            f.path for f in selection.files
            if f.link_target is None and stats[f.path].mode & 0o111
        ]
    return {"version": 1, "links": links, "executables": sorted(executables, key=os.fsencode)}


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
    that decides which files are too recently modified to trust to the cache;
    ``workers`` processes started by the caller (see :func:`build_archive`), and
    ``processes`` False to compress on threads only."""

    def __init__(
        self,
        *,
        jobs: int | None = None,
        opener: Opener = default_open,
        clock_ns: Callable[[], int] = time.time_ns,
        on_progress: Progress | None = None,
        workers: Workers | None = None,
        processes: bool = True,
        early: EarlyBatches | None = None,
    ) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.opener = opener
        self.clock_ns = clock_ns
        self.on_progress = on_progress
        self._meter = Meter()
        self._copied = self._total = 0
        self._racy_from_ns = 0
        self._given = workers
        self._early = early if early is not None and early.workers is workers else None
        # A test's opener stays in this process; so does a build a cache mostly supplies.
        self._processes = processes and self.jobs > 1 and opener is default_open
        self._root = b""

    def build(
        self,
        selection: Selection,
        output: Path,
        extra_entries: Mapping[str, bytes],
        cache_dir: Path | None,
    ) -> ArchiveResult:
        started_ns = self.clock_ns() if self._early is None else self._early.started_ns
        self._racy_from_ns = started_ns - RACY_NS
        if MANIFEST in extra_entries:
            raise ValueError(f"{MANIFEST} is written by build_archive itself")
        stats = complete_stats(selection)
        columns = bulk.FileColumns(selection.files, stats)
        extra = {MANIFEST: manifest(selection, stats, columns), **extra_entries}
        raw_size = columns.raw_size()
        self._meter, self._copied = Meter(), 0
        self._total = raw_size + sum(len(data) for data in extra.values())
        check_output_path(output)
        cache = ArchiveCache(cache_dir) if cache_dir is not None else None
        self._processes = self._processes and not (cache and cache.columns.names)
        self._processes = self._processes and self._total >= PROCESS_BYTES
        self._root = os.fsencode(selection.root).rstrip(b"/") + b"/"
        self._take_early()
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.parent / f".{output.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        out = Output(os.open(tmp, flags, 0o644), started_ns)
        try:
            with out.handle:
                reserved = reserve(out.handle.fileno(), cache.size if cache else 0)
                units = self._units(selection, stats, columns, extra, cache)
                self._write(out, units, cache)
                cd_offset = out.offset
                out.write(b"".join(out.central))
                out.central = []  # (views of the cached archive among them: let them go)
                out.write(end_records(out.entries, cd_offset, out.offset - cd_offset))
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
        sha256 = out.sha256()
        if cache is not None:
            table = out.table
            table.cd_offset, table.cd_size = cd_offset, out.central_size
            table.sha256 = bytes.fromhex(sha256)
            cache.save(output, table, started_ns)
        return ArchiveResult(output, sha256, out.offset, len(selection.files), raw_size)

    def _units(
        self, selection: Selection, stats: Mapping[str, FileStat], columns: bulk.FileColumns,
        extra: Mapping[str, bytes], cache: ArchiveCache | None,
    ) -> Iterator[Batch | CopyRun | Remote]:
        """What to write, in order: batches to compress (those handed out early among
        them, see :mod:`.cold`), runs to copy from the cache."""
        files, root, opener = selection.files, self._root, self.opener
        if cache is None or not cache.columns.names:
            cold = cold_units(files, columns, extra, self._early)
            if cold is not None:
                return cold
        if self._early is not None:  # (never with a cache: see early.cold_start)
            while self._early.handed:
                self._early.discard()
        planned = plan_entries(files, columns, extra, cache, root, opener)
        entries: Iterable[Entry] = (
            entries_one_by_one(files, stats, extra, cache, root, opener) if planned is None
            else planned
        )
        return _batched(entries)

    def _take_early(self) -> None:
        """Use the batches handed out early, if they are of this selection."""
        early = self._early
        if early is None:
            return
        early.finish()
        if early.root != self._root:  # nothing handed out (or, never, another root)
            while early.handed:
                early.discard()
            self._early = None
            if early.root is not None:  # the workers know another root: not for this build
                self._given = None

    def _compress(self, batch: Batch) -> list[Produced]:
        tick, root, racy_from_ns = self._meter.tick, self._root, self._racy_from_ns
        return [
            produce(item_entry(item, root, racy_from_ns), self.opener, tick) for item in batch.items
        ]

    def _write(
        self, out: Output, units: Iterator[Batch | CopyRun | Remote], cache: ArchiveCache | None
    ) -> None:
        # The pools start only once there is more to compress than INLINE_BYTES: a
        # re-package that recompresses a file or two does it here, without paying for
        # importing concurrent.futures and starting threads or processes. So does a cold
        # build with the few entries before its early batches (the manifest's).
        self._threads: ThreadPoolExecutor | None = None
        self._workers: Workers | None = self._given if self._early else None
        window: deque[Future[list[Produced]] | CopyRun | _Done | Remote] = deque()
        # Workers get a deeper queue: under load, the builder may not run for a while.
        limit = self.jobs * (8 if self._processes else 3)
        self._in_flight = 0  # bytes handed to workers and not yet written
        inline = INLINE_BYTES
        failed = True
        try:
            for unit in units:
                if isinstance(unit, Remote):  # handed out early
                    self._in_flight += unit.batch.size
                    window.append(unit)
                elif isinstance(unit, CopyRun):
                    window.append(unit)
                elif _inline_cost(unit) <= inline and (
                    (not self._processes and self._threads is None) or self._before_early()
                ):
                    inline -= _inline_cost(unit)
                    window.append(_Done(self._compress(unit)))
                else:
                    window.append(self._submit(unit))
                while len(window) > limit or self._in_flight > WINDOW_BYTES:
                    self._emit(out, window.popleft(), cache)
            while window:
                self._emit(out, window.popleft(), cache)
            failed = False
        finally:
            # After an error or Ctrl-C: threads stop at their next chunk or file, and
            # worker processes are killed.
            self._meter.cancel()
            if self._threads is not None:
                self._threads.shutdown(wait=True, cancel_futures=True)
            if self._workers is not None and self._workers is not self._given:
                self._workers.close(kill=failed)

    def _before_early(self) -> bool:
        """Whether batches handed out early come after the one at hand: a worker would
        compress it only after them, and nothing could be written meanwhile."""
        return self._early is not None and bool(self._early.handed)

    def _submit(self, batch: Batch) -> Future[list[Produced]] | Remote:
        """Hand ``batch`` to a worker process, or to a thread (a file above WHOLE streams
        through zlib on a thread, where Ctrl-C stops it within a chunk)."""
        if self._processes and batch.size <= WHOLE:
            if self._workers is None:
                self._workers = self._given or start_workers(self.jobs)
                if self._workers is None:
                    self._processes = False
                    return self._submit(batch)
                self._workers.begin(self._root, self._racy_from_ns)
            self._in_flight += batch.size
            return Remote(batch, self._workers.submit(batch.items, batch.size))
        if self._threads is None:
            from concurrent.futures import ThreadPoolExecutor

            self._threads = ThreadPoolExecutor(self.jobs, thread_name_prefix="cbdeploy-zip")
        return self._threads.submit(self._compress, batch)

    def _emit(
        self,
        out: Output,
        unit: Future[list[Produced]] | CopyRun | _Done | Remote,
        cache: ArchiveCache | None,
    ) -> None:
        if isinstance(unit, CopyRun):
            assert cache is not None
            copy_run(out, unit, cache)
            self._copied += sum(cache.columns.usizes[unit.first : unit.stop])
            self._progress()
            return
        if isinstance(unit, Remote):
            assert self._workers is not None
            reply = self._workers.result(unit.ticket, self._progress_every)
            while reply is None:
                self._progress()
                reply = self._workers.result(unit.ticket, self._progress_every)
            write_reply(out, unit.batch.items, reply, keep_rows=cache is not None)
            self._copied += unit.batch.size
            self._in_flight -= unit.batch.size
            self._progress()
            return
        produced_all = unit.result() if isinstance(unit, _Done) else self._wait(unit)
        for produced in produced_all:
            offset = out.offset
            info = produced.info
            out.write(local_header(info))
            if produced.payload is not None:
                out.write(memoryview(produced.payload))
            elif produced.spool is not None:
                with produced.spool as spool:
                    while chunk := spool.read(1 << 20):
                        out.write(chunk)
            else:
                copy_stored(produced, out.write, self.opener)
            central_at = out.central_size
            out.add_central(central_header(info, offset))
            st = produced.stat
            if st is not None:  # a file from disk: remembered for the next build
                digest = produced.digest or NO_DIGEST
                row = (*st, offset, out.offset - offset, *info[1:], digest)
                out.table.add(info.name, row, central_at)
        self._progress()

    @property
    def _progress_every(self) -> float:
        return PROGRESS_EVERY if self.on_progress else 1.0

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


def _batched(entries: Iterable[Entry]) -> Iterator[Batch | CopyRun]:
    """The entries to compress put in batches (a large file goes alone), between the runs."""
    batch = Batch()
    for entry in entries:
        if isinstance(entry, CopyRun):
            if batch.items:
                yield batch
                batch = Batch()
            yield entry
            continue
        size = item_size(entry)
        if batch.cut_before(size):
            yield batch
            batch = Batch()
        batch.add(entry, size)
        if batch.full():
            yield batch
            batch = Batch()
    if batch.items:
        yield batch


def _inline_cost(batch: Batch) -> int:
    return batch.size + INLINE_FILE_COST * len(batch.items)
