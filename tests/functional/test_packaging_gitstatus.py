"""A warm selection (git status on the cache's copy of the index) against a cold one.

Real git throughout. After each change to the work tree or the repository, the
selection a build with the package cache makes (the second and later: git status
on ``git-index``, the recorded listing, the stats git vouches for) must be the
selection a build without a cache makes, stat for stat; and the archive a
re-package writes must be the bytes ``--no-cache`` writes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.main import main
from cbdeploy.client.config.statedir import cache_dir
from cbdeploy.client.packaging import gitcmd, gitstatus, listing, select_files
from cbdeploy.client.packaging.model import Selection
from tests.gitrepo import git

pytestmark = pytest.mark.usefixtures("hermetic_git")


def _tree(root: Path) -> None:
    for i in range(40):
        folder = root / f"pkg{i % 4}" / ("src" if i % 3 else "test")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.js").write_text(f"export const v{i} = {i};\n" * (i + 1))
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "linked.js").symlink_to("pkg0/src/f1.js")
    (root / "kept.txt").write_text("kept\n")
    (root / "hidden.txt").write_text("assume unchanged\n")
    (root / "sparse.txt").write_text("skip worktree\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    _tree(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    return root


def _warm(root: Path) -> Selection:
    cache = cache_dir(root)  # (its folder ignored by git, as cbdeploy makes it)
    cache.mkdir(exist_ok=True)  # (as a build with it does)
    selection = select_files(root, cache_dir=cache)
    gitstatus.remember(selection, cache)
    return selection


def _same_as_cold(root: Path) -> Selection:
    """A warm selection, checked against a cold one made right after it."""
    warm = _warm(root)
    cold = select_files(root)
    assert warm.files == cold.files
    assert dict(warm.stats) == dict(cold.stats)
    assert warm.untracked == cold.untracked
    assert warm.skipped_repos == cold.skipped_repos
    return warm


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _same_size_same_mtime(path: Path) -> None:
    st = path.stat()
    data = path.read_bytes()
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # only the ctime tells


CHANGES: dict[str, Callable[[Path], object]] = {
    "append": lambda r: _write(r / "pkg1/src/f1.js", "changed\n"),
    "same size, mtime put back": lambda r: _same_size_same_mtime(r / "pkg2/src/f2.js"),
    "untracked file": lambda r: _write(r / "pkg0/src/new.js", "new\n"),
    "untracked directory": lambda r: _write(r / "fresh/deep/a.js", "a\n"),
    "ignored file": lambda r: _write(r / "pkg0/debug.log", "log\n"),
    "delete": lambda r: (r / "pkg3/src/f7.js").unlink(),
    "chmod +x": lambda r: (r / "kept.txt").chmod(0o755),
    "file becomes link": lambda r: ((r / "pkg1/src/f5.js").unlink(),
                                    (r / "pkg1/src/f5.js").symlink_to("f1.js")),
    "file becomes folder": lambda r: ((r / "pkg2/src/f10.js").unlink(),
                                      _write(r / "pkg2/src/f10.js/inner.js", "i\n")),
    "folder becomes file": lambda r: (shutil.rmtree(r / "pkg3/test"),
                                      _write(r / "pkg3/test", "now a file\n")),
    "git add": lambda r: git(r, "add", "pkg0/src/new.js"),
    "git commit": lambda r: git(r, "commit", "-qm", "second"),
    "assume-unchanged file edited": lambda r: (
        git(r, "update-index", "--assume-unchanged", "hidden.txt"),
        _write(r / "hidden.txt", "edited behind git's back\n")),
    "skip-worktree file edited": lambda r: (
        git(r, "update-index", "--skip-worktree", "sparse.txt"),
        _write(r / "sparse.txt", "edited, git looks away\n")),
    ".gitignore": lambda r: _write(r / ".gitignore", "*.log\nbuild/\nfresh/\n"),
    ".cbdeployignore": lambda r: _write(r / ".cbdeployignore", "pkg3/\n"),
    "nested repository": lambda r: (_write(r / "vendor/lib/x.js", "x\n"),
                                     git(r / "vendor/lib", "init", "-q")),
    "checkout a file back": lambda r: git(r, "checkout", "--", "pkg1/src/f1.js"),
    "touch": lambda r: os.utime(r / "pkg2/test/f6.js"),
}


def test_every_change_is_seen_as_a_cold_selection_sees_it(repo: Path) -> None:
    """Each change, then two warm selections (the first after a change of the index
    lists afresh and copies it again; the second takes the record); each equal to a
    cold one."""
    for _ in range(3):  # a record, then git's untracked cache, then fully warm
        _same_as_cold(repo)
    recorded = []
    for name, change in CHANGES.items():
        change(repo)
        for _ in range(2):
            warm = _same_as_cold(repo)
            assert warm.git_facts is not None, name
            recorded.append(warm.git_facts.files is _listing_of(warm))
    assert sum(recorded) > len(recorded) // 2  # most took the recorded listing


def _listing_of(selection: Selection) -> bytes | None:
    facts = selection.git_facts
    return facts.record.files if facts is not None and facts.record is not None else None


def test_in_a_subdirectory_of_the_work_tree(repo: Path) -> None:
    """The root is a folder of the repository: git status's paths are made relative to it,
    and an untracked file outside it is not the project's."""
    root = repo / "pkg1"
    for _ in range(3):
        _same_as_cold(root)
    _write(repo / "pkg1/src/f1.js", "changed\n")
    _write(repo / "pkg1/untracked.js", "u\n")
    _write(repo / "outside.js", "o\n")
    warm = _same_as_cold(root)
    assert "untracked.js" in {f.path for f in warm.files}


def test_a_warm_selection_runs_git_status_alone_and_never_writes_the_index(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once warm, one git process lists: status on the copy, with its untracked cache;
    ls-files only where it named untracked paths. The user's index is never written."""
    for _ in range(3):
        _warm(repo)
    index = (repo / ".git/index").stat()
    _write(repo / "pkg1/src/f1.js", "changed\n")
    _write(repo / "pkg0/src/new.js", "new\n")
    started: list[list[str]] = []
    real = gitcmd.Pending.__init__

    def recording(self: gitcmd.Pending, args: list[str], *rest: object, **kw: object) -> None:
        started.append(list(args))
        real(self, args, *rest, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(gitcmd.Pending, "__init__", recording)
    ran: list[list[str]] = []
    real_run = gitcmd.run_git
    monkeypatch.setattr(listing, "run_git",
                        lambda args, *a, **k: ran.append(list(args)) or real_run(args, *a, **k))
    warm = _warm(repo)
    assert [args[args.index("status")] for args in started] == ["status"]
    assert ran == [["--literal-pathspecs", "ls-files", "-z", "--others", "--exclude-standard",
                    "--", "pkg0/src/new.js"]]
    assert "pkg0/src/new.js" in {f.path for f in warm.files}
    assert (repo / ".git/index").stat().st_mtime_ns == index.st_mtime_ns
    assert (repo / ".git/index").stat().st_ino == index.st_ino


def test_git_status_that_fails_falls_back_to_listing(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy git cannot read (corrupt): the selection lists as a cold one does."""
    for _ in range(3):
        _warm(repo)
    (repo / ".cbdeploy/cache" / gitstatus.PRIVATE).write_bytes(b"not an index")
    _write(repo / "pkg0/src/new.js", "new\n")
    _write(repo / "pkg1/src/f1.js", "changed\n")
    warm = _same_as_cold(repo)
    assert "pkg0/src/new.js" in {f.path for f in warm.files}


def _package(*args: str) -> bytes:
    result = CliRunner().invoke(main, ["package", "-o", "../out.zip", *args])
    assert result.exit_code == 0, result.output
    return Path("../out.zip").read_bytes()


def test_a_re_package_writes_the_bytes_no_cache_writes(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Through the command: after each change, the warm archive is the cold one."""
    monkeypatch.chdir(repo)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    for _ in range(3):
        assert _package() == _package("--no-cache")
    for name in ("append", "same size, mtime put back", "untracked file", "chmod +x",
                 "assume-unchanged file edited", "git add", "checkout a file back"):
        CHANGES[name](repo)
        assert _package() == _package("--no-cache"), name
        assert _package() == _package("--no-cache"), name


def test_a_build_that_finds_the_record_locked_leaves_it(repo: Path) -> None:
    """Another build holds the lock (it is changing the copy and the record): this one
    changes neither, and the next that gets the lock records its index."""
    import fcntl

    for _ in range(2):
        _warm(repo)
    cache = repo / ".cbdeploy/cache"
    before = (cache / gitstatus.RECORD).read_bytes()
    _write(repo / "added.js", "a\n")
    git(repo, "add", "added.js")
    with open(cache / gitstatus.LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _same_as_cold(repo)
        assert (cache / gitstatus.RECORD).read_bytes() == before
    _same_as_cold(repo)
    assert (cache / gitstatus.RECORD).read_bytes() != before
    warm = _same_as_cold(repo)
    assert warm.git_facts is not None and warm.git_facts.files is _listing_of(warm)


def test_the_copy_leaves_the_repository_alone(repo: Path) -> None:
    """With a split index and a staged file (a tree HEAD does not have), making the copy
    writes neither a shared index nor an object into the repository, and the warm
    selection still equals the cold one."""
    git(repo, "config", "core.splitIndex", "true")
    git(repo, "update-index", "--split-index")
    _write(repo / "pkg0/src/staged.js", "s\n")
    git(repo, "add", "pkg0/src/staged.js")
    before = sorted(p.relative_to(repo) for p in (repo / ".git").rglob("*"))
    for _ in range(3):
        warm = _same_as_cold(repo)
    assert warm.git_facts is not None and warm.git_facts.files is _listing_of(warm)
    after = sorted(p.relative_to(repo) for p in (repo / ".git").rglob("*"))
    assert after == before


@pytest.mark.parametrize("prime", [False, True])
def test_a_deploy_primes_the_new_copy_with_gits_untracked_cache(repo: Path, prime: bool) -> None:
    """A new copy of the index gets git's untracked cache at once where the build asks
    (a deploy, whose build runs meanwhile), else from the next git status."""
    cache = cache_dir(repo)
    cache.mkdir(exist_ok=True)
    gitstatus.remember(select_files(repo, cache_dir=cache), cache, prime=prime)
    made = (cache / gitstatus.PRIVATE).stat().st_size
    _same_as_cold(repo)  # git status fills the cache where the copy came without it
    assert ((cache / gitstatus.PRIVATE).stat().st_size > made) is not prime
