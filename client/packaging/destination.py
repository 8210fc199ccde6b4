"""Where the archive goes, and what it holds besides the files.

:func:`check_output_path` refuses an output path that is not a regular file;
:func:`complete_stats` takes the stats a hand-built selection lacks.
"""

from __future__ import annotations

import os
import stat
from operator import itemgetter
from pathlib import Path

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.model import FileStat, Selection, shown


def check_output_path(output: Path) -> None:
    """Refuse an output path that holds anything but a regular file.

    The archive is written next to it and renamed over it, which would replace a
    device node, a FIFO or a socket, and write through no link: a link there (even
    to a regular file) is refused rather than silently replaced.
    """
    try:
        st = os.lstat(output)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PackagingError(
            f"Cannot write the archive to {shown(output)}: {exc.strerror or exc}.",
            "Choose another --output path.",
        ) from exc
    if stat.S_ISREG(st.st_mode):
        return
    kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
    raise PackagingError(
        f"Refusing to write the archive to {shown(output)}: it is {kind}.",
        "Choose another --output path, or remove what is there first.",
    )


_KINDS = {
    stat.S_IFLNK: "a symbolic link (cbdeploy never writes through a link)",
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


_PATH = itemgetter(0)


def complete_stats(selection: Selection) -> dict[str, FileStat]:
    """The selection's stats, taking those it lacks (a Selection built by hand)."""
    stats = dict(selection.stats)
    if all(map(stats.__contains__, map(_PATH, selection.files))):
        return stats  # a selection from select_files: it has them all
    root = os.fsencode(selection.root).rstrip(b"/") + b"/"
    for f in selection.files:
        if f.path not in stats:
            path = root + os.fsencode(f.path)
            try:
                st = os.lstat(path) if f.link_target is not None else os.stat(path)
            except OSError as exc:
                raise PackagingError(
                    f"Cannot read {shown(f.path)}: {exc.strerror or exc}.",
                    "Package again: the project changed while it was being selected.",
                ) from exc
            stats[f.path] = FileStat.of(st)
    return stats
