"""The content of a selection as data: per file its kind, size and SHA-256, and one tree hash.

A deploy ships the list inside its archive as ``.cbdeploy/files.json`` and stores
it (gzipped) beside a base archive; a delta names the tree hash it must produce.
The runner computes the same hash from the disk (``runner/delta.py``), so the
format here and there must agree:

* kind ``f`` a regular file, ``x`` one with an execute bit, ``l`` a link (whose
  "content" is its target);
* the tree hash is the SHA-256 of ``path\\0kind\\0sha256\\n`` per file, in the
  byte order of the paths (``os.fsencode``).

Hashes are cached by stat (size, mtime, ctime, inode: git's index key, and the
mode) in the state folder, so a redeploy reads only the files that changed; a
file changed within a second of its hashing is not trusted next time (git's
racy-clean rule). The cache is a ``marshal`` file of columns (paths, keys,
records), compared with the selection in bulk: a redeploy of babel's 27k files
does per-file Python work only for the changed ones. A file from another Python,
or of another version, is simply not used.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import marshal
import operator
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import compress
from operator import itemgetter, lt, ne
from pathlib import Path
from typing import NamedTuple, cast

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.bulk import encoded
from cbdeploy.client.packaging.model import FileStat, SelectedFile, Selection, shown
from cbdeploy.client.packaging.reader import default_open

FILES = ".cbdeploy/files.json"
HASH_CACHE = "hashes.bin"
CACHE_VERSION = 3  # 1: a dict of path to [size, mtime, ctime, inode, sha256]; 2: keys
# without the device
RACY_NS = 1_000_000_000


class FileRecord(NamedTuple):
    """One file of a tree (a named tuple: a deploy makes one per file, twice)."""

    path: str
    kind: str  # "f", "x" or "l"
    size: int
    sha256: str


@dataclass(frozen=True)
class Tree:
    """A selection's records in byte order of their paths, and its tree hash."""

    records: tuple[FileRecord, ...]
    hash: str

    @property
    def raw_bytes(self) -> int:
        return sum(map(_SIZE, self.records))

    def by_path(self) -> dict[str, FileRecord]:
        return {r.path: r for r in self.records}

    def document(self) -> bytes:
        """``.cbdeploy/files.json``: deterministic bytes for the same tree."""
        data = {
            "version": 1,
            "tree": self.hash,
            "files": self.records,  # each record a JSON array
        }
        return (json.dumps(data, separators=(",", ":")) + "\n").encode("ascii")


_SIZE = itemgetter(2)


def tree_hash(records: Iterable[FileRecord]) -> str:
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    pairs = sorted((r.path.encode(encoding, errors), r) for r in records)  # os.fsencode
    return _hash_sorted([raw for raw, _ in pairs], [r for _, r in pairs])


def _hash_sorted(raws: list[bytes], records: list[FileRecord]) -> str:
    """The tree hash of ``records`` already in the byte order of ``raws``, their paths."""
    kinds = {"f": b"\0f\0", "x": b"\0x\0", "l": b"\0l\0"}
    lines = [raw + (kinds.get(r.kind) or b"\0" + r.kind.encode() + b"\0")
             + r.sha256.encode() + b"\n" for raw, r in zip(raws, records, strict=True)]
    return hashlib.sha256(b"".join(lines)).hexdigest()


def parse_document(data: bytes) -> Tree:
    """A ``files.json`` read back; ValueError when it is not one."""
    doc = json.loads(data.decode("ascii"))
    if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(doc.get("files"), list):
        raise ValueError("not a cbdeploy file list")
    new = tuple.__new__
    try:
        records = tuple([new(FileRecord, row) for row in doc["files"]])
        if not all(len(r) == 4 and type(r[0]) is str and type(r[1]) is str  # noqa: E721
                   and type(r[2]) is int and type(r[3]) is str for r in records):  # noqa: E721
            raise ValueError("a file list row is not [path, kind, size, sha256]")
        tree = Tree(records, tree_hash(records))
    except (TypeError, UnicodeError) as exc:
        raise ValueError(f"not a cbdeploy file list: {exc}") from exc
    if tree.hash != doc.get("tree"):
        raise ValueError("the file list does not match its own tree hash")
    return tree


def scan_tree(
    selection: Selection,
    cache_dir: Path | None,
    *,
    clock_ns: Callable[[], int] = time.time_ns,
) -> Tree:
    """Hash every selected file (reusing cached hashes of files whose stat is unchanged).

    Column by column (the stat keys compared, the cached records taken, in bulk):
    per-file Python work only for the files to hash. The cache is written again
    only when it gains a hash worth keeping or the paths changed: a file changed
    within the racy window (the usual one-file edit just before a deploy) is hashed
    again next time (its stale key cannot match: its ctime has moved)."""
    started = clock_ns()
    files, raws = _in_order(selection.files)
    paths = [f.path for f in files]
    keys = _keys(selection, files, paths, raws)
    cached = _load_cache(cache_dir)
    same_paths = cached.paths == paths  # the usual redeploy: no file added or removed
    if same_paths:
        records = list(cached.records)
        stale = list(compress(range(len(paths)), map(ne, keys, cached.keys)))
    else:
        known = dict(zip(cached.paths, cached.keys, strict=True))
        by_path = dict(zip(cached.paths, cached.records, strict=True))
        records = cast("list[FileRecord]", list(map(by_path.get, paths)))  # None: to hash
        stale = list(compress(range(len(paths)), map(ne, keys, map(known.get, paths))))
    root = os.fsencode(selection.root).rstrip(b"/") + b"/"
    limit, new, gained = started - RACY_NS, tuple.__new__, False
    kept = list(keys)
    links = [i for i in stale if files[i].link_target is not None]
    for i in links:
        target = os.fsencode(cast(str, files[i].link_target))
        records[i] = new(FileRecord, (paths[i], "l", len(target),
                                      hashlib.sha256(target).hexdigest()))
        gained = True
    to_hash = [i for i in stale if files[i].link_target is None] if links else stale
    shas = hash_files([(root + raws[i], paths[i], cast("tuple[int, ...]", keys[i])[0])
                       for i in to_hash])
    for i, sha in zip(to_hash, shas, strict=True):
        size, mtime, ctime, _ino, _dev, mode = cast("FileStat", keys[i])
        records[i] = new(FileRecord, (paths[i], "x" if mode & 0o111 else "f", size, sha))
        if mtime < limit and ctime < limit:
            gained = True
        else:
            kept[i] = None  # not to be trusted next time
    if gained or not same_paths:
        _save_cache(cache_dir, _Cached(paths, kept, records))
    return Tree(tuple(records), _hash_in_order(raws, records))


class _Cached(NamedTuple):
    """The hash cache, by column in the byte order of the paths: per path its key (the
    file's stat, all of it, as the selection took it; ``("l", target)`` for a link; None
    for a file hashed within the racy window) and its record."""

    paths: list[str]
    keys: list[object]
    records: list[FileRecord]


_ENCODE = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def _in_order(files: Sequence[SelectedFile]) -> tuple[Sequence[SelectedFile], list[bytes]]:
    """The files in byte order of their paths (as selected; a Selection made by hand may
    not be), and those bytes (``os.fsencode``)."""
    raws = encoded(files)
    if all(map(lt, raws, raws[1:])):
        return files, raws
    order = sorted(range(len(raws)), key=raws.__getitem__)
    return [files[i] for i in order], [raws[i] for i in order]


def _keys(
    selection: Selection, files: Sequence[SelectedFile], paths: list[str], raws: list[bytes]
) -> list[object]:
    stats: list[FileStat | None] = list(map(selection.stats.get, paths))
    root = os.fsencode(selection.root).rstrip(b"/") + b"/"
    for i in compress(range(len(paths)), map(operator.not_, stats)):  # a Selection by hand
        if files[i].link_target is None:
            stats[i] = _stat(root + raws[i], paths[i])
    keys: list[object] = list(stats)  # (the FileStats themselves: no tuple made per file)
    for i in compress(range(len(paths)), map(itemgetter(1), files)):
        keys[i] = ("l", files[i].link_target)
    return keys


def _hash_in_order(raws: list[bytes], records: list[FileRecord]) -> str:
    """The tree hash of ``records``, already in the byte order of ``raws``, their paths."""
    if codecs.lookup(_ENCODE[0]).name != "utf-8":
        return _hash_sorted(raws, records)
    # One string encoded at once: UTF-8 (surrogate escapes too) encodes piece by piece.
    lines = [f"{path}\0{kind}\0{sha}\n" for path, kind, _size, sha in records]
    return hashlib.sha256("".join(lines).encode(*_ENCODE)).hexdigest()


def _stat(full: bytes, path: str) -> FileStat:
    try:
        return FileStat.of(os.stat(full))
    except OSError as exc:
        raise PackagingError(
            f"Cannot read {shown(path)}: {exc.strerror or exc}.",
            "Deploy again: the project changed while it was being selected.",
        ) from exc


def hash_files(files: Sequence[tuple[bytes, str, int]]) -> list[str]:
    """The SHA-256 (hex) of each ``(full path, path shown, size at selection)``, in order.

    A cold deploy hashes every file (babel: 27k). Reading and hashing release the
    interpreter lock, so above :data:`THREADED_FILES` files a second thread takes half
    the slices of :data:`SLICE` files; a failure (or Ctrl-C) cancels the slices not
    started, so it is acted on within one slice."""
    if len(files) < THREADED_FILES:
        return [_hash_file(*f) for f in files]
    from concurrent.futures import ThreadPoolExecutor

    slices = [files[at:at + SLICE] for at in range(0, len(files), SLICE)]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cbdeploy-hash")
    try:
        theirs = [pool.submit(_hash_slice, piece) for piece in slices[1::2]]
        ours = [_hash_slice(piece) for piece in slices[0::2]]
        done = [f.result() for f in theirs]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    shas: list[str] = []
    for at in range(len(slices)):
        shas += ours[at // 2] if at % 2 == 0 else done[at // 2]
    return shas


THREADED_FILES = 512
SLICE = 256
_WHOLE = 16 << 20  # up to this a file is read in one call


def _hash_slice(files: Sequence[tuple[bytes, str, int]]) -> list[str]:
    return [_hash_file(*f) for f in files]


def _hash_file(full: bytes, path: str, size: int) -> str:
    """One read of ``size + 1`` bytes for a file up to :data:`_WHOLE` (fewer back: the
    end of the file), else 1 MiB chunks: no buffered file object per file."""
    try:
        fd = default_open(full)  # (a FIFO does not hang the hashing)
        try:
            first = os.read(fd, size + 1) if size < _WHOLE else b""
            if size < _WHOLE and len(first) <= size:  # a short read: the end of the file
                return hashlib.sha256(first).hexdigest()
            digest = hashlib.sha256(first)
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
            return digest.hexdigest()
        finally:
            os.close(fd)
    except OSError as exc:
        raise PackagingError(
            f"Cannot read {shown(path)}: {exc.strerror or exc}.",
            "Deploy again: the project changed while it was being selected.",
        ) from exc


def _load_cache(cache_dir: Path | None) -> _Cached:
    empty = _Cached([], [], [])
    if cache_dir is None:
        return empty
    try:
        data = marshal.loads((cache_dir / HASH_CACHE).read_bytes())
        if data["version"] != CACHE_VERSION:
            return empty
        paths, keys, rows = data["paths"], data["keys"], data["records"]
        if not len(paths) == len(keys) == len(rows):
            return empty
        return _Cached(paths, keys, list(map(partial(tuple.__new__, FileRecord), rows)))
    except (OSError, ValueError, EOFError, TypeError, KeyError, IndexError):
        return empty


def _save_cache(cache_dir: Path | None, cached: _Cached) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{HASH_CACHE}.{os.getpid()}.tmp"
    keys = [tuple(key) if isinstance(key, FileStat) else key for key in cached.keys]
    data = {"version": CACHE_VERSION, "paths": cached.paths, "keys": keys,
            "records": list(map(tuple, cached.records))}
    tmp.write_bytes(marshal.dumps(data))
    os.replace(tmp, cache_dir / HASH_CACHE)
