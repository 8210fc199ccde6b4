"""Rebuild the complete tree from a delta and its base, and prove it is the right one.

A deploy that sent a delta ships ``.cbdeploy/delta.json`` (see the client's
``client/deploy/delta.py``); CodeBuild extracted the delta into the source
directory and the base archive into ``$CODEBUILD_SRC_DIR_<sourceIdentifier>``.
:func:`merge` checks the base's file list against the SHA-256 the delta names
(a changed base is refused, never used), moves every unchanged file of the base
into place, leaves removed paths out and writes the complete tree's links and
executables as ``.cbdeploy/manifest.json`` (for :func:`runner.files.restore_files`).
:func:`verify` then hashes what is on the disk, as the client hashed the
selection, and names the first path that differs.

Hash format (the client's ``client/packaging/tree.py``): per file, in the byte
order of the paths, ``path\\0kind\\0sha256\\n`` with kind ``f``, ``x``
(executable) or ``l`` (a link, hashed by its target); ``.cbdeploy/`` is not
part of the tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .files import MANIFEST, _lexically_inside, _make_parent, _shown

DELTA = ".cbdeploy/delta.json"
FILES = ".cbdeploy/files.json"
STATE = ".cbdeploy"

Record = tuple[str, str]  # (kind, sha256)


class DeltaError(Exception):
    """The tree cannot be rebuilt, or is not the tree the client packaged."""


def is_delta(root: Path) -> bool:
    return (root / DELTA).is_file()


def load(root: Path) -> dict[str, Any]:
    try:
        doc = json.loads((root / DELTA).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DeltaError(f"cannot read {DELTA}: {error}") from error
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise DeltaError(f"{DELTA} is not a delta description this runner knows")
    return doc


def expected_tree(doc: Mapping[str, Any], base_dir: Path) -> dict[str, Record]:
    """The complete tree the delta promises: the base's list, less removals, plus changes."""
    listed = base_dir / FILES
    where = f"s3://{doc.get('baseKey')}"
    try:
        data = listed.read_bytes()
    except OSError as error:
        raise DeltaError(
            f"the base archive {where} holds no file list ({FILES}): it is not a cbdeploy base"
        ) from error
    if hashlib.sha256(data).hexdigest() != doc.get("baseFilesSha256"):
        raise DeltaError(
            f"the base archive {where} is not the one this delta was made against "
            "(its file list changed); deploy again with --no-delta"
        )
    files = json.loads(data.decode("ascii"))["files"]
    tree: dict[str, Record] = {str(p): (str(k), str(h)) for p, k, _, h in files}
    for path in doc.get("removed") or []:
        tree.pop(str(path), None)
    for p, k, _, h in doc.get("changed") or []:
        tree[str(p)] = (str(k), str(h))
    if tree_hash(tree) != doc.get("tree"):
        raise DeltaError(f"{DELTA} and the base's file list do not add up to the promised tree")
    return tree


def merge(root: Path, base_dir: Path, doc: Mapping[str, Any]) -> dict[str, Record]:
    """Move the base's unchanged files under ``root``; returns the expected tree."""
    tree = expected_tree(doc, base_dir)
    changed = {str(c[0]) for c in doc.get("changed") or []}
    real_root = os.path.realpath(root)
    real_base = os.path.realpath(base_dir)
    sources: dict[str, str] = {}  # directory -> its real path in the base, checked once
    parents: dict[str, str] = {}  # directory -> its real path under the root, made once
    for path in tree:
        if path in changed:
            continue
        if not _lexically_inside(path) or path.split("/", 1)[0] == STATE:
            raise DeltaError(f"refusing the path {_shown(path)} of the file list")
        directory, name = os.path.split(os.path.normpath(path))
        source_dir = sources.get(directory)
        if source_dir is None:
            source_dir = os.path.realpath(os.path.join(real_base, directory))
            if source_dir != real_base and not source_dir.startswith(real_base + os.sep):
                raise DeltaError(f"{_shown(path)} of the base leads outside it")
            sources[directory] = source_dir
        source = os.path.join(source_dir, name)
        if not os.path.lexists(source):
            raise DeltaError(f"{_shown(path)} is missing from the base archive s3://{doc.get('baseKey')}")
        parent = parents.get(directory)
        if parent is None:
            parent = _make_parent(real_root, directory)
            if parent is None:
                raise DeltaError(f"cannot place {_shown(path)}: its directory leads outside the project")
            parents[directory] = parent
        target = os.path.join(parent, name)
        if os.path.lexists(target):
            raise DeltaError(f"{_shown(path)} is both in the delta and taken from the base")
        try:
            os.rename(source, target)
        except OSError:  # another file system: copy instead
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
            else:
                shutil.copy2(source, target)
    full = doc.get("manifest")
    if isinstance(full, dict):
        (root / MANIFEST).write_text(json.dumps(full), encoding="utf-8")
    return tree


def settle_modes(root: Path, expected: Mapping[str, Record]) -> int:
    """Clear execute bits an extractor gave files the tree lists as plain (``restore_files``
    only adds them); returns how many changed."""
    cleared = 0
    real_root = os.path.realpath(root)
    for path, (kind, _) in expected.items():
        if kind != "f":
            continue
        full = os.path.join(real_root, path)
        try:
            st = os.lstat(full)
        except OSError:
            continue  # verify names it
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            os.chmod(full, stat.S_IMODE(st.st_mode) & ~0o111)
            cleared += 1
    return cleared


def verify(root: Path, expected: Mapping[str, Record]) -> None:
    """Raise DeltaError naming the first path (byte order) where the disk differs."""
    seen = scan(root)
    if tree_hash(seen) == tree_hash(expected):
        return
    for path in sorted(set(seen) | set(expected), key=os.fsencode):
        have, want = seen.get(path), expected.get(path)
        if have == want:
            continue
        if have is None:
            why = "missing"
        elif want is None:
            why = "not in the packaged tree"
        elif have[0] != want[0]:
            why = f"kind {have[0]!r} instead of {want[0]!r}"
        else:
            why = "content differs"
        raise DeltaError(f"the rebuilt tree differs from the packaged one at {_shown(path)} ({why})")
    raise DeltaError("the rebuilt tree differs from the packaged one")  # pragma: no cover


def scan(root: Path) -> dict[str, Record]:
    """Every file under ``root`` (not ``.cbdeploy/``) as (kind, sha256), links not followed."""
    found: dict[str, Record] = {}
    base = str(root)
    for directory, dirs, files in os.walk(base):
        relative_dir = os.path.relpath(directory, base)
        if relative_dir == ".":
            dirs[:] = [d for d in dirs if d != STATE]
            relative_dir = ""
        names: list[str] = list(files)
        for d in list(dirs):
            if os.path.islink(os.path.join(directory, d)):
                names.append(d)  # a link to a directory: a link, not walked
                dirs.remove(d)
        for name in names:
            full = os.path.join(directory, name)
            path = f"{relative_dir}/{name}" if relative_dir else name
            path = path.replace(os.sep, "/")
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                found[path] = ("l", hashlib.sha256(os.fsencode(os.readlink(full))).hexdigest())
            elif stat.S_ISREG(mode):
                found[path] = ("x" if mode & 0o111 else "f", _file_hash(full))
    return found


def tree_hash(tree: Mapping[str, Record]) -> str:
    digest = hashlib.sha256()
    for path in sorted(tree, key=os.fsencode):
        kind, sha = tree[path]
        digest.update(os.fsencode(path) + b"\0" + kind.encode() + b"\0" + sha.encode() + b"\n")
    return digest.hexdigest()


def _file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()
