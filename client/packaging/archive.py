"""Write a selection as a deterministic zip, compressing on every core.

Entries are written in byte order of their paths, each with the same
timestamp and a normalised Unix mode (0644, 0755 when any execute bit is
set, 0120777 for links, whose data is the link target), so the same tree
gives the same bytes, and the same SHA-256, on any machine. Entries are
compressed by a thread pool in batches and written in order by this thread
as they complete; only a bounded window of batches is in flight, and the
archive streams to a temporary file next to the output, renamed into place
only once complete.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import stat
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from client.packaging.cache import ArchiveCache, Key, Record
from client.packaging.model import ArchiveResult, FileStat, Selection
from client.packaging.reader import (
    LARGE,
    LEVEL,
    Entry,
    Opener,
    Produced,
    copy_stored,
    default_open,
    produce,
    wants_store,
)
from client.packaging.zipformat import EntryInfo, central_header, end_records, local_header

MANIFEST = ".cbdeploy/manifest.json"
BATCH_BYTES = 1 << 20
BATCH_FILES = 128
LINK_MODE = 0o120777


def build_archive(
    selection: Selection,
    output: Path,
    *,
    extra_entries: Mapping[str, bytes] = {},  # noqa: B006 - read only, the agreed signature
    cache_dir: Path | None = None,
    jobs: int | None = None,
) -> ArchiveResult:
    """Write ``selection`` (plus the manifest and ``extra_entries``) to ``output`` as a zip.

    ``cache_dir`` (e.g. ``<root>/.cbdeploy/cache``) lets a re-package reuse the
    compressed bytes of unchanged files; the archive is byte-identical either
    way. Raises :class:`~client.errors.PackagingError` naming a file that cannot
    be read or changes while it is read; no partial archive is left behind.
    """
    return ArchiveBuilder(jobs=jobs).build(selection, Path(output), extra_entries, cache_dir)


def manifest(selection: Selection, modes: Mapping[str, int]) -> bytes:
    """``.cbdeploy/manifest.json``: links and executables, for the runner to recreate."""
    links = [
        {"path": f.path, "target": f.link_target}
        for f in selection.files
        if f.link_target is not None
    ]
    executables = [p for p, mode in modes.items() if stat.S_ISREG(mode) and mode & 0o111]
    document = {"version": 1, "links": links, "executables": sorted(executables, key=os.fsencode)}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("ascii")


def normal_mode(st_mode: int) -> int:
    if stat.S_ISLNK(st_mode):
        return LINK_MODE
    return 0o100755 if st_mode & 0o111 else 0o100644


@dataclass
class _Batch:
    entries: list[Entry] = field(default_factory=list)
    size: int = 0


@dataclass
class _CopyRun:
    start: int
    end: int
    records: list[tuple[bytes, Record]] = field(default_factory=list)


class _Output:
    """The archive file being written: tracks the offset and the SHA-256 as it goes."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.offset = 0
        self.digest = hashlib.sha256()
        self.central: list[tuple[EntryInfo, int]] = []

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.offset += len(data)


class ArchiveBuilder:
    """The executor behind :func:`build_archive`; ``opener`` is how files are opened
    (tests hand in one that changes a file while it is read)."""

    def __init__(
        self,
        *,
        jobs: int | None = None,
        opener: Opener = default_open,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.opener = opener
        self.clock_ns = clock_ns

    def build(
        self,
        selection: Selection,
        output: Path,
        extra_entries: Mapping[str, bytes],
        cache_dir: Path | None,
    ) -> ArchiveResult:
        started_ns = self.clock_ns()
        entries, keys, raw_size = self._entries(selection, extra_entries)
        cache = ArchiveCache(cache_dir) if cache_dir is not None else None
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
                out = _Output(handle)
                records = self._write(out, entries, keys, cache)
                cd_offset = out.offset
                out.write(b"".join(central_header(info, offset) for info, offset in out.central))
                out.write(end_records(len(out.central), cd_offset, out.offset - cd_offset))
            os.chmod(tmp, 0o644)
            os.replace(tmp, output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            if cache is not None:
                cache.close()
        if cache is not None:
            cache.save(output, records, started_ns)
        return ArchiveResult(
            output, out.digest.hexdigest(), out.offset, len(selection.files), raw_size
        )

    def _entries(
        self, selection: Selection, extra: Mapping[str, bytes]
    ) -> tuple[list[Entry], dict[bytes, Key], int]:
        root = os.fsencode(selection.root).rstrip(b"/") + b"/"
        entries: list[Entry] = []
        keys: dict[bytes, Key] = {}
        modes: dict[str, int] = {}
        raw_size = 0
        for selected in selection.files:
            name = os.fsencode(selected.path)
            source = root + name
            st = selection.stats.get(selected.path) or _stat(
                source, selected.link_target is not None
            )
            modes[selected.path] = st.mode
            if selected.link_target is not None:
                target = os.fsencode(selected.link_target)
                entries.append(Entry(name, LINK_MODE, data=target, store=True))
                raw_size += len(target)
                continue
            store = wants_store(name)
            entries.append(Entry(name, normal_mode(st.mode), source=source, stat=st, store=store))
            keys[name] = (st.size, st.mtime_ns, st.mode, 0 if store else LEVEL)
            raw_size += st.size
        if MANIFEST in extra:
            raise ValueError(f"{MANIFEST} is written by build_archive itself")
        added = {MANIFEST: manifest(selection, modes), **extra}
        for path, data in added.items():
            entries.append(Entry(os.fsencode(path), 0o100644, data=bytes(data)))
        entries.sort(key=lambda e: e.name)
        for before, after in zip(entries, entries[1:], strict=False):
            if before.name == after.name:
                raise ValueError(f"two archive entries named {os.fsdecode(after.name)}")
        return entries, keys, raw_size

    def _units(
        self, entries: list[Entry], keys: Mapping[bytes, Key], cache: ArchiveCache | None
    ) -> Iterator[_Batch | _CopyRun]:
        batch = _Batch()
        run: _CopyRun | None = None
        for entry in entries:
            key = keys.get(entry.name)
            record = (
                cache.lookup(entry.name, key) if cache is not None and key is not None else None
            )
            if record is not None:
                if batch.entries:
                    yield batch
                    batch = _Batch()
                if run is not None and run.end != record.offset:
                    yield run
                    run = None
                if run is None:
                    run = _CopyRun(record.offset, record.offset)
                run.records.append((entry.name, record))
                run.end += record.length
                continue
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

    def _compress(self, batch: _Batch) -> list[Produced]:
        return [produce(entry, self.opener) for entry in batch.entries]

    def _write(
        self,
        out: _Output,
        entries: list[Entry],
        keys: Mapping[bytes, Key],
        cache: ArchiveCache | None,
    ) -> list[tuple[bytes, Record]]:
        records: list[tuple[bytes, Record]] = []
        window: deque[cf.Future[list[Produced]] | _CopyRun] = deque()
        limit = self.jobs * 3
        with cf.ThreadPoolExecutor(
            max_workers=self.jobs, thread_name_prefix="cbdeploy-zip"
        ) as pool:
            try:
                for unit in self._units(entries, keys, cache):
                    if isinstance(unit, _Batch):
                        window.append(pool.submit(self._compress, unit))
                    else:
                        window.append(unit)
                    while len(window) > limit:
                        self._emit(out, window.popleft(), keys, cache, records)
                while window:
                    self._emit(out, window.popleft(), keys, cache, records)
            except BaseException:
                for pending in window:
                    if isinstance(pending, cf.Future):
                        pending.cancel()
                raise
        return records

    def _emit(
        self,
        out: _Output,
        unit: cf.Future[list[Produced]] | _CopyRun,
        keys: Mapping[bytes, Key],
        cache: ArchiveCache | None,
        records: list[tuple[bytes, Record]],
    ) -> None:
        if isinstance(unit, _CopyRun):
            assert cache is not None
            base = out.offset
            for name, record in unit.records:
                new_offset = base + record.offset - unit.start
                out.central.append((record.info, new_offset))
                records.append((name, Record(record.key, new_offset, record.length, record.info)))
            for chunk in cache.read(unit.start, unit.end - unit.start):
                out.write(chunk)
            return
        for produced in unit.result():
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
            out.central.append((info, offset))
            key = keys.get(info.name)
            if key is not None:
                records.append((info.name, Record(key, offset, out.offset - offset, info)))


def _stat(path: bytes, is_link: bool) -> FileStat:
    st = os.lstat(path) if is_link else os.stat(path)
    return FileStat(st.st_size, st.st_mtime_ns, st.st_mode)
