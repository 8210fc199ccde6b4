"""The per-file hashes of a deploy's tree: cached by stat, the cache left alone when
nothing in it would change, and a file list read back only when it is whole."""

from __future__ import annotations

import dataclasses
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

    assert marshal.loads((cache / HASH_CACHE).read_bytes())["paths"] == ["f0.txt", "f2.txt"]


def test_the_cached_tree_is_the_tree_hashed_from_scratch_through_every_change(
    tmp_path: Path,
) -> None:
    """Differential: after each change (content, mode, a link's target, a new, removed or
    renamed file, a name that is not UTF-8, a racy edit), the tree from the cache is the
    tree hashed from nothing, and its hash the one ``tree_hash`` computes record by record."""
    project, cache = tmp_path / "p", tmp_path / "cache"
    project.mkdir()
    for i in range(30):
        (project / f"d{i % 3}").mkdir(exist_ok=True)
        (project / f"d{i % 3}" / f"f{i}.txt").write_text(f"{i}\n")
    os.symlink("d0/f0.txt", project / "link")
    odd = os.fsencode(project) + b"/caf\xe9.txt"  # Latin-1: surrogate escapes in the path
    with open(odd, "wb") as handle:
        handle.write(b"odd\n")

    def check(clock: int = LATER) -> None:
        selection = select_files(project)
        tree = scan_tree(selection, cache, clock_ns=lambda: clock)
        assert tree == scan_tree(selection, None)
        assert tree.hash == tree_hash(tree.records)

    check()
    check()  # every hash from the cache
    (project / "d1" / "f1.txt").write_text("changed\n")
    check()
    os.chmod(project / "d2" / "f2.txt", 0o755)
    check()
    os.unlink(project / "link")
    os.symlink("d1/f1.txt", project / "link")
    check()
    (project / "d0" / "new.txt").write_text("new\n")
    (project / "d0" / "f3.txt").unlink()
    os.rename(project / "d1" / "f4.txt", project / "d2" / "f4.txt")
    check()
    (project / "d0" / "f6.txt").write_text("racy\n")
    check(time.time_ns())  # hashed, not kept
    check()
    (project / "d0" / "f6.txt").write_text("racy, and kept\n")
    check()
    check()


def test_a_selection_made_by_hand_in_any_order_gives_the_same_tree(tmp_path: Path) -> None:
    project, cache = tmp_path / "p", tmp_path / "cache"
    project.mkdir()
    for name in ("b.txt", "a.txt", "c.txt"):
        (project / name).write_text(name)
    selection = select_files(project)
    shuffled = dataclasses.replace(selection, files=tuple(reversed(selection.files)), stats={})
    assert scan_tree(shuffled, cache, clock_ns=lambda: LATER) == scan_tree(selection, None)
    assert scan_tree(selection, cache, clock_ns=lambda: LATER) == scan_tree(shuffled, None)


def test_a_file_whose_stat_differs_in_any_field_is_hashed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is the selection's whole stat, device included (a file now on another file
    system with the same inode and times is another file); the files whose stat is the
    same keep their hash without a new key being made for them."""
    from cbdeploy.client.packaging import tree

    project, cache = tmp_path / "p", tmp_path / "cache"
    project.mkdir()
    for i in range(3):
        (project / f"f{i}.txt").write_text(f"{i}\n")
    scan_tree(select_files(project), cache, clock_ns=lambda: LATER)
    selection = select_files(project)
    moved = {**selection.stats, "f1.txt": selection.stats["f1.txt"]._replace(dev=12345)}
    hashed: list[list[tuple[bytes, str, int]]] = []
    real = tree.hash_files

    def spy(files: list[tuple[bytes, str, int]]) -> list[str]:
        hashed.append(files)
        return real(files)

    monkeypatch.setattr(tree, "hash_files", spy)
    scan_tree(dataclasses.replace(selection, stats=moved), cache, clock_ns=lambda: LATER)
    assert [path for _, path, _ in hashed[0]] == ["f1.txt"]
