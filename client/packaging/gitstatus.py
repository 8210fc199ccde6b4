"""A warm selection's git: the recorded tracked listing, and git status for the untracked files.

A re-package of a large tree spent most of its git time listing: ``ls-files
--cached`` (the tracked files, from the index) and above all ``ls-files
--others``, which walks every directory for untracked files. Between two builds
the tracked listing changes only with the repository's index, and git's
untracked cache makes the walk visit only the directories whose mtime moved;
but that cache lives in the index, and cbdeploy never writes the user's index
(a ``git commit`` running at the same time would find it locked).

So a build with the package cache records, in ``git-status.bin``, the tracked
listing it made and the signature (size, times, inode) of the index it was made
from; and it keeps ``git-index``, a copy of that index of cbdeploy's own, every
entry marked assume-unchanged (git then takes no stat of tracked files, which
the selection takes itself). The next build, while the repository's index has
that signature still, takes the recorded listing and runs ``git status`` on the
copy (``GIT_INDEX_FILE``) with the untracked cache on: its ``?`` paths are the
untracked files git does not ignore, a wholly untracked directory as ``dir/``,
and ``ls-files --others`` then looks there alone. Git keeps its untracked cache
in the copy. Another index, no record, git failing: the selection lists as it
does without a cache.
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from cbdeploy.client.packaging.gitcmd import Pending, git_env, run_git

if TYPE_CHECKING:
    from cbdeploy.client.packaging.model import Selection

PRIVATE = "git-index"  # the copy of the repository's index (git-status.bin says whose)
RECORD = "git-status.bin"
LOCK = "git-status.lock"
_VERSION = 5
_SETTINGS = [  # the untracked cache on, and nothing that would stat tracked files
    "-c", "core.untrackedCache=true", "-c", "core.preloadIndex=false",
    "-c", "core.fsmonitor=false", "-c", "core.splitIndex=false", "-c", "index.sparse=false",
]
STATUS = [*_SETTINGS, "status", "--porcelain=v2", "-z", "--branch", "--no-renames",
          "--untracked-files=normal", "--ignore-submodules=all"]
Signature = tuple[int, ...]


def signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class Record:
    """What the last build with the package cache left: the repository's index (a path
    relative to the root) and its signature, the root's prefix in the work tree, the
    rules' excludes, and the tracked listing made from that index with them: its files
    (joined by NUL; None: not known to be from that index) and its gitlinks."""

    __slots__ = ("index", "index_sig", "prefix", "excludes", "files", "repos")

    def __init__(self, index: str, index_sig: Signature, prefix: str, excludes: list[str],
                 files: bytes | None, repos: list[bytes]) -> None:
        self.index = index
        self.index_sig = index_sig
        self.prefix = prefix
        self.excludes = excludes
        self.files = files
        self.repos = repos

    @classmethod
    def load(cls, cache_dir: Path) -> Record | None:
        fields = load_fields(cache_dir / RECORD, _VERSION, 6)
        return None if fields is None else cls(*fields)

    def dump(self) -> bytes:
        return marshal.dumps((_VERSION, self.index, self.index_sig, self.prefix, self.excludes,
                              self.files, self.repos))


class Head(NamedTuple):
    """What git status on the copy says of HEAD: its commit (None before the first), its
    branch (None: detached), and whether it listed an entry: the index differs from HEAD
    there (a staged change), or the work tree from the index (a file outside the root,
    which the copy does not take as unchanged)."""

    commit: str | None
    branch: str | None
    listed: bool
    folders_unchanged: bool  # git's untracked cache re-read no folder, made none anew


class Facts:
    """What a selection with the package cache listed, for :func:`remember`: the signature
    of the index its listing came from (None: unknown), the root's prefix in the work
    tree, the rules' excludes, the tracked files (joined by NUL) and gitlinks; and the
    record it started from. ``head``: what git status on the copy said of HEAD (None: it
    did not run or failed), for a deploy's git state (:mod:`.gitdirty`)."""

    __slots__ = ("index_sig", "prefix", "excludes", "files", "repos", "record", "head")

    def __init__(self, index_sig: Signature | None, prefix: str, excludes: list[str],
                 files: bytes, repos: list[bytes], record: Record | None) -> None:
        self.index_sig = index_sig
        self.prefix = prefix
        self.excludes = excludes
        self.files = files
        self.repos = repos
        self.record = record
        self.head: Head | None = None


class Prior:
    """The record of the last build with this package cache, the signature of the
    repository's index now, and (where the record's copy is of that index) git status
    started on the copy."""

    def __init__(
        self, root: Path, cache_dir: Path, record: Record | None, index_sig: Signature | None
    ) -> None:
        self.record = record
        self.index_sig = index_sig
        self.status: Pending | None = None
        self.head: Head | None = None  # known once :meth:`untracked` answered
        self._untracked: list[bytes] | None = None
        self._done = False
        if record is not None and index_sig == tuple(record.index_sig) \
                and (cache_dir / PRIVATE).exists():
            self.status = Pending(STATUS, root, env=_traced(_on_copy(cache_dir / PRIVATE)))

    def untracked(self) -> list[bytes] | None:
        """Git status's untracked paths under the root, relative to it (None: it failed,
        or none was started)."""
        if self.status is None or self._done or self.record is None:
            return self._untracked
        self._done = True
        done = self.status.result()
        if done.returncode == 0:
            self._untracked = untracked_paths(done.stdout, os.fsencode(self.record.prefix))
            self.head = head_of(done.stdout, done.stderr)
        return self._untracked

    def close(self) -> None:
        """Wait for git status, whose answer may not be wanted (the selection failed)."""
        if self.status is not None and not self._done:
            self.status.result()
            self._done = True


_prefetched: dict[tuple[str, str], Prior] = {}


def prefetch(root: Path, cache_dir: Path) -> None:
    """Start now what :func:`start` will want for ``root`` (a command that knows its
    project calls this before its other imports and reads: git status then runs
    meanwhile); :func:`start` takes it, and :func:`forget` ends one nobody took."""
    key = (os.path.abspath(root), os.path.abspath(cache_dir))
    if key not in _prefetched:
        _prefetched[key] = _start(Path(key[0]), Path(key[1]))


def forget() -> None:
    """End what :func:`prefetch` started and nobody took (the command packaged elsewhere)."""
    while _prefetched:
        _prefetched.popitem()[1].close()


def start(root: Path, cache_dir: Path | None) -> Prior | None:
    """What the last build with ``cache_dir`` left (None: no package cache), with git
    status started on the private index where that copies the repository's index."""
    if cache_dir is None:
        return None
    prefetched = _prefetched.pop((os.path.abspath(root), os.path.abspath(cache_dir)), None)
    return prefetched or _start(root, cache_dir)


def _start(root: Path, cache_dir: Path) -> Prior:
    record = Record.load(cache_dir)
    index_sig = None
    if record is not None:
        try:
            index_sig = signature(os.stat(os.path.join(root, record.index)))
        except OSError:
            record = None
    return Prior(root, cache_dir, record, index_sig)


def untracked_paths(output: bytes, prefix: bytes) -> list[bytes]:
    """The ``?`` paths of ``status --porcelain=v2 -z`` output under ``prefix``, relative
    to it (a renamed entry's second path is no record of its own: ``--no-renames``)."""
    found = []
    for record in output.split(b"\0"):
        if record.startswith(b"? ") and record.startswith(prefix, 2):
            found.append(record[2 + len(prefix) :])
    return found


_CHANGED = (b"\x001 ", b"\x002 ", b"\x00u ")  # an ordinary, renamed or unmerged entry


def head_of(output: bytes, trace: bytes = b"") -> Head | None:
    """HEAD in ``status --porcelain=v2 -z --branch`` output (its first records), whether
    any entry is listed, and from git's ``trace`` (:func:`_traced`) whether its untracked
    cache found every folder as it was (see :class:`Head`); None without the branch
    headers."""
    headers: dict[str, str] = {}
    for record in output.split(b"\0", 4)[:4]:
        if record.startswith(b"# branch."):
            key, _, value = record[9:].partition(b" ")
            headers[key.decode()] = value.decode()
    if "oid" not in headers or "head" not in headers:
        return None
    oid, head = headers["oid"], headers["head"]
    marked = b"\0" + output
    return Head(None if oid == "(initial)" else oid, None if head == "(detached)" else head,
                any(tag in marked for tag in _CHANGED),
                all(trace.count(b'"key":"%s"' % key) == 1 and b'"key":"%s","value":"0"}' % key
                    in trace for key in _WALK_COUNTS))


# What git's untracked cache did (trace2 data of its one read_directory): all zero, no
# folder differed from the cache (each folder's stat compared, none re-read or added).
_WALK_COUNTS = (b"node-creation", b"gitignore-invalidation", b"directory-invalidation",
                b"opendir")


def _traced(env: dict[str, str]) -> dict[str, str]:
    """``env`` with git's trace2 events on its standard error, deep enough for the counts
    of its untracked cache (:data:`_WALK_COUNTS`)."""
    return {**env, "GIT_TRACE2_EVENT": "2", "GIT_TRACE2_EVENT_NESTING": "3"}


def remember(selection: Selection, cache_dir: Path, *, prime: bool = False) -> None:
    """After a build of ``selection`` with ``cache_dir`` (which the build made): record
    its tracked listing where it is not the record's, and where the repository's index
    changed since the copy, copy it again (the next build then fills git's untracked
    cache in the copy: its listing of untracked files is a whole walk once more).

    The copy and the record must be of the same index: one build at a time changes
    them (a lock; a build that finds it taken leaves them), the copy is made aside and
    renamed into place, and there is no record in between. ``prime``: a new copy gets
    git's untracked cache at once (a walk of the tree: for a deploy, whose build runs
    meanwhile), not from the next build's git status."""
    facts = selection.git_facts
    if facts is None:
        return
    with _locked(cache_dir) as mine:
        if mine:
            _remember(selection.root, cache_dir, facts, prime)


def _remember(root: Path, cache_dir: Path, facts: Facts, prime: bool) -> None:
    record = facts.record
    private = cache_dir / PRIVATE
    if record is not None and facts.index_sig == tuple(record.index_sig) and private.exists():
        if (facts.files, facts.repos, facts.excludes) != (
                record.files, record.repos, record.excludes):  # (other rules, or none yet)
            replace_file(cache_dir / RECORD, Record(record.index, record.index_sig, facts.prefix,
                                                facts.excludes, facts.files, facts.repos).dump())
        return  # the copy is of this index still, and holds git's untracked cache
    paths = _git_paths(root)
    if paths is None:
        return
    index, objects = paths
    aside = cache_dir / f".{PRIVATE}.{os.getpid()}"
    try:
        with open(os.path.join(root, index), "rb") as source:
            index_sig = signature(os.fstat(source.fileno()))
            aside.write_bytes(source.read())
        _mark_all_unchanged(root, aside, objects)
        if prime:  # (its answer is not wanted: the walk fills the untracked cache)
            run_git(STATUS, root, env=_on_copy(aside), check=False)
        (cache_dir / RECORD).unlink(missing_ok=True)
        os.replace(aside, private)
    except (OSError, RuntimeError):
        aside.unlink(missing_ok=True)
        return
    replace_file(cache_dir / RECORD, Record(
        index, index_sig, facts.prefix, facts.excludes,
        facts.files if facts.index_sig == index_sig else None,  # (listed from this index)
        facts.repos,
    ).dump())


@contextmanager
def _locked(cache_dir: Path) -> Iterator[bool]:
    """Whether this process holds ``cache_dir``'s lock for the copy and the record."""
    try:
        import fcntl
    except ImportError:  # (no flock: no record either)
        yield False
        return
    try:
        fd = os.open(cache_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _mark_all_unchanged(root: Path, private: Path, objects: str) -> None:
    """Mark every entry of the copy assume-unchanged, and write its cache tree back (git
    status then compares it with HEAD by tree, not entry by entry). The trees go to a
    throwaway object folder (the repository's ``objects`` readable through it): only
    their names are kept, and the repository gets no new object."""
    import tempfile

    env = _on_copy(private)
    listed = run_git(["ls-files", "-z"], root, env=env, check=False)
    marked = run_git([*_SETTINGS, "update-index", "-z", "--assume-unchanged", "--stdin"], root,
                     env=env, check=False, stdin=listed.stdout)
    if listed.returncode != 0 or marked.returncode != 0:
        raise RuntimeError("git could not mark the copy of the index")
    with tempfile.TemporaryDirectory(prefix="cbdeploy-trees-") as trees:
        env["GIT_OBJECT_DIRECTORY"] = trees
        env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = objects
        wrote = run_git([*_SETTINGS, "write-tree", "--missing-ok"], root, env=env, check=False)
        if wrote.returncode != 0:
            raise RuntimeError("git could not write the copy's cache tree")


def _on_copy(index: Path) -> dict[str, str]:
    """git's environment for a command on the copy ``index``, which it may write."""
    env = git_env()
    env["GIT_INDEX_FILE"] = str(index)
    env["GIT_OPTIONAL_LOCKS"] = "1"  # (git keeps its untracked cache in the copy)
    return env


def _git_paths(root: Path) -> tuple[str, str] | None:
    """The repository's index, relative to ``root`` (asked of git once, then recorded),
    and its object folder (absolute)."""
    done = run_git(["rev-parse", "--git-path", "index", "--git-path", "objects"], root,
                   check=False)
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != 2:
        return None
    index, objects = (os.path.join(root, os.fsdecode(line)) for line in lines)
    return os.path.relpath(index, root), os.path.abspath(objects)


def load_fields(path: Path, version: int, count: int) -> tuple[Any, ...] | None:
    """The fields of a record written as ``marshal.dumps((version, *fields))`` (see
    :func:`replace_file`); None when it is missing, unreadable, of another version or
    of another number of fields."""
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(data, tuple) or len(data) != count + 1 or data[0] != version:
        return None
    return data[1:]


def replace_file(path: Path, data: bytes) -> None:
    """``path`` now holds ``data`` whole (written aside, then renamed into place)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
