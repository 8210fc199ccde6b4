"""Which files to ship: exactly the files git would, under the project root.

What git lists there (:mod:`.listing`: tracked files, untracked ones it does
not ignore, minus the ``.cbdeployignore`` rules), minus tracked files deleted
from disk and submodule gitlinks. Symbolic links, nested repositories and
secret-looking files are then sorted out here, from one ``lstat`` per path.
"""

from __future__ import annotations

import bisect
import errno
import os
import posixpath
import stat
from collections.abc import Callable, Collection, Mapping
from operator import attrgetter
from pathlib import Path
from typing import cast

from cbdeploy.client.collector import paused_gc
from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging import bulk, gitstatus, ignorefile
from cbdeploy.client.packaging.listing import (
    Listing,
    Resolve,
    filter_by_rules,
    include_repo,
    list_files,
)
from cbdeploy.client.packaging.model import FileStat, SelectedFile, Selection, shown
from cbdeploy.client.packaging.secrets import looks_secret, secret_candidates

_MODE = attrgetter("st_mode")


def _is_reg(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)
_INSORT_LIMIT = 256  # more late paths than this: sort everything once instead
_LINK_HINT = (
    "Set `[package] followExternalLinks = true` in cbdeploy.toml to ship the target's "
    "content, or replace the link with a copy of what it points to."
)


# on_files(root, files, stats): the next tracked files resolved, in byte order, while
# git still looks for untracked ones (files may later be put between them).
OnFiles = Callable[[Path, list[SelectedFile], Mapping[str, FileStat]], None]
_FEED_PATHS = 2048  # tracked paths resolved between two calls of on_files


def select_files(
    root: Path, *, include_submodules: bool = False, follow_external_links: bool = False,
    on_files: OnFiles | None = None, cache_dir: Path | None = None,
) -> Selection:
    """The project files to ship from ``root``, in byte order of their paths.

    ``on_files`` is handed the tracked files as they are resolved (a cold build
    starts compressing them: see :mod:`.early`). ``cache_dir``: the package cache,
    where the last build left its tracked listing and the index git status answers
    from for the untracked files (:mod:`.gitstatus`).

    Raises :class:`PackagingError` for a link pointing outside the project (unless
    ``follow_external_links``: then the target's content is shipped under the
    link's path), for a link loop, and when git cannot list the tree.
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise PackagingError(
            f"Project directory {root} does not exist.", "Run cbdeploy from your project root."
        )
    prior = gitstatus.start(root, cache_dir)  # first: git status runs while the rest starts
    try:
        with paused_gc():
            return _select_files(root, include_submodules, follow_external_links, on_files, prior)
    finally:
        if prior is not None:
            prior.close()


def _select_files(
    root: Path, include_submodules: bool, follow_external_links: bool, on_files: OnFiles | None,
    prior: gitstatus.Prior | None,
) -> Selection:
    rules = ignorefile.read_rules(root)
    resolver = _Resolver(root, follow_external_links)
    resolve = resolver.resolve if on_files is None else resolver.feeding(on_files)
    listing = list_files(root, rules, resolve, prior, lambda: resolver.folders)
    skipped: list[str] = []
    if listing.repos:
        nested = Listing()
        for repo in listing.repos:
            if include_submodules:
                include_repo(root, repo, nested, skipped)
            else:
                skipped.append(os.fsdecode(repo))
        if nested.files:
            listing.files.extend(filter_by_rules(nested.files, rules))
    return resolver.selection(listing.files, skipped, untracked=listing.untracked,
                              facts=listing.facts)


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
        self.folders: list[bytes] = []  # listed paths that are folders on disk

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
            single = {i - at for i in secret if at <= i < stop}
            fulls = bulk.full_paths(self.prefix, paths[at:stop])
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
        self, paths: list[bytes], skipped: list[str], *, untracked: bool = False,
        facts: gitstatus.Facts | None = None,
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
            git_facts=facts,
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
        elif stat.S_ISDIR(st.st_mode):
            self.folders.append(rel)
        else:
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
