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
within a second of its hashing is not cached (git's racy-clean rule).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.model import FileStat, Selection, shown

FILES = ".cbdeploy/files.json"
HASH_CACHE = "hashes.json"
RACY_NS = 1_000_000_000


@dataclass(frozen=True)
class FileRecord:
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
            "files": [[r.path, r.kind, r.size, r.sha256] for r in self.records],
        }
        return (json.dumps(data, separators=(",", ":")) + "\n").encode("ascii")


def tree_hash(records: Iterable[FileRecord]) -> str:
    digest = hashlib.sha256()
    for r in sorted(records, key=lambda r: os.fsencode(r.path)):
        digest.update(os.fsencode(r.path) + b"\0" + r.kind.encode() + b"\0" + r.sha256.encode() + b"\n")
    return digest.hexdigest()


def parse_document(data: bytes) -> Tree:
    """A ``files.json`` read back; ValueError when it is not one."""
    doc = json.loads(data.decode("ascii"))
    if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(doc.get("files"), list):
        raise ValueError("not a cbdeploy file list")
    records = tuple(FileRecord(str(p), str(k), int(s), str(h)) for p, k, s, h in doc["files"])
    tree = Tree(records, tree_hash(records))
    if tree.hash != doc.get("tree"):
        raise ValueError("the file list does not match its own tree hash")
    return tree


def scan_tree(
    selection: Selection,
    cache_dir: Path | None,
    *,
    clock_ns: Callable[[], int] = time.time_ns,
) -> Tree:
    """Hash every selected file (reusing cached hashes of files whose stat is unchanged)."""
    started = clock_ns()
    cached = _load_cache(cache_dir)
    fresh: dict[str, list[object]] = {}
    root = os.fsencode(selection.root).rstrip(b"/") + b"/"
    records: list[FileRecord] = []
    for f in selection.files:
        full = root + os.fsencode(f.path)
        if f.link_target is not None:
            target = os.fsencode(f.link_target)
            records.append(FileRecord(f.path, "l", len(target), hashlib.sha256(target).hexdigest()))
            continue
        st = selection.stats.get(f.path) or _stat(full, f.path)
        kind = "x" if st.mode & 0o111 else "f"
        key = [st.size, st.mtime_ns, st.ctime_ns, st.ino]
        row = cached.get(f.path)
        hit = isinstance(row, list) and row[:4] == key
        sha = str(row[4]) if hit and isinstance(row, list) else _hash_file(full, f.path)
        if max(st.mtime_ns, st.ctime_ns) < started - RACY_NS:
            fresh[f.path] = [*key, sha]
        records.append(FileRecord(f.path, kind, st.size, sha))
    records.sort(key=lambda r: os.fsencode(r.path))
    _save_cache(cache_dir, fresh)
    return Tree(tuple(records), tree_hash(records))


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
        data = json.loads((cache_dir / HASH_CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(cache_dir: Path | None, rows: Mapping[str, object]) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{HASH_CACHE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(rows, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, cache_dir / HASH_CACHE)
