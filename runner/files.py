"""Put back what a zip extraction may lose: symbolic links and executable bits.

The packaging step writes ``.cbdeploy/manifest.json``::

    {"version": 1, "links": [{"path": "a/b", "target": "../c"}], "executables": ["bin/x.sh"]}

An extractor that ignores the zip's file modes writes a link as a plain file
holding its target, and drops the x bits. Links are only recreated when their
path and target stay inside the project.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST = ".cbdeploy/manifest.json"


def _inside(relative: str) -> bool:
    if not relative or os.path.isabs(relative):
        return False
    normal = os.path.normpath(relative)
    return normal != ".." and not normal.startswith(".." + os.sep)


def restore_files(root: Path, warn: Callable[[str], None]) -> list[str]:
    """Recreate links and exec bits under ``root``; returns what was changed."""
    path = root / MANIFEST
    if not path.is_file():
        return []
    try:
        manifest: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        warn(f"cannot read {MANIFEST} ({error}); links and executable bits are left as extracted")
        return []
    if not isinstance(manifest, dict):
        warn(f"{MANIFEST} is not a JSON object; links and executable bits are left as extracted")
        return []
    changed: list[str] = []
    for link in manifest.get("links") or []:
        if _restore_link(root, link, warn):
            changed.append(str(link.get("path")))
    for relative in manifest.get("executables") or []:
        if _restore_exec_bit(root, relative, warn):
            changed.append(str(relative))
    return changed


def _restore_link(root: Path, link: Any, warn: Callable[[str], None]) -> bool:
    if not isinstance(link, dict):
        warn(f"ignoring a malformed link entry in {MANIFEST}")
        return False
    relative, target = link.get("path"), link.get("target")
    if not isinstance(relative, str) or not isinstance(target, str) or not _inside(relative):
        warn(f"ignoring link entry {relative!r}: not a path inside the project")
        return False
    resolved = os.path.join(os.path.dirname(relative), target)
    if os.path.isabs(target) or not _inside(resolved):
        warn(f"not recreating link {relative} -> {target}: it points outside the project")
        return False
    full = root / relative
    if full.is_symlink():
        if os.readlink(full) == target:
            return False
        full.unlink()
    elif full.is_dir():
        warn(f"not recreating link {relative}: a directory is in its place")
        return False
    elif full.exists():
        full.unlink()
    full.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, full)
    return True


def _restore_exec_bit(root: Path, relative: Any, warn: Callable[[str], None]) -> bool:
    if not isinstance(relative, str) or not _inside(relative):
        warn(f"ignoring executable entry {relative!r}: not a path inside the project")
        return False
    full = root / relative
    if full.is_symlink():
        return False
    try:
        mode = full.stat().st_mode
    except OSError:
        warn(f"{relative} is listed as executable but is missing")
        return False
    # Give execute permission wherever read permission is given (like `chmod +x`).
    wanted = mode | ((mode & (stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)) >> 2)
    if wanted == mode:
        return False
    os.chmod(full, stat.S_IMODE(wanted))
    return True
