"""The archive: deterministic bytes, modes, links, compression choices, errors, ZIP64, cache."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import cbdeploy.client.packaging.archive as archive_module
import cbdeploy.client.packaging.cache as cache_module
import cbdeploy.client.packaging.table as table_module
import cbdeploy.client.packaging.writer as writer_module
from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging import (
    MANIFEST,
    FileStat,
    SelectedFile,
    Selection,
    build_archive,
    select_files,
)
from cbdeploy.client.packaging.archive import ArchiveBuilder
from cbdeploy.client.packaging.reader import LARGE, default_open

FUTURE_NS = time.time_ns() + 3600 * 10**9  # a build clock for which no file is "racy"


def make_project(root: Path) -> Path:
    rng = random.Random(7)
    files = {
        "README.md": b"# demo\n" * 50,
        "src/app.py": b"print('hello')\n" * 200,
        "src/util/helpers.py": b"def f():\n    return 1\n" * 100,
        "static/logo.png": rng.randbytes(3000),
        "static/noise.bin": rng.randbytes(5000),
        "empty.txt": b"",
        "big/text.log.txt": b"line of text that compresses well\n" * (LARGE // 20),
        "big/random.dat": rng.randbytes(LARGE + 4096),
        "caf\u00e9/menu.txt": b"croissant\n",
    }
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / "bin").mkdir()
    (root / "bin" / "deploy.sh").write_bytes(b"#!/bin/sh\necho deploy\n")
    (root / "bin" / "deploy.sh").chmod(0o755)
    os.symlink("../src/app.py", root / "bin" / "app")
    os.symlink("src", root / "source")
    return root


def names(path: Path) -> list[bytes]:
    with zipfile.ZipFile(path) as archive:
        return [_raw_name(i) for i in archive.infolist()]


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    return info.filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")


def test_same_tree_gives_the_same_bytes_on_any_machine(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    one = build_archive(select_files(project), tmp_path / "one.zip", jobs=1)
    four = build_archive(select_files(project), tmp_path / "four.zip", jobs=4)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "four.zip").read_bytes()
    assert one.sha256 == four.sha256 and one.size == (tmp_path / "one.zip").stat().st_size

    # Another checkout: other mtimes, group-writable files (another umask), another path.
    twin = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(project, twin, symlinks=True)
    for path in twin.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (1_000_000, 1_000_000))
            if path.is_file():
                path.chmod(path.stat().st_mode | 0o020)
    assert build_archive(select_files(twin), tmp_path / "twin.zip").sha256 == one.sha256


def test_entries_sorted_fixed_time_no_extra_fields_and_content_intact(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    result = build_archive(select_files(project), tmp_path / "a.zip")
    with zipfile.ZipFile(result.path) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        raw = [_raw_name(i) for i in infos]
        assert raw == sorted(raw)
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.extra == b"" and info.create_system == 3
            if stat.S_ISREG(info.external_attr >> 16) and not info.filename.startswith(
                ".cbdeploy/"
            ):
                assert archive.read(info) == (project / info.filename).read_bytes()
    assert result.file_count == 12
    assert result.raw_size == sum(
        len(os.readlink(p)) if p.is_symlink() else p.stat().st_size
        for p in project.rglob("*")
        if p.is_symlink() or p.is_file()
    )


def test_modes_links_and_manifest(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    result = build_archive(select_files(project), tmp_path / "a.zip")
    with zipfile.ZipFile(result.path) as archive:
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        assert modes["bin/deploy.sh"] == 0o100755
        assert modes["src/app.py"] == 0o100644
        assert modes["bin/app"] == modes["source"] == 0o120777
        assert archive.read("bin/app") == b"../src/app.py"
        assert json.loads(archive.read(MANIFEST)) == {
            "version": 1,
            "links": [
                {"path": "bin/app", "target": "../src/app.py"},
                {"path": "source", "target": "src"},
            ],
            "executables": ["bin/deploy.sh"],
        }
    if shutil.which("unzip"):
        out = tmp_path / "extracted"
        subprocess.run(["unzip", "-q", str(result.path), "-d", str(out)], check=True)
        assert os.access(out / "bin" / "deploy.sh", os.X_OK)
        assert not os.access(out / "src" / "app.py", os.X_OK)
        assert os.readlink(out / "bin" / "app") == "../src/app.py"
        assert (out / "bin" / "app").read_text() == (project / "src" / "app.py").read_text()


def test_compressed_formats_are_stored_and_text_deflated(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    result = build_archive(select_files(project), tmp_path / "a.zip")
    with zipfile.ZipFile(result.path) as archive:
        method = {i.filename: i.compress_type for i in archive.infolist()}
    assert method["static/logo.png"] == zipfile.ZIP_STORED  # by its name
    assert method["static/noise.bin"] == zipfile.ZIP_STORED  # deflate did not shrink it
    assert method["big/random.dat"] == zipfile.ZIP_STORED  # large, streamed, not shrinking
    assert method["src/app.py"] == method["big/text.log.txt"] == zipfile.ZIP_DEFLATED
    assert method["empty.txt"] == zipfile.ZIP_STORED


def test_extra_entries_are_added_but_not_counted(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    extra = {".cbdeploy/plan.json": b"{}", ".cbdeploy/runner/__main__.py": b"print(1)\n"}
    result = build_archive(select_files(project), tmp_path / "a.zip", extra_entries=extra)
    listed = names(result.path)
    assert {b".cbdeploy/plan.json", b".cbdeploy/runner/__main__.py", MANIFEST.encode()} <= set(
        listed
    )
    assert result.file_count == 12
    with pytest.raises(ValueError):
        build_archive(select_files(project), tmp_path / "b.zip", extra_entries={MANIFEST: b"{}"})


def test_non_utf8_and_unicode_names_round_trip(tmp_path: Path) -> None:
    raw = b"data-\xff\xfe.txt"
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / os.fsdecode(raw)).write_bytes(b"latin")
    (tmp_path / "p" / "\u00e9t\u00e9.txt").write_bytes(b"utf8")
    result = build_archive(select_files(tmp_path / "p"), tmp_path / "a.zip")
    assert names(result.path) == sorted([raw, "\u00e9t\u00e9.txt".encode(), MANIFEST.encode()])
    with zipfile.ZipFile(result.path) as archive:
        by_raw = {_raw_name(i): i for i in archive.infolist()}
        assert archive.read(by_raw[raw]) == b"latin"
        assert by_raw[raw].flag_bits & 0x800 == 0
        assert by_raw["\u00e9t\u00e9.txt".encode()].flag_bits & 0x800


@pytest.mark.skipif(shutil.which("unzip") is None, reason="needs Info-ZIP unzip")
def test_unzip_and_the_emulator_restore_non_utf8_names_byte_for_byte(tmp_path: Path) -> None:
    """The one rule for names, end to end: bytes. Info-ZIP unzip and the emulator's
    extraction both give back the exact bytes the project had (unzip 6.0 drops a 0xFF
    byte from a name, a quirk of its own, so none is used here)."""
    from cbdeploy.emulator.source import extract_zip

    raw = [b"caf\xe9.txt", b"d\xe9/inner.txt", b"a\xfeb\x80", "\u00e9t\u00e9.txt".encode()]
    for name in raw:
        path = tmp_path / "p" / os.fsdecode(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name)
    result = build_archive(select_files(tmp_path / "p"), tmp_path / "a.zip")
    (tmp_path / "unzip").mkdir()
    (tmp_path / "emulator").mkdir()
    subprocess.run(["unzip", "-q", str(result.path), "-d", str(tmp_path / "unzip")], check=True)
    extract_zip(result.path.read_bytes(), tmp_path / "emulator")
    for where in ("unzip", "emulator"):
        top = os.fsencode(tmp_path / where)
        found = sorted(
            os.path.relpath(os.path.join(d, f), top)
            for d, _, files in os.walk(top)
            for f in files
            if not os.path.join(d, f).startswith(top + b"/.cbdeploy")
        )
        assert found == sorted(raw), where
        for name in raw:
            assert (Path(os.fsdecode(top)) / os.fsdecode(name)).read_bytes() == name


def _assert_nothing_written(directory: Path) -> None:
    assert sorted(p.name for p in directory.iterdir()) == []


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads a chmod 000 file; the FIFO and hook tests cover this"
)
def test_unreadable_file_is_an_error_naming_it(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    (project / "src" / "app.py").chmod(0)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PackagingError, match="src/app.py"):
        build_archive(select_files(project), out / "a.zip")
    _assert_nothing_written(out)


def test_a_permission_error_names_the_file_even_as_root(tmp_path: Path) -> None:
    """Root reads chmod 000 files, so the refusal comes from the opener the builder is given."""
    project = make_project(tmp_path / "p")
    victim = os.fsencode(project / "big" / "random.dat")

    def opener(path: bytes) -> int:
        if path == victim:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return default_open(path)

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(
        PackagingError, match="Cannot read big/random.dat: Permission denied"
    ) as info:
        ArchiveBuilder(opener=opener).build(select_files(project), out / "a.zip", {}, None)
    assert info.value.hint and ".cbdeployignore" in info.value.hint
    _assert_nothing_written(out)


def test_a_fifo_is_an_error_naming_it_and_leaves_no_archive(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    os.mkfifo(project / "pipe")
    selection = select_files(project)
    selection = Selection(selection.root, (*selection.files, SelectedFile("pipe")))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PackagingError, match="pipe.*not a regular file"):
        build_archive(selection, out / "a.zip")
    _assert_nothing_written(out)


@pytest.mark.parametrize("with_stats", [True, False])
def test_a_file_deleted_after_selection_is_an_error_naming_it(
    tmp_path: Path, with_stats: bool
) -> None:
    project = make_project(tmp_path / "p")
    selection = select_files(project)
    if not with_stats:  # a Selection built by hand: build_archive takes the stats itself
        selection = Selection(selection.root, selection.files)
    (project / "src" / "util" / "helpers.py").unlink()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PackagingError, match="src/util/helpers.py"):
        build_archive(selection, out / "a.zip")
    _assert_nothing_written(out)


@pytest.mark.parametrize("victim", ["src/app.py", "big/text.log.txt", "big/random.dat"])
def test_a_file_changing_while_read_is_an_error_naming_it(tmp_path: Path, victim: str) -> None:
    project = make_project(tmp_path / "p")
    selection = select_files(project)
    target = os.fsencode(project / victim)

    def opener(path: bytes) -> int:
        fd = default_open(path)
        if path == target:  # something writes to the file while it is being read
            with open(path, "ab") as handle:
                handle.write(b"appended")
        return fd

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PackagingError, match=f"{victim} changed while"):
        ArchiveBuilder(opener=opener).build(selection, out / "a.zip", {}, None)
    _assert_nothing_written(out)


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on tmpfs when there is one: 66,000 files on a slow disk take minutes."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="cbdeploy-test-", dir="/dev/shm"))
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path


def test_zip64_with_more_than_65535_entries(tmp_path: Path, fast_dir: Path) -> None:
    project = fast_dir / "many"
    project.mkdir()
    for d in range(66):
        sub = project / f"d{d:02d}"
        sub.mkdir()
        (sub / "seed").write_bytes(b"%d" % d)
        for i in range(999):  # hard links: real files, cheap to make
            os.link(sub / "seed", sub / f"{i}")
    result = build_archive(select_files(project), tmp_path / "many.zip")
    assert result.file_count == 66_000
    with zipfile.ZipFile(result.path) as archive:
        infos = archive.infolist()
        assert len(infos) == 66_001
        assert archive.read("d65/998") == b"65"
    data = result.path.read_bytes()
    assert data.rfind(b"PK\x06\x06") > 0 and data.rfind(b"PK\x06\x07") > 0
    if shutil.which("unzip"):
        check = subprocess.run(["unzip", "-tqq", str(result.path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_cached_repackage_rereads_only_the_changed_file_and_is_identical(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    cache = project / ".cbdeploy" / "cache"
    opened: list[str] = []

    def opener(path: bytes) -> int:
        opened.append(os.fsdecode(os.path.relpath(path, os.fsencode(project))))
        return default_open(path)

    def build(out: str, use_cache: bool) -> str:
        opened.clear()
        builder = ArchiveBuilder(opener=opener, clock_ns=lambda: FUTURE_NS)
        return builder.build(
            select_files(project), tmp_path / out, {}, cache if use_cache else None
        ).sha256

    first = build("first.zip", True)
    assert len(opened) == 10  # every regular file once (up to WHOLE, a file is read whole)
    assert build("second.zip", True) == first and opened == []
    (project / "src" / "app.py").write_bytes(b"print('changed')\n")
    (project / "big" / "random.dat").chmod(0o755)  # a mode change invalidates too
    third = build("third.zip", True)
    assert sorted(opened) == ["big/random.dat", "src/app.py"]
    cold = build("cold.zip", False)
    assert third == cold
    assert (tmp_path / "third.zip").read_bytes() == (tmp_path / "cold.zip").read_bytes()


def test_recently_modified_files_are_not_trusted_to_the_cache(tmp_path: Path) -> None:
    """A file written within the clock's resolution of the build could change unseen."""
    project = make_project(tmp_path / "p")
    cache = tmp_path / "cache"
    build_archive(select_files(project), tmp_path / "a.zip", cache_dir=cache)  # all files are new
    opened: list[bytes] = []

    def opener(path: bytes) -> int:
        opened.append(path)
        return default_open(path)

    ArchiveBuilder(opener=opener).build(select_files(project), tmp_path / "b.zip", {}, cache)
    assert len(opened) >= 10


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    cache = tmp_path / "cache"
    builder = ArchiveBuilder(clock_ns=lambda: FUTURE_NS)
    cold = builder.build(select_files(project), tmp_path / "a.zip", {}, cache).sha256
    with open(cache / "archive.zip", "r+b") as handle:  # changed behind the index's back
        handle.write(b"garbage")
    assert builder.build(select_files(project), tmp_path / "b.zip", {}, cache).sha256 == cold
    (cache / "index.bin").write_bytes(b"not an index")
    assert builder.build(select_files(project), tmp_path / "c.zip", {}, cache).sha256 == cold
    whole = (cache / "index.bin").read_bytes()
    for cut in (b"", whole[: len(whole) // 2]):  # empty (nothing to map), cut short
        (cache / "index.bin").write_bytes(cut)
        assert cache_module.ArchiveCache(cache).size == 0
        assert builder.build(select_files(project), tmp_path / "d.zip", {}, cache).sha256 == cold


def test_the_cache_works_when_the_output_is_on_another_filesystem(
    tmp_path: Path, fast_dir: Path
) -> None:
    """The cache keeps a hard link to the output when it can, a copy when it cannot."""
    project = make_project(tmp_path / "p")
    cache = project / ".cbdeploy" / "cache"
    builder = ArchiveBuilder(clock_ns=lambda: FUTURE_NS)
    first = builder.build(select_files(project), fast_dir / "a.zip", {}, cache)
    assert (cache / "archive.zip").read_bytes() == (fast_dir / "a.zip").read_bytes()
    again = builder.build(select_files(project), fast_dir / "b.zip", {}, cache)
    assert again.sha256 == first.sha256
    _wait_for_cache_cleanup()
    assert sorted(p.name for p in cache.iterdir()) == ["archive.zip", "index.bin"]


def _wait_for_cache_cleanup() -> None:
    """Replaced cached archives are deleted on a background thread: wait for it."""
    for thread in threading.enumerate():
        if thread.name == "cbdeploy-cache-cleanup":
            thread.join()


def test_replaced_cached_archives_are_deleted_with_any_a_killed_build_left(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "p")
    cache = tmp_path / "cache"
    builder = ArchiveBuilder(clock_ns=lambda: FUTURE_NS)
    first = builder.build(select_files(project), tmp_path / "a.zip", {}, cache)
    leftover = cache / ".archive.zip.4242.0badcafe.old"  # a build killed before deleting it
    leftover.write_bytes(b"an old archive")
    (cache / ".index.bin.4242.0badcafe.old").write_bytes(b"an old index")
    (project / "src" / "app.py").write_bytes(b"print('changed')\n")
    index_before = (cache / "index.bin").read_bytes()
    again = builder.build(select_files(project), tmp_path / "b.zip", {}, cache)
    assert again.sha256 != first.sha256
    _wait_for_cache_cleanup()  # (this build's old index was kept by a second name till then)
    assert sorted(p.name for p in cache.iterdir()) == ["archive.zip", "index.bin"]
    assert (cache / "index.bin").read_bytes() != index_before
    assert (cache / "archive.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert (tmp_path / "a.zip").read_bytes() != (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as old:  # the first output is left intact
        assert old.read("src/app.py") == b"print('hello')\n" * 200


@pytest.mark.parametrize("inline_bytes", [0, 1 << 40])
def test_compressing_on_the_writing_thread_or_in_the_pool_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline_bytes: int
) -> None:
    """Small jobs skip the thread pool (a re-package of one edited file); all in the pool
    (0) or all on the writing thread (unbounded), the archive is the same."""
    project = make_project(tmp_path / "p")
    reference = build_archive(select_files(project), tmp_path / "default.zip")
    monkeypatch.setattr(archive_module, "INLINE_BYTES", inline_bytes)
    result = build_archive(select_files(project), tmp_path / "forced.zip")
    assert (tmp_path / "forced.zip").read_bytes() == (tmp_path / "default.zip").read_bytes()
    assert result.sha256 == reference.sha256


def test_a_cached_copy_in_many_small_chunks_is_identical_and_hashed_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied runs are read in chunks into two buffers in turn while the previous chunk
    is hashed on another thread; tiny chunks make every run span many of them."""
    monkeypatch.setattr(cache_module, "CHUNK", 4096)
    project = make_project(tmp_path / "p")
    for i in range(40):  # many records, so that runs are long
        (project / "many" / f"f{i:02d}.txt").parent.mkdir(exist_ok=True)
        (project / "many" / f"f{i:02d}.txt").write_bytes(f"file {i}\n".encode() * 300)
    cache = tmp_path / "cache"
    builder = ArchiveBuilder(clock_ns=lambda: FUTURE_NS)
    builder.build(select_files(project), tmp_path / "first.zip", {}, cache)
    (project / "many" / "f20.txt").write_bytes(b"changed, and longer than before\n" * 400)
    warm = builder.build(select_files(project), tmp_path / "warm.zip", {}, cache)
    cold = builder.build(select_files(project), tmp_path / "cold.zip", {}, None)
    data = (tmp_path / "warm.zip").read_bytes()
    assert data == (tmp_path / "cold.zip").read_bytes()
    assert warm.sha256 == cold.sha256 == hashlib.sha256(data).hexdigest()


def test_a_repackage_that_shrinks_or_grows_the_archive_matches_a_cold_build(
    tmp_path: Path,
) -> None:
    """A re-package reserves the previous archive's size up front, then trims what is
    left over: an archive that shrank ends where its data ends, one that grew past
    the reservation is complete."""
    project = make_project(tmp_path / "p")
    cache = tmp_path / "cache"
    builder = ArchiveBuilder(clock_ns=lambda: FUTURE_NS)
    builder.build(select_files(project), tmp_path / "first.zip", {}, cache)

    def check(name: str) -> int:
        warm = builder.build(select_files(project), tmp_path / f"{name}.zip", {}, cache)
        cold = builder.build(select_files(project), tmp_path / "cold.zip", {}, None)
        data = warm.path.read_bytes()
        assert len(data) == warm.size
        assert hashlib.sha256(data).hexdigest() == warm.sha256 == cold.sha256
        with zipfile.ZipFile(warm.path) as archive:
            assert archive.testzip() is None
        return warm.size

    before = (tmp_path / "first.zip").stat().st_size
    (project / "big" / "random.dat").unlink()
    shrunk = check("shrunk")
    assert shrunk < before - LARGE
    (project / "more.dat").write_bytes(random.Random(3).randbytes(3 * LARGE))
    assert check("grown") > shrunk + writer_module.RESERVE_SLACK + LARGE


JAN_2021_NS = 1609459200 * 10**9


def _rewrite_keeping_mtime(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to ``path`` and put its mtime back, as ``touch -d``, ``cp -p`` or
    ``rsync -t`` leave a file (``replace``: a new file renamed over it, a new inode)."""
    st = os.stat(path)
    if replace:
        fresh = path.with_name(path.name + ".new")
        fresh.write_bytes(data)
        os.chmod(fresh, stat.S_IMODE(st.st_mode))
        os.replace(fresh, path)
    else:
        path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_restored_mtime_does_not_hide_a_change_from_the_cache(tmp_path: Path) -> None:
    """The reported case, at the archive: same size, same mode, mtime put back. The
    clock runs 3 s ahead, so no entry is racily clean: the ctime alone must tell."""
    project = make_project(tmp_path / "p")
    version = project / "version.txt"
    version.write_bytes(b"version=CCCC\n")
    os.utime(version, ns=(JAN_2021_NS, JAN_2021_NS))
    cache = tmp_path / "cache"
    opened: list[str] = []

    def opener(path: bytes) -> int:
        opened.append(os.fsdecode(os.path.relpath(path, os.fsencode(project))))
        return default_open(path)

    builder = ArchiveBuilder(opener=opener, clock_ns=lambda: time.time_ns() + 3 * 10**9)
    builder.build(select_files(project), tmp_path / "first.zip", {}, cache)
    _rewrite_keeping_mtime(version, b"version=DDDD\n")
    opened.clear()
    builder.build(select_files(project), tmp_path / "second.zip", {}, cache)
    assert opened == ["version.txt"]  # the others' records are copied, unread
    with zipfile.ZipFile(tmp_path / "second.zip") as archive:
        assert archive.read("version.txt") == b"version=DDDD\n"


def test_changes_that_keep_the_mtime_always_give_the_archive_a_cold_build_gives(
    tmp_path: Path,
) -> None:
    """Property, as a seeded random loop: whatever is rewritten (same size or not, in
    place or replaced, mode changed or not) with its mtime put back, a cached
    re-package is byte for byte the archive built with no cache."""
    rng = random.Random(20210101)
    project = make_project(tmp_path / "p")
    files = [project / f"f{i}.txt" for i in range(12)] + [project / "big" / "random.dat"]
    for path in files[:12]:
        path.write_bytes(b"v0 " * rng.randint(0, 40))
    for path in files:
        os.utime(path, ns=(JAN_2021_NS, JAN_2021_NS + rng.randint(0, 10**9)))
    cache = tmp_path / "cache"
    build_archive(select_files(project), tmp_path / "start.zip", cache_dir=cache)
    for round_ in range(30):
        for path in rng.sample(files, rng.randint(0, 4)):
            old = path.read_bytes()
            if rng.random() < 0.6 and old:  # same size: only the bytes differ
                data = bytes(rng.getrandbits(8) for _ in range(min(len(old), 64))) + old[64:]
            else:
                data = old[: rng.randint(0, len(old))] + f"round {round_}\n".encode()
            _rewrite_keeping_mtime(path, data, replace=rng.random() < 0.3)
            if rng.random() < 0.2:
                path.chmod(path.stat().st_mode ^ 0o100)
        warm = build_archive(select_files(project), tmp_path / "warm.zip", cache_dir=cache)
        cold = build_archive(select_files(project), tmp_path / "cold.zip")
        assert (tmp_path / "warm.zip").read_bytes() == (tmp_path / "cold.zip").read_bytes(), (
            f"round {round_}"
        )
        assert warm.sha256 == cold.sha256


def test_a_racily_clean_entry_is_reused_only_if_its_content_matches(tmp_path: Path) -> None:
    """Git's rule: a file changed within the clock tick of its recorded stat could keep
    that stat. Such an entry (mtime or ctime not clearly older than the index) is read
    again and its digest compared. The stat a coarse clock would have kept is forged
    here in the index itself, so the digest is all that stands between the build and
    the stale record."""
    project = make_project(tmp_path / "p")
    app = project / "src" / "app.py"
    cache = tmp_path / "cache"
    build_archive(select_files(project), tmp_path / "first.zip", cache_dir=cache)
    index = cache_module.ArchiveCache(cache)
    row = index.rows[b"src/app.py"]
    assert index.needs_check(row) and row[table_module.DIGEST] != bytes(16)
    opened: list[bytes] = []

    def opener(path: bytes) -> int:
        opened.append(path)
        return default_open(path)

    # Unchanged: read again, digest equal, record reused.
    again = ArchiveBuilder(opener=opener).build(
        select_files(project), tmp_path / "b.zip", {}, cache
    )
    assert os.fsencode(app) in opened
    assert again.sha256 == hashlib.sha256((tmp_path / "first.zip").read_bytes()).hexdigest()
    # Changed, same size, and (forged) the very stat recorded: the digest tells.
    index = cache_module.ArchiveCache(cache)
    _rewrite_keeping_mtime(app, b"print('HELLO')\n" * 200)
    now = FileStat.of(os.stat(app))
    rows = [
        (name, (*now, *r[table_module.KEY :]) if name == b"src/app.py" else r)
        for name, r in index.rows.items()
    ]
    written = index.written_ns
    index.close()
    cache_module.ArchiveCache(cache).save(cache / "archive.zip", rows, written)
    assert cache_module.ArchiveCache(cache).rows[b"src/app.py"][: table_module.KEY] == now
    build_archive(select_files(project), tmp_path / "c.zip", cache_dir=cache)
    with zipfile.ZipFile(tmp_path / "c.zip") as archive:
        assert archive.read("src/app.py") == b"print('HELLO')\n" * 200
