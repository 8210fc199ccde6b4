"""What packaging leaves out, and why: the largest ignored paths and the rule of each.

``package --stats`` shows it, so a user sees at once that ``node_modules/``
stayed out and which line of which file said so. git lists what it ignores
(``ls-files --others --ignored --directory``: an ignored directory comes as
one ``dir/``, never descended into); the ``.cbdeployignore`` rules go with it
as command-line excludes, as for the selection (``client.packaging.select``),
and tracked files those rules drop are listed too. Each entry's size comes
from walking it (``lstat``, no link followed). The rule comes from ``git
check-ignore -v`` (``source:line:pattern``), in one batch for the largest
entries only; a path only ``.cbdeployignore`` excludes is asked about again
with that file as the excludes file of a throwaway repository rooted at the
project, so its own line numbers come back.
"""

from __future__ import annotations

import os
import posixpath
import stat
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cbdeploy.client.packaging import ignorefile
from cbdeploy.client.packaging.gitcmd import (
    checked_output,
    git_env,
    run_git,
    split_z,
    throwaway_git_dir,
)

_OWN = (b".cbdeploy/", b".git/")  # cbdeploy's state and git's: never shipped, not "ignored"
_CHECK = ["check-ignore", "--stdin", "-z", "-v", "-n", "--no-index"]


@dataclass(frozen=True)
class ExcludedPath:
    """An ignored file or directory (``dir/``): its files, their bytes, the rule that ignores it."""

    path: str
    files: int
    size: int
    rule: str  # "source:line:pattern", the source relative to the project; "" when unknown


def excluded_paths(root: Path, top: int = 10) -> tuple[ExcludedPath, ...]:
    """The ``top`` largest paths under ``root`` that packaging leaves out, largest first."""
    root = Path(os.path.abspath(root))
    rules = ignorefile.read_rules(root)
    prefix = _prefix(root)
    paths = [p for p in _ignored(root, rules, prefix) if not p.startswith(_OWN)]
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="excluded") as pool:
        sizes = list(pool.map(lambda p: _measure(root, p), paths))
    ranked = sorted(zip(paths, sizes, strict=True), key=lambda row: (-row[1][1], row[0]))[:top]
    reasons = _reasons(root, [p for p, _ in ranked], prefix, bool(rules))
    return tuple(
        ExcludedPath(os.fsdecode(p), files, size, reasons.get(p, ""))
        for p, (files, size) in ranked
    )


def _prefix(root: Path) -> str | None:
    """``root``'s place in its git work tree ("" at the top), None outside one."""
    probe = run_git(["rev-parse", "--is-inside-work-tree", "--show-prefix"], root, check=False)
    if probe.returncode != 0 or not probe.stdout.startswith(b"true\n"):
        return None
    return os.fsdecode(probe.stdout.split(b"\n")[1])


def _ignored(root: Path, rules: list[str], prefix: str | None) -> list[bytes]:
    listing = ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"]
    if prefix is None:  # a plain directory: git pointed at it with a throwaway repository
        with throwaway_git_dir() as git_dir:
            args = [f"--git-dir={git_dir}", f"--work-tree={root}", *listing]
            out = run_git([*args, *ignorefile.exclude_args(rules)], root).stdout
        return list(split_z(out))
    excludes = ignorefile.exclude_args(ignorefile.rebase_rules(rules, prefix))
    paths = list(split_z(run_git([*listing, *excludes], root).stdout))
    if rules:  # tracked files .cbdeployignore drops
        cached = run_git(["ls-files", "-z", "--cached", "--ignored", *excludes], root)
        paths += split_z(checked_output(cached, root))
    return paths


def _measure(root: Path, path: bytes) -> tuple[int, int]:
    """(files, bytes) of ``path``: a file's size, or everything below a directory."""
    full = os.path.join(os.fsencode(root), path.rstrip(b"/"))
    try:
        st = os.lstat(full)
    except OSError:
        return 0, 0
    if not stat.S_ISDIR(st.st_mode):
        return 1, st.st_size
    files = size = 0
    stack = [full]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue  # unreadable: counted as nothing
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return files, size


def _reasons(root: Path, paths: list[bytes], prefix: str | None, has_rules: bool) -> dict[bytes, str]:
    """``check-ignore -v`` for ``paths``: path → ``source:line:pattern`` (sources under ``root``)."""
    if not paths:
        return {}
    stdin = b"".join(p + b"\0" for p in paths)
    found: dict[bytes, str] = {}
    if prefix is not None:
        found = _check(root, [], stdin, lambda source: _from_root(source, prefix))
    left = [p for p in paths if p not in found]
    if left and (has_rules or prefix is None):
        # The excludes file of a throwaway repository rooted here: .cbdeployignore's
        # own line numbers (and a plain directory's .gitignore files).
        own = os.fspath(root / ignorefile.IGNORE_FILE)
        with throwaway_git_dir() as git_dir:
            args = ["-c", f"core.excludesFile={own}", f"--git-dir={git_dir}", f"--work-tree={root}"]
            stdin = b"".join(p + b"\0" for p in left)
            found |= _check(root, args, stdin,
                            lambda source: ignorefile.IGNORE_FILE if source == own else source)
    return found


def _check(
    root: Path, args: list[str], stdin: bytes, where: Callable[[str], str]
) -> dict[bytes, str]:
    proc = subprocess.run(["git", *args, *_CHECK], cwd=root, env=git_env(), input=stdin,
                          capture_output=True, check=False)
    if proc.returncode not in (0, 1):  # 1: nothing ignored
        return {}
    fields = proc.stdout.split(b"\0")
    found: dict[bytes, str] = {}
    for at in range(0, len(fields) - 3, 4):
        source, line, pattern, path = fields[at : at + 4]
        if source and not pattern.startswith(b"!"):  # (a "!" rule matched: not git's doing)
            shown = where(os.fsdecode(source))
            found[path] = f"{shown}:{line.decode()}:{os.fsdecode(pattern)}"
    return found


def _from_root(source: str, prefix: str) -> str:
    """A source git names from the top of the work tree, as seen from the project root."""
    if os.path.isabs(source) or source.startswith("~"):
        return source
    return posixpath.relpath(source, prefix.rstrip("/") or ".")
