"""A warm deploy's git state (commit, branch, dirty) without git's stat of every tracked file.

:func:`~.gitcmd.git_info` runs ``git status -uno``: most of its time is the lstat
of every tracked file (and of every folder on their way), which the selection
has just taken itself. A warm selection also ran git status on cbdeploy's copy
of the index (:mod:`.gitstatus`), which says HEAD's commit and branch and
whether the index differs from HEAD (a staged change); it compares the work tree
with the index only for the entries outside the root (the copy takes those
under it as unchanged).

Git finds a tracked file unchanged without reading it when its stat matches the
one its index entry holds and the entry is not racily clean (its mtime not
before the index's). So after a deploy, ``git-entries.bin`` records, for the
repository's index of the moment (its signature), per tracked file under the
root the stat the selection took where that stat matches its entry as git
compares them (type and execute bit too), and a row no stat equals where it does
not or git would not trust it (racily clean, added with ``--intent-to-add``).
The next deploy, while the index has that signature still: a file whose stat is
the recorded one is one git finds unchanged by its stat alone; the others (after
a deploy of a few edited files: a few) are asked of git by name (``git status
-- paths``: it looks at those alone). The stats are compared as one array of
integers, not file by file.

Git also takes a tracked file as gone when a folder on its way is a link now
(the selection's lstat followed it): the folders are checked too, unless git's
untracked cache (in the copy) found every folder unchanged since they were last
checked; those it never walks (ignored, holding tracked files) always are.

With too many files to name, no record, another index, a gitlink or an unmerged
entry (git status would look into a submodule), the deploy runs the whole ``git
status`` as before.
"""

from __future__ import annotations

import marshal
import os
import re
import stat
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, compress, islice, repeat
from operator import attrgetter, ne
from pathlib import Path
from subprocess import CompletedProcess
from typing import TYPE_CHECKING, NamedTuple

from cbdeploy.client.packaging import bulk
from cbdeploy.client.packaging.filestat import FileStat
from cbdeploy.client.packaging.gitcmd import GitInfo, git_info, run_git
from cbdeploy.client.packaging.gitstatus import (
    PRIVATE,
    Signature,
    load_fields,
    remember,
    replace_file,
    signature,
)

if TYPE_CHECKING:
    from cbdeploy.client.packaging.model import Selection

ENTRIES = "git-entries.bin"
_VERSION = 2
MAX_ASKED = 200  # more tracked files to ask about than this: the whole git status
Run = Callable[..., CompletedProcess[bytes]]  # (run_git's signature; a test records calls)
_WIDTH = len(FileStat._fields)
_UNTRUSTED = (-1,) * _WIDTH  # a recorded row no stat equals (a size is never negative)
_ABSENT = (-2,) * _WIDTH  # a file the selection has no stat of now
_ROWS = 512  # rows compared at once, then one by one where they differ
_ITA = 0x20000000  # an entry's --intent-to-add flag, as ``ls-files --debug`` shows it
_M32 = 0xFFFFFFFF  # git keeps sizes, seconds and inode numbers in 32 bits
_NS = 1_000_000_000
_ENTRY = re.compile(
    rb"(\d+) [0-9a-f]+ (\d)\t([^\0]*)\0  ctime: (\d+):(\d+)\n  mtime: (\d+):(\d+)\n"
    rb"  dev: \d+\tino: (\d+)\n  uid: \d+\tgid: \d+\n  size: (\d+)\tflags: ([0-9a-f]+)\n"
)
_MODE = attrgetter("st_mode")


class Entries(NamedTuple):
    """``git-entries.bin``: the index (relative to the root) and its signature, the root,
    the work tree's top and the root's path in it; the tracked files under the root the
    selection took the stat of (their names as it gives them, joined by NUL) and their
    rows (``array("q")`` bytes); the other tracked files under it (relative to the top:
    their stat is taken here) and theirs; the folders on the way of those files (joined
    by NUL), those git's untracked cache never walks, and the signature the copy of the
    index had when the folders were last found to be folders (None: not found)."""

    index_file: str
    index_sig: Signature
    root: str
    top: bytes
    prefix: bytes
    names: str
    rows: bytes
    outside: list[bytes]
    outside_keys: list[tuple[int, ...]]
    folders: bytes
    unwalked: list[bytes]
    copy_sig: Signature | None

    @classmethod
    def load(cls, cache_dir: Path) -> Entries | None:
        fields = load_fields(cache_dir / ENTRIES, _VERSION, len(cls._fields))
        return None if fields is None else cls(*fields)

    def save(self, cache_dir: Path) -> None:
        replace_file(cache_dir / ENTRIES, marshal.dumps((_VERSION, *self)))


def deploy_git_info(
    root: Path, selection: Selection, cache_dir: Path | None, *, follow_links: bool = False,
    run: Run = run_git,
) -> GitInfo | None:
    """:func:`~.gitcmd.git_info` of ``root`` for a deploy of ``selection``: from the record
    and the warm selection where they tell (``root`` is the selection's, no link followed
    out of the project: its stat would be the target's), else from the whole git status."""
    if cache_dir is not None and not follow_links and os.path.abspath(root) == str(selection.root):
        known = warm_git_info(selection, cache_dir, run=run)
        if known is not None:
            return known
    return git_info(root, untracked=selection.untracked)


def warm_git_info(selection: Selection, cache_dir: Path, *, run: Run = run_git) -> GitInfo | None:
    """The git state from the warm selection's git status on the copy (HEAD, staged
    changes), its untracked files and ``git-entries.bin``, asking git about the tracked
    files whose stat is not the recorded one; None where those cannot tell."""
    facts = selection.git_facts
    head = facts.head if facts is not None else None
    if facts is None or head is None or facts.index_sig is None:
        return None
    if head.listed or selection.untracked:  # dirty whatever the work tree holds
        return GitInfo(head.commit, head.branch, True)  # (the record is not even read)
    entries = Entries.load(cache_dir)
    if entries is None or tuple(entries.index_sig) != tuple(facts.index_sig) \
            or entries.root != str(selection.root):
        return None
    unchanged = head.folders_unchanged and entries.copy_sig is not None \
        and _copy_sig(cache_dir) == tuple(entries.copy_sig)
    if _any_link(entries, entries.unwalked if unchanged else _split(entries.folders)):
        return None  # git takes the files beneath as gone; their lstat saw them
    asked = _to_ask(selection, entries)
    if asked is None:
        return None
    if not asked:
        return GitInfo(head.commit, head.branch, False)
    done = run(["--literal-pathspecs", "status", "--porcelain=v2", "-z", "--untracked-files=no",
                "--no-renames", "--", *map(os.fsdecode, asked)], Path(os.fsdecode(entries.top)),
               check=False)
    if done.returncode != 0:
        return None
    return GitInfo(head.commit, head.branch, bool(done.stdout.strip(b"\0")))


def _to_ask(selection: Selection, entries: Entries) -> list[bytes] | None:
    """The tracked files (relative to the top) whose stat is not the recorded one; None
    when more than :data:`MAX_ASKED` (or a stat that is no 64-bit integer)."""
    stats = selection.stats
    count = len(entries.rows) // (8 * _WIDTH)
    names: list[str] | None = None
    now: Iterable[tuple[int, ...]] = islice(stats.values(), count)
    if "\0".join(islice(stats, count)) != entries.names:  # (the usual order: by index)
        names = _names(entries)
        now = map(stats.get, names, repeat(_ABSENT))
    try:
        stale = _stale(array("q", chain.from_iterable(now)), entries.rows)
    except OverflowError:
        return None
    if len(stale) > MAX_ASKED:
        return None
    names = names or _names(entries)
    asked = [entries.prefix + os.fsencode(names[at]) for at in stale]
    if entries.outside:
        found = bulk.lstat_each(bulk.full_paths(entries.top + b"/", entries.outside))
        now_outside = [FileStat.of(st) if st is not None else None for st in found]
        asked += compress(entries.outside, map(ne, now_outside, entries.outside_keys))
    return asked if len(asked) <= MAX_ASKED else None


def _stale(now: array[int], recorded: bytes) -> list[int]:
    """The rows where ``now`` differs from ``recorded``: :data:`_ROWS` rows compared at
    once, one by one only where those differ."""
    then = array("q")
    then.frombytes(recorded)
    if now == then:
        return []
    stale = []
    span = _ROWS * _WIDTH
    for at in range(0, max(len(now), len(then)), span):
        if now[at:at + span] != then[at:at + span]:
            for row in range(at, min(at + span, len(then)), _WIDTH):
                if now[row:row + _WIDTH] != then[row:row + _WIDTH]:
                    stale.append(row // _WIDTH)
    return stale


def _names(entries: Entries) -> list[str]:
    return entries.names.split("\0") if entries.names else []


def _split(joined: bytes) -> list[bytes]:
    return joined.split(b"\0") if joined else []


def _any_link(entries: Entries, folders: list[bytes]) -> bool:
    """Whether one of ``folders`` (relative to the top) is a link now."""
    if not folders:
        return False
    found = bulk.lstat_each(bulk.full_paths(entries.top + b"/", folders))
    return any(map(stat.S_ISLNK, map(_MODE, filter(None, found))))


def _copy_sig(cache_dir: Path) -> Signature | None:
    try:
        return signature(os.stat(cache_dir / PRIVATE))
    except OSError:
        return None


def remember_deployed(selection: Selection, cache_dir: Path, *, follow_links: bool) -> None:
    """Once a deploy's build is started: the records the next selection and its git state
    are told from (:func:`.gitstatus.remember`, its copy primed meanwhile; ``git-entries.bin``
    unless a link is followed out of the project: its git state then comes from git)."""
    remember(selection, cache_dir, prime=True)
    if not follow_links:
        remember_entries(selection, cache_dir)


def remember_entries(selection: Selection, cache_dir: Path, *, run: Run = run_git) -> None:
    """After a deploy of ``selection`` (``cache_dir`` made, the copy of the index made and
    primed): record the repository's index entries against the stats the selection took
    (:class:`Entries`) where the index is not the recorded one, else the folders checked
    again where the copy changed; no record where there can be none (a gitlink, a
    conflict)."""
    known = Entries.load(cache_dir)
    try:
        if known is not None and known.root == str(selection.root) and signature(
                os.stat(os.path.join(known.root, known.index_file))) == tuple(known.index_sig):
            copy = _copy_sig(cache_dir)
            if copy is not None and copy != known.copy_sig:
                known._replace(copy_sig=_checked(known, copy)).save(cache_dir)
            return
        entries = _entries(selection, cache_dir, run)
        if entries is None:
            (cache_dir / ENTRIES).unlink(missing_ok=True)
        else:
            entries.save(cache_dir)
    except OSError:
        return


def _checked(entries: Entries, copy: Signature | None) -> Signature | None:
    """``copy`` where every folder is one (checked after the copy's git status), else None."""
    return None if copy is None or _any_link(entries, _split(entries.folders)) else copy


def _entries(selection: Selection, cache_dir: Path, run: Run) -> Entries | None:
    """The record of the index now (None: none fits, git failed, or the index changed
    while it was listed)."""
    where = run(["rev-parse", "--git-path", "index", "--show-toplevel", "--show-prefix"],
                selection.root, check=False)
    lines = where.stdout.split(b"\n")
    if where.returncode != 0 or len(lines) < 3:
        return None
    index = os.path.join(selection.root, os.fsdecode(lines[0]))
    top, prefix = lines[1], lines[2]
    copy = _copy_sig(cache_dir)
    before = signature(os.stat(index))
    listed = run(["ls-files", "-z", "--stage", "--debug"], Path(os.fsdecode(top)), check=False)
    ignored = run(["ls-files", "-z", "--cached", "--ignored", "--exclude-standard"],
                  Path(os.fsdecode(top)), check=False)
    if listed.returncode != 0 or ignored.returncode != 0 or signature(os.stat(index)) != before:
        return None
    rows = _ENTRY.findall(listed.stdout)
    if len(rows) != listed.stdout.count(b"\0") or not _plain(rows):
        return None  # (a listing not understood, a gitlink or a conflict)
    entries = _keyed(selection, [row for row in rows if row[2].startswith(prefix)], before,
                     os.path.relpath(index, selection.root), top, prefix)
    try:
        return entries._replace(unwalked=_folders(ignored.stdout.split(b"\0")[:-1]),
                                copy_sig=_checked(entries, copy))
    except OverflowError:
        return None


def _plain(rows: Sequence[tuple[bytes, ...]]) -> bool:
    """Whether every entry is a file or a link at stage 0 (git status would look into a
    gitlink's submodule, and an unmerged path is always listed)."""
    return all(row[1] == b"0" and row[0] in (b"100644", b"100755", b"120000") for row in rows)


def _keyed(
    selection: Selection, rows: Sequence[tuple[bytes, ...]], index_sig: Signature, index: str,
    top: bytes, prefix: bytes,
) -> Entries:
    """The entries under the root, each with the stat the selection took (or taken here)
    where git would find it matches the entry, else a row no stat equals; the folders on
    their way. (Those outside the root, git status on the copy compares itself.)"""
    written = (index_sig[1] // _NS) & _M32  # (the index's mtime: later entries are racy)
    stats = selection.stats
    names: list[str] = []
    rows_in: list[tuple[int, ...]] = []
    outside: list[bytes] = []
    outside_keys: list[tuple[int, ...]] = []
    for row in rows:
        name = os.fsdecode(row[2][len(prefix):])
        seen = stats.get(name)
        if seen is not None:
            names.append(name)
            rows_in.append(tuple(seen) if _matches(row, seen, written) else _UNTRUSTED)
            continue
        outside.append(row[2])
        try:
            seen = FileStat.of(os.lstat(os.path.join(top, row[2])))
        except OSError:
            outside_keys.append(_UNTRUSTED)
            continue
        outside_keys.append(tuple(seen) if _matches(row, seen, written) else _UNTRUSTED)
    return Entries(index, index_sig, str(selection.root), top, prefix, "\0".join(names),
                   array("q", chain.from_iterable(rows_in)).tobytes(), outside, outside_keys,
                   b"\0".join(_folders([row[2] for row in rows])), [], None)


def _matches(row: tuple[bytes, ...], seen: FileStat, written: int) -> bool:
    """Whether git finds the file of stat ``seen`` unchanged by its index entry ``row``
    alone: every field it compares equal (uid and gid: none changes without the ctime),
    the type and execute bit those of the entry, the entry neither racily clean (its
    mtime not before the index's, in whole seconds) nor added with --intent-to-add."""
    mode, _stage, _path, cs, cn, ms, mn, ino, size, flags = row
    if int(flags, 16) & _ITA or int(ms) >= written:
        return False
    if stat.S_ISLNK(seen.mode):
        kind_ok = mode == b"120000"
    else:
        kind_ok = stat.S_ISREG(seen.mode) and mode == (
            b"100755" if seen.mode & stat.S_IXUSR else b"100644")
    return kind_ok and (seen.size & _M32, seen.ino & _M32) == (int(size), int(ino)) \
        and _seconds(seen.mtime_ns) == (int(ms), int(mn)) \
        and _seconds(seen.ctime_ns) == (int(cs), int(cn))


def _seconds(ns: int) -> tuple[int, int]:
    """A time as git's index keeps it: seconds (32 bits) and nanoseconds."""
    seconds, rest = divmod(ns, _NS)
    return seconds & _M32, rest


def _folders(paths: list[bytes]) -> list[bytes]:
    """Every folder on the way of ``paths`` (relative to the top), each once."""
    found: set[bytes] = set()
    for path in paths:
        folder = path.rpartition(b"/")[0]
        while folder and folder not in found:
            found.add(folder)
            folder = folder.rpartition(b"/")[0]
    return sorted(found)

