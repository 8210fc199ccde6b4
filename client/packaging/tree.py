"""The content of a selection as data: per file its kind, size and SHA-256, and one tree hash.

A deploy ships the list inside its archive as ``.cbdeploy/files.json`` and stores
it (gzipped) beside a base archive; a delta names the tree hash it must produce.
The runner computes the same hash from the disk (``runner/delta.py``), so the
format here and there must agree:

* kind ``f`` a regular file, ``x`` one with an execute bit, ``l`` a link (whose
  "content" is its target);
* the tree hash is the SHA-256 of ``path\\0kind\\0sha256\\n`` per file, in the
  byte order of the paths (``os.fsencode``).

Hashes are cached by stat (size, mtime, ctime, inode: git's index key) in the
state folder, so a redeploy reads only the files that changed; a file changed
within a second of its hashing is not cached (git's racy-clean rule). The cache
is a ``marshal`` file (read and written several times faster than JSON; a file
from another Python is simply not used).
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.model import FileStat, Selection, shown

FILES = ".cbdeploy/files.json"
HASH_CACHE = "hashes.bin"
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
        return sum(r.size for r in self.records)

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

    The cache is written again only when it gains a hash worth keeping or loses a
    path: a file changed within the racy window (the usual one-file edit just
    before a deploy) is hashed again next time rather than rewriting the cache of
    every file now (its stale row cannot match: its ctime has moved)."""
    started = clock_ns()
    cached = _load_cache(cache_dir)
    gained: dict[str, list[object]] = {}
    kept = 0  # selected paths the cache has a row for
    root = os.fsencode(selection.root).rstrip(b"/") + b"/"
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    pairs: list[tuple[bytes, FileRecord]] = []
    stats, limit, new, get = selection.stats, started - RACY_NS, tuple.__new__, cached.get
    for f in selection.files:
        path = f.path
        raw = path.encode(encoding, errors)  # os.fsencode, without its checks
        if f.link_target is not None:
            target = os.fsencode(f.link_target)
            pairs.append((raw, new(FileRecord, (path, "l", len(target),
                                                hashlib.sha256(target).hexdigest()))))
            continue
        size, mtime, ctime, ino, _dev, mode = stats.get(path) or _stat(root + raw, path)
        row = get(path)
        if row is not None:
            kept += 1
        if type(row) is list and row[:4] == [size, mtime, ctime, ino]:
            sha = str(row[4])
        else:
            sha = _hash_file(root + raw, path)
            if mtime < limit and ctime < limit:
                gained[path] = [size, mtime, ctime, ino, sha]
        pairs.append((raw, new(FileRecord, (path, "x" if mode & 0o111 else "f", size, sha))))
    pairs.sort()  # already in order, but for a Selection made by hand: one pass
    if gained or kept != len(cached):
        _save_cache(cache_dir, _rows(selection, pairs, limit))
    records = [r for _, r in pairs]
    return Tree(tuple(records), _hash_sorted([raw for raw, _ in pairs], records))


def _rows(
    selection: Selection, pairs: list[tuple[bytes, FileRecord]], limit: int
) -> dict[str, list[object]]:
    """The cache to write: per file (links aside) outside the racy window, its stat key
    and hash."""
    root = os.fsencode(selection.root).rstrip(b"/") + b"/"
    rows: dict[str, list[object]] = {}
    for raw, record in pairs:
        if record.kind == "l":
            continue
        size, mtime, ctime, ino, _dev, _mode = (selection.stats.get(record.path)
                                                or _stat(root + raw, record.path))
        if mtime < limit and ctime < limit:
            rows[record.path] = [size, mtime, ctime, ino, record.sha256]
    return rows


def _stat(full: bytes, path: str) -> FileStat:
    try:
        return FileStat.of(os.stat(full))
    except OSError as exc:
        raise PackagingError(
            f"Cannot read {shown(path)}: {exc.strerror or exc}.",
            "Deploy again: the project changed while it was being selected.",
        ) from exc


def _hash_file(full: bytes, path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(full, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise PackagingError(
            f"Cannot read {shown(path)}: {exc.strerror or exc}.",
            "Deploy again: the project changed while it was being selected.",
        ) from exc
    return digest.hexdigest()


def _load_cache(cache_dir: Path | None) -> Mapping[str, object]:
    if cache_dir is None:
        return {}
    try:
        data = marshal.loads((cache_dir / HASH_CACHE).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(cache_dir: Path | None, rows: Mapping[str, object]) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{HASH_CACHE}.{os.getpid()}.tmp"
    tmp.write_bytes(marshal.dumps(dict(rows)))
    os.replace(tmp, cache_dir / HASH_CACHE)
