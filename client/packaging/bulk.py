"""Per-path work done for all the paths at once, in C: a re-package of a large tree
takes the stat of tens of thousands of files, and a Python step per path per
operation (a prefix check, a decode, a tuple) costs more than the system calls.

Each helper gives exactly what the obvious loop would; the rare cases (a name
cbdeploy never ships, a path gone from the disk, an unusual file system
encoding) are found with one search of the joined paths and take the loop.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, repeat
from operator import and_, attrgetter, is_not, itemgetter

from cbdeploy.client.packaging.model import FileStat, SelectedFile

_STAGE_PATH = re.compile(rb"\t([^\0]*)\0")
NEVER_SHIPPED = (b".git", b".cbdeploy")
_NEVER_PREFIXES = tuple(name + b"/" for name in NEVER_SHIPPED)
CHUNK = 512  # paths per bulk lstat (their stats fit in a core's cache; a missing one sends
# only its chunk to the loop)
_STAT_FIELDS = attrgetter("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino", "st_dev", "st_mode")
_new = tuple.__new__
_PATH = itemgetter(0)
_TARGET = itemgetter(1)
_SIZE = itemgetter(0)
_MODE = itemgetter(5)


def never_shipped(rel: bytes) -> bool:
    """``.git`` or ``.cbdeploy`` at the top, or anything in a ``.git`` directory."""
    return rel.startswith(_NEVER_PREFIXES) or rel in NEVER_SHIPPED or b"/.git/" in rel


def joined(paths: list[bytes]) -> bytes:
    """``b"\\0" + b"\\0".join(paths) + b"\\0"``, made in one copy instead of three."""
    return b"\0".join([b"", *paths, b""])


def stage_paths(listing: bytes) -> list[bytes]:
    """The paths of a plain ``ls-files -z --stage`` listing (each record "meta TAB path
    NUL", no tab in a path): each whole from its tab to its NUL, without a copy of the
    listing or an object for each meta (splitting it at tabs and NULs made both)."""
    return _STAGE_PATH.findall(listing)


def shippable(paths: list[bytes], joined: bytes) -> list[bytes]:
    """``paths`` without those :func:`never_shipped` rejects; ``joined`` is
    ``b"\\0" + b"\\0".join(paths) + b"\\0"``."""
    if b"/.git/" in joined or any(map(_starts_one, repeat(joined), NEVER_SHIPPED)):
        return [rel for rel in paths if not never_shipped(rel)]
    return paths


def _starts_one(joined: bytes, name: bytes) -> bool:
    """Whether a path in ``joined`` is ``name`` or starts with ``name/``."""
    marker = b"\0" + name
    at = joined.find(marker)
    while at >= 0:
        if joined[at + len(marker) : at + len(marker) + 1] in (b"/", b"\0"):
            return True
        at = joined.find(marker, at + len(marker))
    return False


def full_paths(prefix: bytes, paths: list[bytes]) -> list[bytes]:
    """``prefix + rel`` for every path."""
    return (prefix + (b"\0" + prefix).join(paths)).split(b"\0")


def lstat_each(fulls: list[bytes]) -> list[os.stat_result | None]:
    """``os.lstat`` of each path (a :data:`CHUNK` of them at most: their stats take
    memory), None for one that is gone (tracked, but deleted from the disk:
    ``FileNotFoundError`` or ``NotADirectoryError``)."""
    lstat = os.lstat
    try:
        return list(map(lstat, fulls))
    except (FileNotFoundError, NotADirectoryError):
        pass
    found: list[os.stat_result | None] = []
    for full in fulls:
        try:
            found.append(lstat(full))
        except (FileNotFoundError, NotADirectoryError):
            found.append(None)
    return found


def encoded(files: Sequence[SelectedFile]) -> list[bytes]:
    """``os.fsencode(f.path)`` of each file (the paths encoded joined, where the file
    system encoding is UTF-8: stateless, so the pieces encode alone)."""
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    if codecs.lookup(encoding).name == "utf-8":
        return "\0".join(map(_PATH, files)).encode(encoding, errors).split(b"\0") if files else []
    return [f.path.encode(encoding, errors) for f in files]


def decode_all(paths: list[bytes]) -> list[str]:
    """``os.fsdecode`` of each path, decoded one by one in C (faster than decoding them
    joined and splitting the text, which is a second copy of them all in new memory)."""
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    return list(map(bytes.decode, paths, repeat(encoding), repeat(errors)))


def selected_files(texts: Iterable[str]) -> Iterable[SelectedFile]:
    """``SelectedFile(text)`` for each text, lazily."""
    return map(_new, repeat(SelectedFile), zip(texts, repeat(None)))


def file_stats(stats: Iterable[os.stat_result]) -> Iterable[FileStat]:
    """``FileStat.of(st)`` for each stat, lazily."""
    return map(_new, repeat(FileStat), map(_STAT_FIELDS, stats))


def link_positions(files: Sequence[SelectedFile]) -> list[int]:
    """Where the links are in ``files``."""
    return list(compress(range(len(files)), map(is_not, map(_TARGET, files), repeat(None))))


class FileColumns:
    """A selection's files by column: their paths, their stats in the same order, and
    where the links are (one pass each, shared by what the archive needs of them)."""

    __slots__ = ("_targets", "links", "paths", "stats")

    def __init__(self, files: Sequence[SelectedFile], stats: Mapping[str, FileStat]) -> None:
        self.paths: list[str] = list(map(_PATH, files))
        if len(stats) == len(self.paths) and list(stats) == self.paths:
            self.stats: list[FileStat] = list(stats.values())  # (in the files' order already)
        else:
            self.stats = list(map(stats.__getitem__, self.paths))
        self.links = link_positions(files)
        self._targets = [files[at].link_target or "" for at in self.links]

    def raw_size(self) -> int:
        """The bytes of content: the files' sizes, and for links their targets'."""
        total = sum(map(_SIZE, self.stats))
        for at, target in zip(self.links, self._targets, strict=True):
            total += len(os.fsencode(target)) - self.stats[at].size
        return total

    def executables(self) -> list[str]:
        """The paths of the files (not links) with an execute bit, in order."""
        modes = map(_MODE, self.stats)
        found = compress(self.paths, map(and_, modes, repeat(0o111)))
        links = {self.paths[at] for at in self.links}
        return [path for path in found if path not in links] if links else list(found)
