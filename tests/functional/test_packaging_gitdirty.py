"""A warm deploy's git state (``packaging.gitdirty``) against the whole ``git status``.

Real git throughout. Each "deploy" here does what ``cbdeploy deploy`` does with the
package cache: a warm selection, the git state, then (once the build is started) the
records for the next one. After each change to the work tree or the repository, the
git state told from the records must be the one ``git_info`` gets from the whole
``git status``; and where the index is the recorded one, it must be told without
that whole status (git asked about the changed files by name, or not at all).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from cbdeploy.client.config.statedir import cache_dir
from cbdeploy.client.packaging import gitdirty, select_files
from cbdeploy.client.packaging.gitcmd import GitInfo, git_info, run_git
from tests.gitrepo import git

pytestmark = pytest.mark.usefixtures("hermetic_git")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _age(root: Path) -> None:
    """Every file's mtime 10 s back: the index written next trusts their stats (an entry
    modified in the second of its index is racily clean, and always asked about)."""
    past = time.time() - 10
    for folder, dirs, files in os.walk(root, topdown=False):
        if "/.git" in folder:
            continue
        for name in files + dirs:
            os.utime(os.path.join(folder, name), (past, past), follow_symlinks=False)
    os.utime(root, (past, past))


def _tree(root: Path) -> None:
    for i in range(30):
        _write(root / f"pkg{i % 3}" / ("src" if i % 2 else "test") / f"f{i}.js", f"v{i}\n" * i)
    _write(root / "run.sh", "#!/bin/sh\necho hi\n")
    _write(root / ".gitignore", "*.log\n")
    _write(root / "kept.txt", "kept\n")
    (root / "linked.js").symlink_to("pkg0/src/f3.js")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    _tree(root)
    _age(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    return root


class Recorder:
    """The git runner, recording each command it runs (then running it)."""

    def __init__(self) -> None:
        self.ran: list[list[str]] = []

    def __call__(self, args: list[str], *rest: Any, **kw: Any) -> CompletedProcess[bytes]:
        self.ran.append(list(args))
        return run_git(args, *rest, **kw)


def _deploy(root: Path, project: Path | None = None) -> tuple[GitInfo | None, GitInfo | None,
                                                                 Recorder]:
    """One deploy's git states: told from the records (None: they could not tell) and
    from the whole git status; then the records a started build leaves."""
    project = project or root
    cache = cache_dir(project)
    cache.mkdir(exist_ok=True)
    selection = select_files(project, cache_dir=cache)
    recorder = Recorder()
    warm = gitdirty.warm_git_info(selection, cache, run=recorder)
    full = git_info(project, untracked=selection.untracked)
    gitdirty.remember_deployed(selection, cache, follow_links=False)
    return warm, full, recorder


def _same_as_full(root: Path, project: Path | None = None) -> tuple[GitInfo | None, Recorder]:
    warm, full, recorder = _deploy(root, project)
    assert full is not None
    assert warm is None or warm == full, (warm, full)
    for args in recorder.ran:  # never the whole status: the changed files by name
        assert args[:2] == ["--literal-pathspecs", "status"] and args.index("--") < len(args) - 1
    return warm, recorder


def _same_size_same_mtime(path: Path) -> None:
    st = path.stat()
    data = path.read_bytes()
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # only the ctime tells


def _fresh_index(root: Path) -> None:
    """The index written again, every entry's stat taken afresh (and trusted: aged)."""
    _age(root)
    git(root, "read-tree", "HEAD")
    git(root, "update-index", "-q", "--refresh")


def _link_instead(path: Path, target: str) -> None:
    path.unlink()
    path.symlink_to(target)


def _folder_moved_and_linked(root: Path) -> None:
    """A tracked folder moved away (same inodes, same stats) and a link in its place, the
    link ignored: git takes its files as deleted, their lstat sees them unchanged."""
    (root / ".git/info/exclude").write_text("pkg2/test\n")
    (root / "pkg2/test").rename(root.parent / "moved")
    (root / "pkg2/test").symlink_to(root.parent / "moved")


def _folder_back(root: Path) -> None:
    (root / "pkg2/test").unlink()
    (root / root.parent / "moved").rename(root / "pkg2/test")


CHANGES: dict[str, Callable[[Path], object]] = {
    "nothing": lambda r: None,
    "edit": lambda r: _write(r / "pkg1/src/f1.js", "changed\n"),
    "edit back to the committed content": lambda r: _write(r / "pkg1/src/f1.js", "v1\n"),
    "touch": lambda r: os.utime(r / "pkg0/test/f6.js"),
    "same size, mtime put back": lambda r: _same_size_same_mtime(r / "pkg2/src/f5.js"),
    "same size, mtime put back, back again": lambda r: _same_size_same_mtime(
        r / "pkg2/src/f5.js"),
    "chmod +x": lambda r: (r / "kept.txt").chmod(0o755),
    "chmod -x": lambda r: (r / "kept.txt").chmod(0o644),
    "file becomes a link": lambda r: _link_instead(r / "pkg1/src/f7.js", "f1.js"),
    "link becomes the file again": lambda r: (
        (r / "pkg1/src/f7.js").unlink(), git(r, "checkout", "--", "pkg1/src/f7.js")),
    "link retargeted": lambda r: _link_instead(r / "linked.js", "pkg0/src/f9.js"),
    "link put back": lambda r: _link_instead(r / "linked.js", "pkg0/src/f3.js"),
    "delete": lambda r: (r / "pkg0/test/f0.js").unlink(),
    "restore": lambda r: git(r, "checkout", "--", "pkg0/test/f0.js"),
    "untracked file": lambda r: _write(r / "pkg0/new.js", "new\n"),
    "untracked file removed": lambda r: (r / "pkg0/new.js").unlink(),
    "ignored file": lambda r: _write(r / "debug.log", "log\n"),
    "git add": lambda r: (_write(r / "pkg0/src/f3.js", "staged\n"), git(r, "add", "-u")),
    "git commit": lambda r: git(r, "commit", "-qm", "second"),
    "edit right after the commit, same size": lambda r: _write(r / "pkg0/src/f3.js",
                                                               "STAGED\n"),
    "git checkout -- the file": lambda r: git(r, "checkout", "--", "pkg0/src/f3.js"),
    # changes between a new index and the first record of it, which the record must see
    "new index, a second later an edit only the ctime tells": lambda r: (
        _fresh_index(r), time.sleep(1.05), _same_size_same_mtime(r / "pkg2/src/f11.js")),
    "new index, then chmod -x": lambda r: (
        git(r, "checkout", "--", "pkg2/src/f11.js"), _fresh_index(r),
        (r / "run.sh").chmod(0o644)),
    "chmod back": lambda r: (r / "run.sh").chmod(0o755),
    "another branch": lambda r: git(r, "checkout", "-q", "-b", "other"),
    "soft reset (HEAD moves, the index stays)": lambda r: git(r, "reset", "-q", "--soft",
                                                              "HEAD~1"),
    "commit again": lambda r: git(r, "commit", "-qm", "again"),
    "detached HEAD": lambda r: git(r, "checkout", "-q", "--detach"),
    "back on main": lambda r: git(r, "checkout", "-q", "main"),
    "intent to add": lambda r: (_write(r / "later.js", "l\n"), git(r, "add", "-N", "later.js")),
    "intent dropped": lambda r: (git(r, "rm", "-q", "--cached", "later.js"),
                                 (r / "later.js").unlink()),
    "folder moved, an ignored link in its place": _folder_moved_and_linked,
    "folder back": _folder_back,
}


def test_every_change_gets_the_state_the_whole_git_status_gets(repo: Path) -> None:
    """After each change, two deploys: each told the state ``git status`` tells; the
    second (the index is recorded: the first recorded it where it changed) without the
    whole status, but after a folder became a link."""
    for _ in range(2):
        _same_as_full(repo)
    told = []
    for name, change in CHANGES.items():
        change(repo)
        _same_as_full(repo)
        warm, _ = _same_as_full(repo)
        told.append(name) if warm is not None else None
    assert told == [n for n in CHANGES if n != "folder moved, an ignored link in its place"]


def test_an_unchanged_tree_asks_git_nothing_and_an_edit_asks_of_that_file(repo: Path) -> None:
    """With the index recorded and nothing changed, git is not run at all (HEAD and the
    staged changes come from the selection's git status); an edited file is asked about
    by its name alone."""
    for _ in range(2):
        _same_as_full(repo)
    warm, recorder = _same_as_full(repo)
    assert warm == GitInfo(git(repo, "rev-parse", "HEAD").decode().strip(), "main", False)
    assert recorder.ran == []
    _write(repo / "pkg1/src/f1.js", "changed\n")
    warm, recorder = _same_as_full(repo)
    assert warm is not None and warm.dirty
    assert recorder.ran == [["--literal-pathspecs", "status", "--porcelain=v2", "-z",
                             "--untracked-files=no", "--no-renames", "--", "pkg1/src/f1.js"]]


def test_a_deploy_does_not_run_the_whole_status_once_warm(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy's entry point falls back to ``git_info`` only where the records
    cannot tell: not for a warm deploy of an edited tree."""
    for _ in range(2):
        _same_as_full(repo)
    _write(repo / "pkg1/src/f1.js", "changed\n")
    whole: list[object] = []
    monkeypatch.setattr(gitdirty, "git_info", lambda *a, **k: whole.append(a) or git_info(*a, **k))
    cache = cache_dir(repo)
    selection = select_files(repo, cache_dir=cache)
    info = gitdirty.deploy_git_info(repo, selection, cache)
    assert info is not None and info.dirty and whole == []
    assert gitdirty.deploy_git_info(repo, selection, cache, follow_links=True) == info
    assert len(whole) == 1  # (a followed link's stat is its target's: the whole status)


def test_too_many_changed_files_run_the_whole_status(repo: Path) -> None:
    for _ in range(2):
        _same_as_full(repo)
    monkey_limit = gitdirty.MAX_ASKED
    try:
        gitdirty.MAX_ASKED = 2
        for i in (0, 2, 4):
            os.utime(repo / f"pkg0/test/f{i * 3}.js")
        warm, recorder = _same_as_full(repo)
        assert warm is None and recorder.ran == []
    finally:
        gitdirty.MAX_ASKED = monkey_limit


def test_in_a_subdirectory_files_outside_it_count(repo: Path) -> None:
    """The root is a folder of the repository: a tracked file outside it, which the
    selection never saw, counts as git status counts it."""
    project = repo / "pkg1"
    for _ in range(2):
        _same_as_full(repo, project)
    warm, recorder = _same_as_full(repo, project)
    assert warm is not None and not warm.dirty and recorder.ran == []
    _write(repo / "pkg2/src/f5.js", "changed outside\n")
    warm, recorder = _same_as_full(repo, project)
    assert warm is not None and warm.dirty
    _write(repo / "pkg2/src/f5.js", "v5\n" * 5)  # (the committed content, a new stat)
    for _ in range(2):
        warm, recorder = _same_as_full(repo, project)
        assert warm is not None and not warm.dirty


def test_a_repository_without_commits(tmp_path: Path) -> None:
    """No HEAD yet: staged files make it dirty; with none staged, untracked ones do."""
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    _write(root / "a.js", "a\n")
    for _ in range(3):
        warm, _ = _same_as_full(root)
    git(root, "add", "a.js")
    for _ in range(3):
        warm, _ = _same_as_full(root)
    assert warm == GitInfo(None, "main", True)


def test_no_record_with_a_gitlink(repo: Path) -> None:
    """A gitlink (a submodule): git status looks into it, so no record is made and the
    deploy runs the whole status."""
    sub = repo.parent / "sub"
    sub.mkdir()
    git(sub, "init", "-q")
    _write(sub / "x", "x\n")
    git(sub, "add", "x")
    git(sub, "commit", "-qm", "s")
    git(repo, "update-index", "--add", "--cacheinfo",
        f"160000,{git(sub, 'rev-parse', 'HEAD').decode().strip()},vendor")
    for _ in range(3):
        warm, _ = _same_as_full(repo)
        assert warm is None
    assert not (cache_dir(repo) / gitdirty.ENTRIES).exists()



def test_folders_are_checked_where_gits_untracked_cache_saw_a_change(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a record's folders were checked, a deploy checks them again only where git
    status on the copy found a folder changed (its untracked cache re-read one)."""
    checked: list[list[bytes]] = []
    real = gitdirty._any_link
    monkeypatch.setattr(gitdirty, "_any_link",
                        lambda entries, folders: checked.append(folders) or real(entries, folders))
    for _ in range(2):
        _same_as_full(repo)
    _age(repo)  # (a folder changed in the second git's untracked cache saw it is re-read)
    for _ in range(2):
        _same_as_full(repo)
    checked.clear()
    warm, _ = _same_as_full(repo)
    assert warm is not None and checked[0] == []  # (and then the record's, off the path)
    _write(repo / "pkg0/src/debug.log", "an ignored file: its folder changed\n")
    checked.clear()
    warm, _ = _same_as_full(repo)
    assert warm is not None and b"pkg0/src" in checked[0]


def test_a_folder_git_never_walks_is_always_checked(repo: Path) -> None:
    """Tracked files in an ignored folder (added with -f): git's untracked cache never
    walks it, so a folder there that becomes a link is found by its own check."""
    _write(repo / ".gitignore", "*.log\nvendor/\n")
    _write(repo / "vendor/lib/a.js", "a\n")
    _age(repo)
    git(repo, "add", "-f", ".gitignore", "vendor/lib/a.js")
    git(repo, "commit", "-qm", "vendored")
    for _ in range(2):
        _same_as_full(repo)
    _age(repo)  # (no folder changed in the second git's untracked cache saw it)
    for _ in range(2):
        warm, _ = _same_as_full(repo)
    assert warm is not None and not warm.dirty
    selection = select_files(repo, cache_dir=cache_dir(repo))
    assert selection.git_facts is not None and selection.git_facts.head is not None
    assert selection.git_facts.head.folders_unchanged
    (repo / "vendor/lib").rename(repo.parent / "lib")
    (repo / "vendor/lib").symlink_to(repo.parent / "lib")
    for _ in range(2):
        warm, _ = _same_as_full(repo)
        assert warm is None
