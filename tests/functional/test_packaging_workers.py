"""Cold builds compress in worker processes: the same bytes, clear failures, Ctrl-C.

The workers are real ``python -I -S`` processes running ``worker.main``;
a broken one is a real process that exits or is killed.
"""

from __future__ import annotations

import ast
import hashlib
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import cbdeploy.client.packaging.archive as archive_module
import cbdeploy.client.packaging.worker as worker_module
from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging import build_archive, select_files
from cbdeploy.client.packaging.archive import ArchiveBuilder
from cbdeploy.client.packaging.reader import LEVEL
from cbdeploy.client.packaging.workers import Workers, start_workers, worker_command


def make_tree(root: Path, files: int = 400) -> Path:
    """Many small text files, some incompressible and stored ones, a link, an executable."""
    rng = random.Random(11)
    words = [b"const", b"value", b"return", b"function", b"import", b"export", b"{", b"}"]
    for i in range(files):
        path = root / f"pkg{i % 7}" / f"src{i % 3}" / f"file{i:04d}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b" ".join(rng.choice(words) for _ in range(rng.randint(0, 3000))))
    (root / "assets").mkdir()
    (root / "assets" / "noise.bin").write_bytes(rng.randbytes(200_000))
    (root / "assets" / "photo.jpg").write_bytes(rng.randbytes(50_000))
    (root / "big.txt").write_bytes(b"a large text file\n" * 200_000)  # 3.6 MB: a batch alone
    (root / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    os.symlink("pkg0", root / "current")
    return root


def test_workers_and_threads_give_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_tree(tmp_path / "p")
    selection = select_files(project)
    threads = ArchiveBuilder(processes=False).build(selection, tmp_path / "threads.zip", {}, None)
    monkeypatch.setattr(archive_module, "PROCESS_BYTES", 0)  # this small tree too
    with start_workers(2) as workers:
        assert workers is not None
        processes = build_archive(selection, tmp_path / "processes.zip", workers=workers)
        assert workers.handed > 3  # the batches really went to the processes
    own = build_archive(selection, tmp_path / "own.zip")  # the builder starts its own
    data = (tmp_path / "threads.zip").read_bytes()
    assert (tmp_path / "processes.zip").read_bytes() == data
    assert (tmp_path / "own.zip").read_bytes() == data
    assert threads.sha256 == processes.sha256 == own.sha256 == hashlib.sha256(data).hexdigest()
    with zipfile.ZipFile(tmp_path / "processes.zip") as archive:
        assert archive.testzip() is None
        assert (
            archive.read("pkg3/src0/file0003.js")
            == (project / "pkg3/src0/file0003.js").read_bytes()
        )


def test_a_cache_is_filled_the_same_by_workers_and_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows a worker's batch leaves for the next build let it copy every record."""
    project = make_tree(tmp_path / "p", files=60)
    monkeypatch.setattr(archive_module, "PROCESS_BYTES", 0)
    later = time.time_ns() + 3600 * 10**9  # no file is racily clean
    builder = ArchiveBuilder(clock_ns=lambda: later)
    cold = builder.build(select_files(project), tmp_path / "cold.zip", {}, tmp_path / "cache")
    opened: list[bytes] = []

    def opener(path: bytes) -> int:
        opened.append(path)
        return os.open(path, os.O_RDONLY)

    warm = ArchiveBuilder(opener=opener, clock_ns=lambda: later).build(
        select_files(project), tmp_path / "warm.zip", {}, tmp_path / "cache"
    )
    assert opened == [] and warm.sha256 == cold.sha256


def test_deflate_is_pinned_so_every_machine_writes_the_same_bytes() -> None:
    """libdeflate's output for a fixed input: another version (or zlib) gives other bytes,
    and with them another archive; this pins what this cbdeploy version writes."""
    import deflate

    rng = random.Random(5)
    text = b" ".join(rng.choice([b"alpha", b"beta", b"gamma", b"delta"]) for _ in range(50_000))
    packed = bytes(deflate.deflate_compress(text, LEVEL))
    assert hashlib.sha256(packed).hexdigest() == PINNED_DEFLATE


PINNED_DEFLATE = "d078acf675991dbc37aa5892d9340a05399ad05f1d8e59febc404a8be6ed93f6"


def _run_with(tmp_path: Path, command: list[str]) -> PackagingError:
    project = make_tree(tmp_path / "p", files=50)
    out = tmp_path / "out"
    with Workers(2, command) as workers, pytest.raises(PackagingError) as caught:
        ArchiveBuilder(workers=workers).build(select_files(project), out / "a.zip", {}, None)
    assert not out.exists() or list(out.iterdir()) == []  # no archive, no temporary file
    return caught.value


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ("import sys; sys.stdin.buffer.read(8); sys.exit(3)", "exit code 3"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9"),
        ("raise SystemExit('worker cannot start: no deflate here')", "no deflate here"),
    ],
)
def test_a_worker_that_dies_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, said: str
) -> None:
    monkeypatch.setattr(archive_module, "PROCESS_BYTES", 0)
    error = _run_with(tmp_path, [sys.executable, "-c", script])
    assert "packaging worker process stopped unexpectedly" in error.message
    assert said in error.message
    assert error.hint and "Package again" in error.hint


def test_an_unreadable_file_in_a_worker_is_the_error_a_thread_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_tree(tmp_path / "p", files=50)
    selection = select_files(project)
    (project / "pkg1" / "src1" / "file0001.js").write_bytes(b"changed after selection")
    monkeypatch.setattr(archive_module, "PROCESS_BYTES", 0)
    with pytest.raises(PackagingError) as in_worker:
        build_archive(selection, tmp_path / "a.zip")
    with pytest.raises(PackagingError) as on_thread:
        ArchiveBuilder(processes=False).build(selection, tmp_path / "b.zip", {}, None)
    assert in_worker.value.message == on_thread.value.message
    assert "pkg1/src1/file0001.js changed while it was being packaged" in in_worker.value.message
    assert not (tmp_path / "a.zip").exists()


def test_ctrl_c_kills_the_workers_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (a KeyboardInterrupt on the main thread, here raised from the progress
    callback) ends the build and its worker processes, leaving no archive behind."""
    project = make_tree(tmp_path / "p")
    monkeypatch.setattr(archive_module, "PROCESS_BYTES", 0)
    started: list[Workers] = []

    def start(jobs: int | None = None) -> Workers | None:
        workers = start_workers(jobs)
        assert workers is not None
        started.append(workers)
        return workers

    monkeypatch.setattr(archive_module, "start_workers", start)

    def progress(done: int, total: int) -> None:
        if started and started[0].handed:
            raise KeyboardInterrupt

    stopped = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        build_archive(select_files(project), tmp_path / "out" / "a.zip", on_progress=progress)
    assert time.monotonic() - stopped < 10
    (workers,) = started
    for pid in workers.pids:
        with pytest.raises(ChildProcessError):  # reaped: not running, not a zombie
            os.waitpid(pid, os.WNOHANG)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_batch_past_4_gib_gets_zip64_central_records(tmp_path: Path) -> None:
    """A worker writes central records for offset 0; where the real offsets need ZIP64
    the builder writes them anew, as a thread's batch would have them."""
    from cbdeploy.client.packaging.worker import compress_batch
    from cbdeploy.client.packaging.workers import write_reply
    from cbdeploy.client.packaging.writer import Output
    from cbdeploy.client.packaging.zipformat import LIMIT_32, central_record

    project = make_tree(tmp_path / "p", files=5)
    root = os.fsencode(project) + b"/"
    names = sorted(os.fsencode(p.relative_to(project)) for p in project.rglob("*.js"))
    items = [(name, *_stat(root + name)) for name in names]
    assert len(items) == 5
    meta, parts = compress_batch(items, root, time.time_ns())
    data = b"".join(parts)
    later = time.time_ns() + 3600 * 10**9  # the next index: no row racily clean
    out = Output(os.open(tmp_path / "out.bin", os.O_WRONLY | os.O_CREAT), later)
    with out.handle:
        out.offset = LIMIT_32 - 100  # as if 4 GiB were written before
        write_reply(out, items, (meta, data), keep_rows=True)
    offset = LIMIT_32 - 100
    for (name, *_), entry, record in zip(items, meta[1], out.central, strict=True):
        assert record == central_record(name, *entry[1:6], offset)
        offset += entry[0]
    assert out.table.offsets[-1] >= LIMIT_32  # the last needs ZIP64
    assert out.central[-1] != central_record(items[-1][0], *meta[1][-1][1:6], 0)


def test_a_batch_below_4_gib_adds_its_central_records_as_one_patched_block(
    tmp_path: Path,
) -> None:
    """The builder puts a worker's batch's offsets into its central records in place and
    adds them as one block: the bytes of each record made alone at its offset, and the
    cache's rows pointing at each record."""
    from cbdeploy.client.packaging.worker import compress_batch
    from cbdeploy.client.packaging.workers import write_reply
    from cbdeploy.client.packaging.writer import Output
    from cbdeploy.client.packaging.zipformat import central_record

    project = make_tree(tmp_path / "p", files=9)
    root = os.fsencode(project) + b"/"
    names = sorted(os.fsencode(p.relative_to(project)) for p in project.rglob("*.js"))
    items = [(name, *_stat(root + name)) for name in names]
    meta, parts = compress_batch(items, root, time.time_ns())
    later = time.time_ns() + 3600 * 10**9  # the next index: no row racily clean
    out = Output(os.open(tmp_path / "out.bin", os.O_WRONLY | os.O_CREAT), later)
    with out.handle:
        out.write(b"x" * 1000)  # a record before this batch's
        out.add_central(b"c" * 60)
        write_reply(out, items, (meta, b"".join(parts)), keep_rows=True)
    assert len(out.central) == 2 and out.entries == 1 + len(items)  # one block for the batch
    expected, offset, at = [], 1000, 60
    for i, ((name, *_), entry) in enumerate(zip(items, meta[1], strict=True)):
        expected.append(central_record(name, *entry[1:6], offset))
        assert out.table.offsets[i] == offset and out.table.central[i] == at
        offset, at = offset + entry[0], at + len(expected[-1])
    assert bytes(out.central[1]) == b"".join(expected)
    assert out.central_size == at and out.offset == offset


def _stat(path: bytes) -> tuple[int, int, int, int, int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode)


def test_a_worker_loads_only_what_it_runs(tmp_path: Path) -> None:
    """Issue 16: a worker starts without site and without the archive builder, the cache,
    the selection or dataclasses; nor, compressing plain files, typing, hashlib, signal
    or the general path of reader (each costs its start more than a hundred files' work).
    It runs the very code this process runs."""
    (tmp_path / "a.txt").write_bytes(b"some text " * 100)
    item = (b"a.txt", *_stat(os.fsencode(tmp_path / "a.txt")))
    code = ("import cbdeploy.client.packaging.worker as w; "
            f"meta, data = w.compress_batch([{item!r}], {os.fsencode(tmp_path) + b'/'!r}, "
            f"{time.time_ns() + 10**12}); "
            "assert meta[1][0][1] == 8; "  # deflated, on the quick path
            "print(repr([w.__file__, sorted(sys.modules)]))")
    done = subprocess.run(worker_command(code), capture_output=True, text=True, check=True,
                          timeout=60)
    path, modules = ast.literal_eval(done.stdout)
    assert path == worker_module.__file__
    assert sorted({
        "site", "dataclasses", "pathlib", "subprocess", "threading", "typing", "hashlib",
        "signal", "json", "cbdeploy.client.packaging.archive", "cbdeploy.client.packaging.cache",
        "cbdeploy.client.packaging.select", "cbdeploy.client.packaging.model",
        "cbdeploy.client.packaging.reader",
    } & set(modules)) == []


def test_a_worker_finds_cbdeploy_installed_as_a_wheel_installs_it(tmp_path: Path) -> None:
    """Without site there is no editable install's import hook: the worker finds cbdeploy
    by the folder that holds client/, here site-packages/cbdeploy as a wheel lays it out."""
    site = tmp_path / "site-packages"
    shutil.copytree(Path(worker_module.__file__).parents[1], site / "cbdeploy" / "client",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = (
        f"import sys, subprocess; sys.path.insert(0, {str(site)!r}); "
        "from cbdeploy.client.packaging import workers; print(workers.__file__); "
        "code = 'import cbdeploy.client.packaging.worker as w; print(w.__file__)'; "
        "print(subprocess.run(workers.worker_command(code), capture_output=True, text=True, "
        "check=True).stdout, end='')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=60)
    packaging = site / "cbdeploy" / "client" / "packaging"
    assert done.stdout.splitlines() == [str(packaging / "workers.py"), str(packaging / "worker.py")]
