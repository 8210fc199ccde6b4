"""The values packaging passes around: what was selected, what was written.

The per-file ones (:class:`FileStat`, :class:`SelectedFile`, :func:`shown`) live in
:mod:`.filestat`, which a worker process imports without this module's dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cbdeploy.client.packaging.filestat import FileStat as FileStat
from cbdeploy.client.packaging.filestat import SelectedFile as SelectedFile
from cbdeploy.client.packaging.filestat import shown as shown

if TYPE_CHECKING:
    from cbdeploy.client.packaging.gitstatus import Facts


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
    # Whether an untracked file that git does not ignore is among ``files`` (a work tree
    # that differs from its commit: see :func:`.gitcmd.git_info`).
    untracked: bool = False
    # What the listing learned, for the next selection with the package cache (and git
    # status's answer where it asked): see :mod:`.gitstatus`.
    git_facts: Facts | None = field(default=None, compare=False, repr=False, hash=False)


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

