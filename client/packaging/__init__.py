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

from importlib import import_module

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: a worker imports
# this package, and typing would cost it more than a hundred files' work; mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

    from cbdeploy.client.packaging.archive import MANIFEST, build_archive
    from cbdeploy.client.packaging.model import (
        ArchiveResult,
        FileStat,
        SelectedFile,
        Selection,
        shown,
    )
    from cbdeploy.client.packaging.select import select_files

# Public name -> its module. Loaded on first use (PEP 562): a worker process imports
# a submodule of this package, and must not pay for the archive builder, the cache
# and the selection it does not run; nor must `package --list` pay for the archive.
_HOMES = {
    "MANIFEST": "archive",
    "build_archive": "archive",
    "ArchiveResult": "model",
    "FileStat": "model",
    "SelectedFile": "model",
    "Selection": "model",
    "shown": "model",
    "select_files": "select",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once: the next use is a plain attribute
    return value
