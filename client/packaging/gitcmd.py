"""Running git: for file selection (a clean environment, a throwaway GIT_DIR) and the repository facts a deploy records.

Plain ``git`` subprocesses, not GitPython: selection must be git's own rules
exactly, and :func:`git_info` needs one ``git status`` call where GitPython
would make several (and cost about 90 ms of imports).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cbdeploy.client.errors import PackagingError

# Variables that would point git at another repository than the one we ask about.
_REPO_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_VARIABLES}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # listing must never take the index lock
    return env


def run_git(
    args: Sequence[str], cwd: Path, *, check: bool = True, env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args`` in ``cwd`` (``env``: instead of :func:`git_env`'s); raise
    :class:`PackagingError` when it fails."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env or git_env(), capture_output=True, check=False,
            input=stdin,
        )
    except FileNotFoundError as exc:
        raise _no_git() from exc
    if check:
        checked_output(proc, cwd)
    return proc


class Pending:
    """A git command started in the background; :meth:`result` waits for it."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.args = ["git", *args]
        try:
            self.proc = subprocess.Popen(
                self.args, cwd=cwd, env=env or git_env(), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise _no_git() from exc

    def result(self) -> subprocess.CompletedProcess[bytes]:
        out, err = self.proc.communicate()
        return subprocess.CompletedProcess(self.args, self.proc.returncode, out, err)


def start_git(commands: Sequence[Sequence[str]], cwd: Path) -> list[Pending]:
    """Start several git commands at once (they only read); wait with ``.result()``."""
    return [Pending(args, cwd) for args in commands]


def checked_output(proc: subprocess.CompletedProcess[bytes], cwd: Path) -> bytes:
    """``proc``'s output, or :class:`PackagingError` when it failed."""
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip()
        command = " ".join(str(a) for a in proc.args[:3])
        raise PackagingError(
            f"{command} failed in {cwd}: {detail}",
            "Check that the directory is a readable git work tree (try 'git status' there).",
        )
    return proc.stdout


def _no_git() -> PackagingError:
    return PackagingError(
        "git is not installed or not on PATH.",
        "cbdeploy selects files exactly as git does; install git and retry.",
    )


def split_z(output: bytes) -> Iterator[bytes]:
    """The NUL-separated records of a ``-z`` listing."""
    for record in output.split(b"\0"):
        if record:
            yield record


@contextmanager
def throwaway_git_dir() -> Iterator[Path]:
    """An empty repository git accepts as ``--git-dir``: no index, no config, no excludes."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cbdeploy-git-") as tmp:
        git_dir = Path(tmp)
        (git_dir / "objects").mkdir()
        (git_dir / "refs").mkdir()
        (git_dir / "HEAD").write_text("ref: refs/heads/main\n")
        yield git_dir


@dataclass(frozen=True)
class GitInfo:
    """The project's git state at packaging time (None fields when unknown)."""

    commit: str | None
    branch: str | None
    dirty: bool


def git_info(project_root: Path, *, untracked: bool | None = None) -> GitInfo | None:
    """Commit, branch and dirtiness of the work tree at ``project_root``; None outside git.

    Dirty counts untracked files that are not ignored, since those are shipped too.
    One ``git status`` call, in the same clean environment as the file selection
    (so it describes the repository that is packaged); a missing git binary is
    treated as "not in git". ``untracked``: whether the selection already found an
    untracked file to ship; git then looks at tracked files only (``-uno``), which
    spares it the walk of the tree for untracked ones (most of its time on a large
    tree).
    """
    look = ["--untracked-files=no"] if untracked is not None else []
    try:
        result = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", *look],
            cwd=project_root,
            env=git_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    commit = branch = None
    dirty = bool(untracked)
    for line in result.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    return GitInfo(commit=commit, branch=branch, dirty=dirty)
