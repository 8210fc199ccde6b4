"""What git lists under the project root: tracked files, untracked ones it does not ignore, nested repositories.

In a git work tree that is ``git ls-files --cached --others --exclude-standard``
run in the root (which may be a subdirectory of the repository), with the
``.cbdeployignore`` rules as command-line excludes. Outside git the same listing
comes from git itself, pointed at the directory with a throwaway ``GIT_DIR``:
every ``.gitignore`` at every level, exact, and an ignored directory is never
descended into.

With a package cache, a build records what the listing learned
(:class:`~.gitstatus.Facts`), and the next one starts ``git status`` on
cbdeploy's copy of the index (:mod:`.gitstatus`): while the repository's index
is the one the record was made from, its tracked listing is the recorded one,
and git status names the untracked paths (``ls-files --others`` then looks only
there).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging import bulk, gitstatus, ignorefile
from cbdeploy.client.packaging.gitcmd import (
    Pending,
    checked_output,
    run_git,
    split_z,
    start_git,
    throwaway_git_dir,
)

_GITLINK = b"160000 "
Resolve = Callable[[list[bytes]], None]
Folders = Callable[[], list[bytes]]
_PROBE = ["rev-parse", "--is-inside-work-tree", "--show-prefix"]
_CACHED = ["ls-files", "-z", "--cached", "--stage"]
_MANY_PATHS = 512  # more untracked paths than this: one walk for them all


class Listing:
    __slots__ = ("files", "repos", "untracked", "facts")

    def __init__(self) -> None:
        self.files: list[bytes] = []  # relative to the listed directory
        self.repos: list[bytes] = []  # nested repositories / gitlinks
        self.untracked = False  # whether git listed an untracked file it does not ignore
        self.facts: gitstatus.Facts | None = None  # what the next warm selection may reuse


def _others(excludes: list[str]) -> list[str]:
    return ["ls-files", "-z", "--others", "--exclude-standard", *excludes]


def list_files(
    directory: Path, rules: list[str], resolve: Resolve | None = None,
    prior: gitstatus.Prior | None = None, folders: Folders | None = None,
) -> Listing:
    """What git lists in ``directory``. ``resolve`` takes the tracked paths (sorted,
    distinct) while git is still looking for untracked ones, so their lstat and the
    rest of the work on them overlaps with git's; they are then not in the listing.
    ``prior``: what the last build with this package cache recorded, and its git
    status if it started one (see :mod:`.gitstatus`); ``folders`` then gives the
    tracked paths ``resolve`` found to be folders now (git status names no untracked
    file in them: ls-files does)."""
    record = prior.record if prior is not None else None
    if prior is not None and prior.status is not None and record and record.files is not None:
        excludes = _excludes(rules, record.prefix)
        if excludes == record.excludes:
            return _recorded(directory, prior, excludes, resolve, folders)
    return _listed(directory, rules, resolve, prior, folders)


def _excludes(rules: list[str], prefix: str) -> list[str]:
    return ignorefile.exclude_args(ignorefile.rebase_rules(rules, prefix)) if rules else []


def _recorded(
    directory: Path, prior: gitstatus.Prior, excludes: list[str], resolve: Resolve | None,
    folders: Folders | None,
) -> Listing:
    """The tracked listing from the record (the index it was made from is the current
    one), the untracked from git status (or, where git failed, from ls-files)."""
    record = prior.record
    assert record is not None and record.files is not None
    listing = Listing()
    listing.files = record.files.split(b"\0") if record.files else []
    listing.repos = list(record.repos)
    listing.facts = gitstatus.Facts(record.index_sig, record.prefix, excludes, record.files,
                                    record.repos, record)
    if resolve is not None:
        resolve(listing.files)
        listing.files = []
    untracked = prior.untracked()
    listing.facts.head = prior.head
    if untracked is None:  # git status failed: list them as a cold selection does
        _add_others(listing, checked_output(run_git(_others(excludes), directory), directory))
    else:
        _add_untracked(listing, directory, untracked, folders, excludes)
    return listing


def _add_untracked(
    listing: Listing, directory: Path, untracked: list[bytes], folders: Folders | None,
    excludes: list[str],
) -> None:
    """Add what ls-files lists of git status's ``untracked`` paths and of the tracked
    paths that are ``folders`` now."""
    where = untracked + [path + b"/" for path in folders()] if folders is not None else untracked
    if where:
        _add_others(listing, _untracked_in(directory, where, excludes))


def _listed(
    directory: Path, rules: list[str], resolve: Resolve | None, prior: gitstatus.Prior | None,
    folders: Folders | None,
) -> Listing:
    """The listing from git's ``ls-files`` (the untracked part from git status when
    ``prior`` started one that answers)."""
    dropped: set[bytes] = set()
    excludes: list[str] = []
    status = prior.status if prior is not None else None
    if rules:  # the rules must be rebased onto the root, which needs the prefix first
        probe = run_git(_PROBE, directory, check=False)
        if not _in_work_tree(probe, directory):
            return _list_plain_directory(directory, rules)
        excludes = _excludes(rules, _prefix(probe))
        excluded_cmd = ["ls-files", "-z", "--cached", "--ignored", *excludes]
        started = start_git([excluded_cmd, _CACHED, *_unless(status, _others(excludes))],
                            directory)
        dropped = set(split_z(checked_output(started[0].result(), directory)))
    else:  # all at once: a plain directory just makes the listings fail
        started = start_git([_PROBE, _CACHED, *_unless(status, _others([]))], directory)
        probe = started[0].result()
        if not _in_work_tree(probe, directory):
            for pending in started[1:]:
                pending.result()
            return _list_plain_directory(directory, rules)
    cached = checked_output(started[1].result(), directory)
    listing = _parse_cached(cached, dropped)
    if prior is not None:
        listing.facts = gitstatus.Facts(prior.index_sig, _prefix(probe), excludes,
                                        b"\0".join(listing.files), list(listing.repos),
                                        prior.record)
    if resolve is not None:
        resolve(listing.files)
        listing.files = []
    untracked = prior.untracked() if status is not None and prior is not None else None
    if listing.facts is not None and prior is not None:
        listing.facts.head = prior.head
    if untracked is None:
        others = started[2] if status is None else Pending(_others(excludes), directory)
        _add_others(listing, checked_output(others.result(), directory))
    else:
        _add_untracked(listing, directory, untracked, folders, excludes)
    return listing


def _unless(status: Pending | None, command: list[str]) -> list[list[str]]:
    return [command] if status is None else []


def _prefix(probe: subprocess.CompletedProcess[bytes]) -> str:
    """The listed directory's path in its work tree ("" at the top, else ending in "/")."""
    return os.fsdecode(probe.stdout.split(b"\n")[1])


def _untracked_in(directory: Path, paths: list[bytes], excludes: list[str]) -> bytes:
    """``ls-files --others`` of the untracked ``paths`` git status gave (a directory as
    ``dir/``), with the rules' ``excludes``: it descends only where they are."""
    command = _others(excludes)
    if len(paths) <= _MANY_PATHS:
        command = ["--literal-pathspecs", *command, "--", *map(os.fsdecode, paths)]
    return checked_output(run_git(command, directory, check=False), directory)


def _parse_cached(output: bytes, dropped: set[bytes]) -> Listing:
    """The files and gitlinks of a ``ls-files -z --cached --stage`` listing."""
    listing = Listing()
    if _plain_stage_listing(output):  # the common case, without a Python step per path
        paths = bulk.stage_paths(output)
        listing.files = [p for p in paths if p not in dropped] if dropped else paths
        return listing
    seen: set[bytes] = set()
    for record in split_z(output):
        meta, _, path = record.partition(b"\t")
        if path in seen or path in dropped:  # unmerged paths appear once per stage
            continue
        seen.add(path)
        if meta.startswith(_GITLINK):
            listing.repos.append(path)
        else:
            listing.files.append(path)
    return listing


def _plain_stage_listing(output: bytes) -> bool:
    """Whether every record of ``output`` is "meta TAB path NUL" with no tab in its path,
    no gitlink and no unmerged stage: its paths are then what lies between each tab and
    the next NUL, each once."""
    records = output.count(b"\0")
    # the stage ends the meta: with no tab in any path, each " 0\t" is a stage 0
    if output.count(b"\t") != records or output.count(b" 0\t") != records:
        return False  # a path holding a tab, an unmerged path, or a listing cut short
    return not (output.startswith(_GITLINK) or b"\0" + _GITLINK in output)


def _in_work_tree(probe: subprocess.CompletedProcess[bytes], directory: Path) -> bool:
    if probe.returncode == 0:
        return probe.stdout.startswith(b"true\n")
    if b"safe.directory" in probe.stderr:
        raise PackagingError(
            f"git refuses to read the repository at {directory}: it belongs to another user.",
            f"Run cbdeploy as the repository's owner, or mark it safe with "
            f"'git config --global --add safe.directory {directory}'.",
        )
    return False


def _list_plain_directory(directory: Path, rules: list[str]) -> Listing:
    listing = Listing()
    with throwaway_git_dir() as git_dir:
        args = [f"--git-dir={git_dir}", f"--work-tree={directory}", "ls-files", "-z", "--others"]
        out = run_git([*args, "--exclude-standard", *ignorefile.exclude_args(rules)], directory)
    _add_others(listing, out.stdout)
    return listing


def _add_others(listing: Listing, output: bytes) -> None:
    for path in split_z(output):
        if path.endswith(b"/"):  # git shows a nested repository as "dir/"
            listing.repos.append(path[:-1])
        else:
            listing.files.append(path)
            listing.untracked = True


def include_repo(root: Path, repo: bytes, into: Listing, skipped: list[str]) -> None:
    repo_dir = os.path.join(os.fsencode(root), repo)
    if not os.path.exists(os.path.join(repo_dir, b".git")):
        return  # an uninitialised submodule: nothing on disk to ship
    inner = list_files(Path(os.fsdecode(repo_dir)), [])
    into.files.extend(repo + b"/" + path for path in inner.files)
    for nested in inner.repos:
        include_repo(root, repo + b"/" + nested, into, skipped)


def filter_by_rules(paths: list[bytes], rules: list[str]) -> list[bytes]:
    """Apply .cbdeployignore to files of included repositories, with git's own matcher.

    The top-level git call never sees inside a nested repository, so the paths
    are mirrored as empty files in a scratch directory (no .gitignore, no .git)
    and git lists which of them the rules leave in. Exact, and only paid for
    when repositories are included and a .cbdeployignore exists.
    """
    if not rules or not paths:
        return paths
    import tempfile

    with (
        tempfile.TemporaryDirectory(prefix="cbdeploy-mirror-") as tmp,
        throwaway_git_dir() as git_dir,
    ):
        mirror = os.fsencode(tmp)
        for path in paths:
            full = os.path.join(mirror, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            os.close(os.open(full, os.O_WRONLY | os.O_CREAT, 0o600))
        args = [f"--git-dir={git_dir}", f"--work-tree={tmp}", "ls-files", "-z", "--others"]
        out = run_git([*args, *ignorefile.exclude_args(rules)], Path(tmp))
    return list(split_z(out.stdout))


