"""The per-file hashes of a deploy's tree: cached by stat, the cache left alone when
nothing in it would change, and a file list read back only when it is whole."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from cbdeploy.client.packaging import select_files
from cbdeploy.client.packaging.tree import HASH_CACHE, parse_document, scan_tree, tree_hash

LATER = time.time_ns() + 3600 * 10**9  # a clock for which no file is racily clean


def test_hashes_are_reused_and_the_cache_rewritten_only_when_it_changes(tmp_path: Path) -> None:
    project, cache = tmp_path / "p", tmp_path / "cache"
    project.mkdir()
    for i in range(5):
        (project / f"f{i}.txt").write_text(f"{i}\n")
    first = scan_tree(select_files(project), cache, clock_ns=lambda: LATER)
    before = os.stat(cache / HASH_CACHE)
    again = scan_tree(select_files(project), cache, clock_ns=lambda: LATER)
    assert again == first
    after = os.stat(cache / HASH_CACHE)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    (project / "f2.txt").write_text("changed\n")
    changed = scan_tree(select_files(project), cache, clock_ns=lambda: LATER)
    assert changed.by_path()["f2.txt"].sha256 == hashlib.sha256(b"changed\n").hexdigest()
    assert os.stat(cache / HASH_CACHE).st_ino != before.st_ino
    assert changed.hash == tree_hash(reversed(changed.records))  # any order in, one hash out


def test_a_file_list_reads_back_and_a_malformed_one_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "a.txt").write_text("a\n")
    os.symlink("a.txt", project / "link")
    tree = scan_tree(select_files(project), None)
    assert parse_document(tree.document()) == tree
    doc = json.loads(tree.document())
    for bad in ([["a.txt", "f", "2", doc["files"][0][3]]], [["a.txt", "f", 2]], [[1, "f", 2, "x"]]):
        with pytest.raises(ValueError):
            parse_document(json.dumps({**doc, "files": bad}).encode())


def test_a_racy_edit_leaves_the_cache_alone_and_is_hashed_again_next_time(
    tmp_path: Path,
) -> None:
    """The usual deploy after a one-file edit: the edited file is within the racy window,
    so its hash is not worth keeping, and the cache of every other file is not written
    again for it. Its stale row never passes for its new content: the next scan hashes
    it again, and keeps that hash once the file is out of the window."""
    project, cache = tmp_path / "p", tmp_path / "cache"
    project.mkdir()
    for i in range(5):
        (project / f"f{i}.txt").write_text(f"{i}\n")
    scan_tree(select_files(project), cache, clock_ns=lambda: LATER)
    before = os.stat(cache / HASH_CACHE)
    (project / "f2.txt").write_text("edited\n")
    now = time.time_ns()  # the edit is racy at this clock
    edited = scan_tree(select_files(project), cache, clock_ns=lambda: now)
    assert edited.by_path()["f2.txt"].sha256 == hashlib.sha256(b"edited\n").hexdigest()
    after = os.stat(cache / HASH_CACHE)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    (project / "f2.txt").write_text("edited again\n")
    again = scan_tree(select_files(project), cache, clock_ns=lambda: LATER)
    assert again.by_path()["f2.txt"].sha256 == hashlib.sha256(b"edited again\n").hexdigest()
    assert os.stat(cache / HASH_CACHE).st_ino != before.st_ino  # now worth keeping
    assert scan_tree(select_files(project), None) == again


def test_a_removed_file_leaves_the_cache(tmp_path: Path) -> None:
    project, cache = tmp_path / "p", tmp_path / "cache"
    project.mkdir()
    for i in range(3):
        (project / f"f{i}.txt").write_text(f"{i}\n")
    scan_tree(select_files(project), cache, clock_ns=lambda: LATER)
    (project / "f1.txt").unlink()
    scan_tree(select_files(project), cache, clock_ns=lambda: LATER)
    import marshal

    assert sorted(marshal.loads((cache / HASH_CACHE).read_bytes())) == ["f0.txt", "f2.txt"]
