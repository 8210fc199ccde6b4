"""Packaging: select the project's files exactly as git does, zip them deterministically.

Public API (used by the ``package`` command and the deploy flow)::

    selection = select_files(root, include_submodules=False, follow_external_links=False)
    result = build_archive(selection, output, extra_entries={...}, cache_dir=root / ".cbdeploy/cache")
"""

from __future__ import annotations

from client.packaging.archive import MANIFEST, build_archive
from client.packaging.model import ArchiveResult, FileStat, SelectedFile, Selection, shown
from client.packaging.select import select_files

__all__ = [
    "MANIFEST",
    "build_archive",
    "ArchiveResult",
    "FileStat",
    "SelectedFile",
    "Selection",
    "select_files",
    "shown",
]
