"""What is in an archive, by size: so a user sees at once why it is big."""

from __future__ import annotations

import os
import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cbdeploy.client.packaging.model import ArchiveResult

OWN_PREFIX = ".cbdeploy/"  # entries cbdeploy adds: not the project's files


@dataclass(frozen=True)
class SizeRow:
    """A file or a directory (everything below it): raw and compressed bytes."""

    path: str
    files: int
    raw: int
    compressed: int


@dataclass(frozen=True)
class PackageStats:
    path: Path
    file_count: int
    raw_size: int
    size: int  # the archive's size on disk
    sha256: str
    directories: tuple[SizeRow, ...]  # the largest, by raw size
    files: tuple[SizeRow, ...]


def package_stats(archive: ArchiveResult, top: int = 10) -> PackageStats:
    """Sizes of the project's entries in ``archive``, largest directories and files first."""
    dirs: dict[str, list[int]] = {}
    files: list[SizeRow] = []
    with zipfile.ZipFile(archive.path) as opened:
        for info in opened.infolist():
            raw_name = info.filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
            path = os.fsdecode(raw_name)
            if path.startswith(OWN_PREFIX):
                continue
            files.append(SizeRow(path, 1, info.file_size, info.compress_size))
            parent = posixpath.dirname(path)
            while parent:
                totals = dirs.setdefault(parent, [0, 0, 0])
                totals[0] += 1
                totals[1] += info.file_size
                totals[2] += info.compress_size
                parent = posixpath.dirname(parent)
    largest_dirs = sorted(
        (SizeRow(p + "/", n, raw, packed) for p, (n, raw, packed) in dirs.items()),
        key=lambda row: (-row.raw, row.path),
    )
    largest_files = sorted(files, key=lambda row: (-row.raw, row.path))
    return PackageStats(
        path=archive.path,
        file_count=archive.file_count,
        raw_size=archive.raw_size,
        size=archive.size,
        sha256=archive.sha256,
        directories=tuple(largest_dirs[:top]),
        files=tuple(largest_files[:top]),
    )
