"""Packaging: select the project's files exactly as git does, zip them deterministically.

Public API (used by the ``package`` command and the deploy flow)::

    selection = select_files(root, include_submodules=False, follow_external_links=False)
    result = build_archive(selection, output, extra_entries={...}, cache_dir=root / ".cbdeploy/cache")

``selection.skipped_repos`` and ``selection.secrets`` are for the caller to warn
about before uploading. The archive is identical for identical trees (given the
same zlib: deflate output is zlib's); with ``cache_dir`` a re-package copies the
compressed bytes of unchanged files from the previous archive and is byte-identical
to a cold build. Paths that are not UTF-8 are ``os.fsdecode``-d strings: pass them
through :func:`shown` before printing.
"""

from __future__ import annotations

from cbdeploy.client.packaging.archive import MANIFEST, build_archive
from cbdeploy.client.packaging.model import ArchiveResult, FileStat, SelectedFile, Selection, shown
from cbdeploy.client.packaging.select import select_files

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
