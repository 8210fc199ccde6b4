"""Which files to ship: exactly the files git would, under the project root.

In a git work tree the answer is ``git ls-files --cached --others
--exclude-standard`` run in the root (which may be a subdirectory of the
repository), minus tracked files deleted from disk and submodule gitlinks.
Outside git the same listing comes from git itself, pointed at the directory
with a throwaway ``GIT_DIR``: every ``.gitignore`` at every level, exact, and
an ignored directory is never descended into. ``.cbdeployignore`` rules go to
git as command-line excludes (see :mod:`client.packaging.ignorefile`).
Symbolic links, nested repositories and secret-looking files are then sorted
out here, from one ``lstat`` per path.
"""

from __future__ import annotations

import bisect
import errno
import os
import posixpath
import stat
import subprocess
from collections.abc import Callable, Collection, Mapping
from operator import attrgetter
from pathlib import Path
from typing import cast

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging import bulk, ignorefile
from cbdeploy.client.packaging.gitcmd import (
    checked_output,
    run_git,
    split_z,
    start_git,
    throwaway_git_dir,
)
from cbdeploy.client.packaging.model import FileStat, SelectedFile, Selection, shown
from cbdeploy.client.packaging.nogc import paused_gc
from cbdeploy.client.packaging.secrets import looks_secret, secret_candidates

_MODE = attrgetter("st_mode")


def _is_reg(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)
_GITLINK = b"160000 "
_INSORT_LIMIT = 256  # more late paths than this: sort everything once instead
_LINK_HINT = (
    "Set `[package] followExternalLinks = true` in cbdeploy.toml to ship the target's "
    "content, or replace the link with a copy of what it points to."
)


class _Listing:
    __slots__ = ("files", "repos", "untracked")

    def __init__(self) -> None:
        self.files: list[bytes] = []  # relative to the listed directory
        self.repos: list[bytes] = []  # nested repositories / gitlinks
        self.untracked = False  # whether git listed an untracked file it does not ignore


# on_files(root, files, stats): the next tracked files resolved, in byte order, while
# git still looks for untracked ones (files may later be put between them).
OnFiles = Callable[[Path, list[SelectedFile], Mapping[str, FileStat]], None]
_FEED_PATHS = 2048  # tracked paths resolved between two calls of on_files


def select_files(
    root: Path, *, include_submodules: bool = False, follow_external_links: bool = False,
    on_files: OnFiles | None = None,
) -> Selection:
    """The project files to ship from ``root``, in byte order of their paths.

    ``on_files`` is handed the tracked files as they are resolved (a cold build
    starts compressing them: see :mod:`.early`).

    Raises :class:`PackagingError` for a link pointing outside the project (unless
    ``follow_external_links``: then the target's content is shipped under the
    link's path), for a link loop, and when git cannot list the tree.
    """
    with paused_gc():
        return _select_files(root, include_submodules, follow_external_links, on_files)


def _select_files(
    root: Path, include_submodules: bool, follow_external_links: bool, on_files: OnFiles | None
) -> Selection:
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise PackagingError(
            f"Project directory {root} does not exist.", "Run cbdeploy from your project root."
        )
    rules = ignorefile.read_rules(root)
    resolver = _Resolver(root, follow_external_links)
    listing = _list(root, rules, resolver.resolve if on_files is None else resolver.feeding(on_files))
    skipped: list[str] = []
    if listing.repos:
        nested = _Listing()
        for repo in listing.repos:
            if include_submodules:
                _include_repo(root, repo, nested, skipped)
            else:
                skipped.append(os.fsdecode(repo))
        if nested.files:
            listing.files.extend(_filter_by_rules(nested.files, rules))
    return resolver.selection(listing.files, skipped, untracked=listing.untracked)


Resolve = Callable[[list[bytes]], None]
_PROBE = ["rev-parse", "--is-inside-work-tree", "--show-prefix"]
_CACHED = ["ls-files", "-z", "--cached", "--stage"]


def _others(excludes: list[str]) -> list[str]:
    return ["ls-files", "-z", "--others", "--exclude-standard", *excludes]


def _list(directory: Path, rules: list[str], resolve: Resolve | None = None) -> _Listing:
    """What git lists in ``directory``. ``resolve`` takes the tracked paths (sorted,
    distinct) while git is still looking for untracked ones, so their lstat and the
    rest of the work on them overlaps with git's; they are then not in the listing."""
    dropped: set[bytes] = set()
    if rules:  # the rules must be rebased onto the root, which needs the prefix first
        probe = run_git(_PROBE, directory, check=False)
        if not _in_work_tree(probe, directory):
            return _list_plain_directory(directory, rules)
        prefix = os.fsdecode(probe.stdout.split(b"\n")[1])
        excludes = ignorefile.exclude_args(ignorefile.rebase_rules(rules, prefix))
        excluded_cmd = ["ls-files", "-z", "--cached", "--ignored", *excludes]
        cached, others, excluded = start_git([_CACHED, _others(excludes), excluded_cmd], directory)
        dropped = set(split_z(checked_output(excluded.result(), directory)))
    else:  # all three at once: a plain directory just makes the listings fail
        started = start_git([_PROBE, _CACHED, _others([])], directory)
        probe_run, cached, others = started
        if not _in_work_tree(probe_run.result(), directory):
            for pending in started[1:]:
                pending.result()
            return _list_plain_directory(directory, rules)
    listing = _parse_cached(checked_output(cached.result(), directory), dropped)
    if resolve is not None:
        resolve(listing.files)
        listing.files = []
    _add_others(listing, checked_output(others.result(), directory))
    return listing


def _parse_cached(output: bytes, dropped: set[bytes]) -> _Listing:
    """The files and gitlinks of a ``ls-files -z --cached --stage`` listing."""
    listing = _Listing()
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


def _list_plain_directory(directory: Path, rules: list[str]) -> _Listing:
    listing = _Listing()
    with throwaway_git_dir() as git_dir:
        args = [f"--git-dir={git_dir}", f"--work-tree={directory}", "ls-files", "-z", "--others"]
        out = run_git([*args, "--exclude-standard", *ignorefile.exclude_args(rules)], directory)
    _add_others(listing, out.stdout)
    return listing


def _add_others(listing: _Listing, output: bytes) -> None:
    for path in split_z(output):
        if path.endswith(b"/"):  # git shows a nested repository as "dir/"
            listing.repos.append(path[:-1])
        else:
            listing.files.append(path)
            listing.untracked = True


def _include_repo(root: Path, repo: bytes, into: _Listing, skipped: list[str]) -> None:
    repo_dir = os.path.join(os.fsencode(root), repo)
    if not os.path.exists(os.path.join(repo_dir, b".git")):
        return  # an uninitialised submodule: nothing on disk to ship
    inner = _list(Path(os.fsdecode(repo_dir)), [])
    into.files.extend(repo + b"/" + path for path in inner.files)
    for nested in inner.repos:
        _include_repo(root, repo + b"/" + nested, into, skipped)


def _filter_by_rules(paths: list[bytes], rules: list[str]) -> list[bytes]:
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


def _positions(paths: list[bytes], wanted: Collection[bytes]) -> list[int]:
    """Where each of ``wanted`` is in ``paths`` (distinct, in byte order as a rule)."""
    found = []
    for rel in wanted:
        at = bisect.bisect_left(paths, rel)
        if at == len(paths) or paths[at] != rel:  # not in byte order after all
            return [i for i, path in enumerate(paths) if path in wanted]
        found.append(at)
    return found


class _Resolver:
    """Turns listed paths into selected files: lstat, links, secrets."""

    def __init__(self, root: Path, follow_external_links: bool) -> None:
        self.root = root
        self.root_bytes = os.fsencode(root)
        self.real_root = os.path.realpath(self.root_bytes)
        self.follow = follow_external_links
        self.files: list[SelectedFile] = []
        self.stats: dict[str, FileStat] = {}
        self.secrets: list[str] = []
        self.reorder = False  # a followed directory adds paths out of order
        self.prefix = self.root_bytes.rstrip(b"/") + b"/"
        self.rels: list[bytes] = []  # the raw path of each regular file in ``files``

    def resolve(self, paths: list[bytes]) -> None:
        """Sort out ``paths`` (in byte order, distinct): one lstat each, links, secrets.

        The hot loop of a re-package: the tracked paths come here while git still
        lists the untracked ones. Regular files are taken in bulk (:mod:`.bulk`);
        the others, and the secret-looking, one by one in their places."""
        joined = bulk.joined(paths)
        shipped = bulk.shippable(paths, joined)
        if shipped is not paths:
            paths, joined = shipped, bulk.joined(shipped)
        if not paths:
            return
        texts = bulk.decode_all(paths)
        candidates = secret_candidates(paths, joined)
        secret = _positions(paths, candidates) if candidates else []
        for at in range(0, len(paths), bulk.CHUNK):  # a chunk's stats at a time: less memory
            stop = at + bulk.CHUNK
            fulls = bulk.full_paths(self.prefix, paths[at:stop])
            single = {i - at for i in secret if at <= i < stop}
            self._take(paths[at:stop], texts[at:stop], fulls, bulk.lstat_each(fulls), single)

    def _take(
        self, paths: list[bytes], texts: list[str], fulls: list[bytes],
        found: list[os.stat_result | None], single: set[int],
    ) -> None:
        """Add ``paths`` (their names, full paths and lstat): the regular files in bulk,
        but those in ``single`` (secret-looking) and the others one by one."""
        if None in found or set(map(stat.S_IFMT, map(_MODE, found))) != {stat.S_IFREG}:
            single.update(i for i, st in enumerate(found) if st is None or not _is_reg(st))
        start = 0
        for at in [*sorted(single), len(paths)]:
            if start < at:  # the regular files in between, in bulk
                self.files += bulk.selected_files(texts[start:at])
                self.rels += paths[start:at]
                stats = bulk.file_stats(cast("list[os.stat_result]", found[start:at]))
                self.stats.update(zip(texts[start:at], stats, strict=True))
            st = found[at] if at < len(paths) else None
            if st is not None and _is_reg(st):
                self._add_file(paths[at], fulls[at], st, texts[at])
            elif st is not None:
                self._add_special(paths[at], fulls[at], st)
            start = at + 1

    def feeding(self, on_files: OnFiles) -> Resolve:
        """:meth:`resolve`, handing ``on_files`` each part of the files as it is done."""

        def resolve(paths: list[bytes]) -> None:
            for start in range(0, len(paths), _FEED_PATHS):
                done = len(self.files)
                self.resolve(paths[start : start + _FEED_PATHS])
                if not self.reorder:  # (a followed directory: the order is not final)
                    on_files(self.root, self.files[done:], self.stats)

        return resolve

    def selection(
        self, paths: list[bytes], skipped: list[str], *, untracked: bool = False
    ) -> Selection:
        """The selection: what :meth:`resolve` took already, and ``paths`` (the
        untracked and the nested repositories' files) put in their places."""
        if paths:
            done = len(self.files)
            late = sorted(set(paths).difference(self.rels) if done else set(paths))
            self.resolve(late)
            if done and len(self.files) > done:
                self._merge(done)
        files = self.files
        if self.reorder:
            files.sort(key=lambda f: os.fsencode(f.path))
            self.secrets.sort(key=os.fsencode)
        return Selection(
            root=self.root,
            files=tuple(files),
            skipped_repos=tuple(sorted(skipped, key=os.fsencode)),
            secrets=tuple(self.secrets),
            stats=self.stats,
            untracked=untracked,
        )

    def _merge(self, done: int) -> None:
        """Put the files resolved after the first ``done`` into byte order among them."""
        self.secrets.sort(key=os.fsencode)
        if self.reorder or len(self.files) - done > _INSORT_LIMIT:
            self.reorder = True  # one sort of everything
            return
        late = list(zip(self.rels[done:], self.files[done:], strict=True))
        del self.rels[done:], self.files[done:]
        for rel, selected in late:
            at = bisect.bisect(self.rels, rel)
            self.rels.insert(at, rel)
            self.files.insert(at, selected)

    def _add_special(self, rel: bytes, full: bytes, st: os.stat_result) -> None:
        if stat.S_ISLNK(st.st_mode):
            self._add_link(rel, full, st)
        elif not stat.S_ISDIR(st.st_mode):
            raise PackagingError(
                f"{shown(rel)} is not a regular file (a device, socket or FIFO).",
                "Remove it from the project or add it to .cbdeployignore.",
            )

    def _add_file(
        self, rel: bytes, full: bytes, st: os.stat_result, path: str | None = None
    ) -> None:
        path = os.fsdecode(rel) if path is None else path
        self.files.append(SelectedFile(path))
        self.rels.append(rel)
        self.stats[path] = FileStat.of(st)
        if looks_secret(path, full):
            self.secrets.append(path)

    def _add_link(self, rel: bytes, full: bytes, st: os.stat_result) -> None:
        path = os.fsdecode(rel)
        target = os.readlink(full)
        try:
            real = os.path.realpath(full, strict=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PackagingError(
                    f"Symbolic link {shown(path)} -> {shown(target)} is a loop.",
                    "Fix or remove the link.",
                ) from exc
            real = os.path.realpath(full)  # dangling: judged by where it would point
        if self._inside(real):
            shipped = self._link_target(rel, target, real)
            self.files.append(SelectedFile(path, os.fsdecode(shipped)))
            self.rels.append(rel)
            self.stats[path] = FileStat.of(st)._replace(size=len(shipped))
            return
        if not self.follow:
            raise PackagingError(
                f"Symbolic link {shown(path)} points outside the project ({shown(target)}).",
                _LINK_HINT,
            )
        self._add_external(rel, real)

    def _inside(self, real: bytes) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip(b"/") + b"/")

    def _link_target(self, rel: bytes, target: bytes, real: bytes) -> bytes:
        # A relative target that stays inside the root is shipped as written; an absolute
        # one (or one that leaves the root and comes back) would break once extracted
        # elsewhere, so it becomes a relative path to where it really points.
        link_dir = posixpath.dirname(rel)
        if not target.startswith(b"/"):
            lexical = posixpath.normpath(posixpath.join(link_dir, target))
            if lexical != b".." and not lexical.startswith(b"../"):
                return target
        real_rel = os.path.relpath(real, self.real_root)
        return posixpath.relpath(real_rel, link_dir or b".")

    def _add_external(self, rel: bytes, real: bytes) -> None:
        path = os.fsdecode(rel)
        try:
            st = os.stat(real)
        except OSError as exc:
            raise PackagingError(
                f"Symbolic link {shown(path)} points outside the project, to {shown(real)}, "
                "which does not exist.",
                "Fix or remove the link.",
            ) from exc
        if stat.S_ISREG(st.st_mode):
            self._add_file(rel, real, st)
            return
        if not stat.S_ISDIR(st.st_mode):
            raise PackagingError(
                f"{shown(path)} points to something that is not a file.", "Remove the link."
            )
        self.reorder = True
        for dirpath, dirnames, filenames in os.walk(real):
            dirnames[:] = sorted(d for d in dirnames if d != b".git")
            for name in filenames:
                source = os.path.join(dirpath, name)
                inner = rel + b"/" + os.path.relpath(source, real).replace(os.sep.encode(), b"/")
                try:
                    inner_st = os.stat(source)
                except OSError:
                    continue  # a dangling link in someone else's tree: nothing to ship
                if stat.S_ISREG(inner_st.st_mode):
                    self._add_file(inner, source, inner_st)
