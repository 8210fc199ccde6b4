"""Which files changed: since a commit, plus what is not committed yet (``deploy --affected``).

Paths are POSIX and relative to the folder asked about (a workspace root, which
may sit below the repository's top): every command runs there with
``--relative`` (``ls-files`` is relative on its own), so changes outside that
folder, which are not shipped either, never appear. Names come NUL-separated
(``-z``) and are decoded as the file system does (``os.fsdecode``), so a name
with a newline, quotes or undecodable bytes is one path like any other.

A rename counts on both sides (``--no-renames`` lists it as a deletion and an
addition): the old path may be what a service's ``paths`` match. Untracked
files count unless git ignores them, since those are shipped too. All of it in
:mod:`~cbdeploy.client.packaging.gitcmd`'s clean environment, so ``GIT_DIR``
and friends from the caller never point at another repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cbdeploy.client.errors import PackagingError, UsageError
from cbdeploy.client.packaging.gitcmd import checked_output, run_git, split_z, start_git

# Where to look for the default branch, in order: the remote's default, then
# the usual local names, then the remote's (a CI checkout often has no local main).
DEFAULT_BRANCHES = ("origin/HEAD", "main", "master", "origin/main", "origin/master")
_DIFF = ("diff", "--name-only", "-z", "--no-renames", "--relative", "--no-color", "--no-ext-diff")


@dataclass(frozen=True)
class WorkTree:
    """The state of the work tree at ``root``: its commit and what is not committed."""

    commit: str | None  # HEAD; None before the first commit
    pending: tuple[str, ...]  # changed, staged or untracked-but-not-ignored files, sorted

    @property
    def dirty(self) -> bool:
        return bool(self.pending)


def work_tree(root: Path) -> WorkTree | None:
    """HEAD and the uncommitted files under ``root``; None when ``root`` is not in a git work tree."""
    try:
        probe = run_git(["rev-parse", "--is-inside-work-tree"], root, check=False)
    except PackagingError:  # no git on this machine: no work tree either, as for git_info
        return None
    if probe.returncode != 0 or probe.stdout.strip() != b"true":
        return None
    commit = resolve(root, "HEAD")
    commands = [["ls-files", "-z", "--others", "--exclude-standard"]]
    if commit is not None:
        commands.append([*_DIFF, "HEAD"])  # the work tree and the index against HEAD
    else:  # no commit yet: everything in the index is new
        commands.append(["ls-files", "-z", "--cached"])
    found: set[str] = set()
    for pending in start_git(commands, root):
        found.update(_paths(checked_output(pending.result(), root)))
    return WorkTree(commit=commit, pending=tuple(sorted(found)))


def resolve(root: Path, ref: str) -> str | None:
    """The commit ``ref`` names in the repository at ``root``, or None."""
    if not ref or ref.startswith("-"):
        return None  # never an option to git
    proc = run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root, check=False)
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def resolve_since(root: Path, ref: str) -> str:
    """``--since REF``'s commit; :class:`UsageError` (exit 2) naming REF when it does not resolve."""
    commit = resolve(root, ref)
    if commit is None:
        raise UsageError(
            f"--since {ref}: no such commit in the repository at {root}.",
            "Give a branch, tag or commit git knows here (try 'git rev-parse "
            f"{ref}'); in a shallow CI clone, fetch more history first.",
        )
    return commit


def changed_between(root: Path, commit: str) -> tuple[str, ...]:
    """Files that differ between ``commit`` and HEAD (renames on both sides), sorted."""
    proc = run_git([*_DIFF, commit, "HEAD", "--"], root)
    return tuple(sorted(set(_paths(proc.stdout))))


@dataclass(frozen=True)
class MergeBase:
    branch: str  # how the default branch was found, e.g. "origin/HEAD"
    commit: str


def default_merge_base(root: Path) -> MergeBase | None:
    """The merge base of HEAD with the default branch (:data:`DEFAULT_BRANCHES`), or None."""
    for branch in DEFAULT_BRANCHES:
        if resolve(root, branch) is None:
            continue
        proc = run_git(["merge-base", branch, "HEAD"], root, check=False)
        commit = proc.stdout.decode().strip()
        if proc.returncode == 0 and commit:
            return MergeBase(branch, commit)
    return None


def is_shallow(root: Path) -> bool:
    proc = run_git(["rev-parse", "--is-shallow-repository"], root, check=False)
    return proc.stdout.strip() == b"true"


def _paths(output: bytes) -> list[str]:
    return [os.fsdecode(record) for record in split_z(output)]
