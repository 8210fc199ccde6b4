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
