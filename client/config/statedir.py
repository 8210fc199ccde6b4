"""The project's own state directory, ``.cbdeploy/``: cache, default archive, kept files.

It is never shipped, and it holds a ``.gitignore`` of ``*`` (as pytest's and
mypy's caches do) so that git, and with it the dirty flag a deploy reports,
never sees what cbdeploy writes there.
"""

from __future__ import annotations

import os
from pathlib import Path

NAME = ".cbdeploy"
PLAN_PATH = f"{NAME}/plan.json"  # the runner's plan, inside the archive
IGNORE_ALL = "# Written by cbdeploy: its cache and temporary files, not project files.\n*\n"


def state_dir(root: Path) -> Path:
    """``<root>/.cbdeploy``, created with its ``.gitignore`` if missing."""
    path = root / NAME
    path.mkdir(exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text(IGNORE_ALL, encoding="utf-8")
    return path


def cache_dir(root: Path) -> Path:
    """Where packaging keeps its compressed entries between runs (``.cbdeploy`` made)."""
    return state_dir(root) / "cache"


def cache_path(root: Path) -> Path:
    """:func:`cache_dir`'s path, absolute, nothing made (a build only looks there first)."""
    return Path(os.path.abspath(root), NAME, "cache")
