"""The per-file values of packaging, kept apart from :mod:`.model` so that a worker
process (see :mod:`.worker`) reads and names files without loading ``dataclasses``
or ``pathlib``: a named tuple and a function are all it needs."""

from __future__ import annotations

import os
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


def shown(path: str | bytes | os.PathLike[str]) -> str:
    """A path fit for a message or a terminal: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
