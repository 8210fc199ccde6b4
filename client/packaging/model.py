"""The values packaging passes around: what was selected, what was written."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class FileStat(NamedTuple):
    """What the archive needs to know about a selected file, taken once at selection.

    Also the key of the re-package cache, as git's index keys a file: a content
    change moves ``ctime_ns`` even when ``touch -d``, ``cp -p`` or ``rsync -t``
    put the mtime back (nobody can set the ctime), and a file replaced by another
    has another inode.
    """

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int
    mode: int  # st_mode of the file itself (lstat), or of the target for followed links

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode)


class SelectedFile(NamedTuple):
    """One shipped path. ``path`` is posix and relative to the project root.

    Names that are not valid UTF-8 are decoded with ``os.fsdecode`` (surrogate
    escapes), so ``os.fsencode(path)`` gives the original bytes back. A named tuple:
    a re-package makes tens of thousands, and a frozen dataclass costs 4 times more.
    """

    path: str
    link_target: str | None = None  # set for symlinks shipped as links


@dataclass(frozen=True)
class Selection:
    """The files to ship, sorted by the byte order of their paths."""

    root: Path
    files: tuple[SelectedFile, ...]
    skipped_repos: tuple[str, ...] = ()  # submodules / nested repos left out (warn)
    secrets: tuple[str, ...] = ()  # selected paths that look like secrets (warn)
    # Stat taken while selecting, so the archive does not stat again; may be empty.
    stats: Mapping[str, FileStat] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )


@dataclass(frozen=True)
class ArchiveResult:
    """The zip written: where, its SHA-256 (hex), byte size and what it holds.

    ``file_count`` and ``raw_size`` count the project's files (not the entries
    cbdeploy adds under ``.cbdeploy/``); ``raw_size`` is their uncompressed size.
    """

    path: Path
    sha256: str
    size: int
    file_count: int
    raw_size: int


def shown(path: str | bytes | os.PathLike[str]) -> str:
    """A path fit for a message or a terminal: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
