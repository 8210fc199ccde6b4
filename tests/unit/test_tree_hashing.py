"""Hashing the files of a tree (``packaging.tree.hash_files``): what a cold deploy does for
every file. One read per file of its size at selection plus one byte, on two threads above
a few hundred files; the digests must be exactly the files' SHA-256, in order, whatever
happened to a file since it was selected."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.tree import SLICE, THREADED_FILES, hash_files


def _files(tmp_path: Path, count: int) -> list[tuple[bytes, str, int]]:
    found = []
    for i in range(count):
        path = tmp_path / f"f{i:05d}.txt"
        path.write_bytes(os.urandom(i % 97) * (i % 5))
        found.append((os.fsencode(path), path.name, path.stat().st_size))
    return found


def _sha(full: bytes) -> str:
    return hashlib.sha256(Path(os.fsdecode(full)).read_bytes()).hexdigest()


@pytest.mark.parametrize("count", [3, THREADED_FILES + 3 * SLICE + 7])
def test_each_digest_is_the_files_sha256_in_order(tmp_path: Path, count: int) -> None:
    files = _files(tmp_path, count)
    assert hash_files(files) == [_sha(full) for full, _, _ in files]


def test_a_file_that_grew_or_shrank_since_selection_is_hashed_as_it_is(tmp_path: Path) -> None:
    """The size is a hint for the one read: a longer file is read to its end, a shorter
    one is not padded (the archive's own checks report the change)."""
    grew, shrank, emptied = (tmp_path / n for n in ("grew", "shrank", "emptied"))
    grew.write_bytes(b"x" * 5000)
    shrank.write_bytes(b"y" * 10)
    emptied.write_bytes(b"")
    files = [(os.fsencode(grew), "grew", 100), (os.fsencode(shrank), "shrank", 4096),
             (os.fsencode(emptied), "emptied", 7)]
    assert hash_files(files) == [_sha(full) for full, _, _ in files]


def test_a_file_above_the_one_read_limit_streams(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 16) * 260)  # 17 MB: above 16 MiB
    size = big.stat().st_size
    assert hash_files([(os.fsencode(big), "big.bin", size)]) == [_sha(os.fsencode(big))]


def test_a_file_gone_on_the_second_thread_names_it(tmp_path: Path) -> None:
    files = _files(tmp_path, THREADED_FILES + SLICE)
    gone = files[SLICE + 3]  # in the second slice: the other thread's
    os.unlink(gone[0])
    with pytest.raises(PackagingError, match=f"Cannot read {gone[1]}"):
        hash_files(files)
