"""Put back what a zip extraction may lose: symbolic links and executable bits.

The packaging step writes ``.cbdeploy/manifest.json``::

    {"version": 1, "links": [{"path": "a/b", "target": "../c"}], "executables": ["bin/x.sh"]}

An extractor that ignores the zip's file modes writes a link as a plain file
holding its target, and drops the x bits. The manifest is data from the
archive, so nothing it names may reach outside the project: every path is
resolved on the disk as it is (through the links the extractor or this
module made), never judged by its spelling alone. Executable bits are set
first, before any link of the manifest exists; then links are made, each
only when it lands and points inside the project; last, every link is
checked again (a later link can change where an earlier one leads) and one
that leads out is removed.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST = ".cbdeploy/manifest.json"


def _lexically_inside(relative: str) -> bool:
    if not relative or os.path.isabs(relative):
        return False
    normal = os.path.normpath(relative)
    return normal not in (".", "..") and not normal.startswith(".." + os.sep)


def _within(real_root: str, path: str) -> bool:
    """Whether ``path`` (resolved on the disk) is ``real_root`` or below it."""
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _shown(path: str) -> str:
    """A path fit to print: a name that is not UTF-8 (read from the manifest as
    surrogate escapes, its exact bytes on disk) shows its odd bytes as ``\\xNN``."""
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate no file name can hold
        return ascii(path)


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
    real_root = os.path.realpath(root)
    changed: list[str] = []
    for relative in manifest.get("executables") or []:
        try:
            if _restore_exec_bit(real_root, relative, warn):
                changed.append(str(relative))
        except (OSError, ValueError) as error:  # ValueError: a name no file can have
            warn(f"cannot restore the executable bit of {relative!r}: {error}")
    made: dict[str, str] = {}  # full path of each link made -> its manifest path
    for link in manifest.get("links") or []:
        try:
            full = _restore_link(real_root, link, warn)
        except (OSError, ValueError) as error:
            warn(f"cannot recreate link {link!r}: {error}")
            continue
        if full is not None:
            made[full] = str(link.get("path"))
    # Removing a link can change where another resolves: repeat until none leads out.
    leaving = [full for full in made if not _within(real_root, full)]
    while leaving:
        for full in leaving:
            warn(
                f"removed link {_shown(made.pop(full))}: through later links it leads outside the project"
            )
            os.unlink(full)
        leaving = [full for full in made if not _within(real_root, full)]
    return changed + list(made.values())


def _restore_link(real_root: str, link: Any, warn: Callable[[str], None]) -> str | None:
    """Make one link; its full path, or None when it was refused or already there."""
    if not isinstance(link, dict):
        warn(f"ignoring a malformed link entry in {MANIFEST}")
        return None
    relative, target = link.get("path"), link.get("target")
    if (
        not isinstance(relative, str)
        or not isinstance(target, str)
        or not _lexically_inside(relative)
    ):
        warn(f"ignoring link entry {relative!r}: not a path inside the project")
        return None
    if os.path.isabs(target) or not target:
        warn(
            f"not recreating link {_shown(relative)} -> {_shown(target)}: it points outside the project"
        )
        return None
    parent = _make_parent(real_root, os.path.dirname(os.path.normpath(relative)))
    if parent is None:
        warn(f"not recreating link {_shown(relative)}: its directory leads outside the project")
        return None
    full = os.path.join(parent, os.path.basename(os.path.normpath(relative)))
    if not _within(real_root, os.path.join(parent, target)):
        warn(
            f"not recreating link {_shown(relative)} -> {_shown(target)}: it points outside the project"
        )
        return None
    if os.path.islink(full):
        if os.readlink(full) == target:
            return None
        os.unlink(full)
    elif os.path.isdir(full):
        warn(f"not recreating link {_shown(relative)}: a directory is in its place")
        return None
    elif os.path.lexists(full):
        os.unlink(full)
    os.symlink(target, full)
    return full


def _make_parent(real_root: str, relative_dir: str) -> str | None:
    """The real path of ``relative_dir`` under the root, created if missing; None if it
    is (or passes through) a link that leads out. The deepest existing ancestor is
    checked before ``mkdir``, which would follow it."""
    wanted = os.path.join(real_root, relative_dir) if relative_dir else real_root
    existing = wanted
    while existing != real_root and not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not _within(real_root, existing):
        return None
    try:
        os.makedirs(os.path.realpath(wanted), exist_ok=True)
    except OSError:
        return None
    real = os.path.realpath(wanted)
    return real if _within(real_root, real) and os.path.isdir(real) else None


def _restore_exec_bit(real_root: str, relative: Any, warn: Callable[[str], None]) -> bool:
    if not isinstance(relative, str) or not _lexically_inside(relative):
        warn(f"ignoring executable entry {relative!r}: not a path inside the project")
        return False
    full = os.path.join(real_root, relative)
    if os.path.islink(full):
        return False
    real = os.path.realpath(full)
    if not _within(real_root, real):
        warn(f"ignoring executable entry {_shown(relative)}: it leads outside the project")
        return False
    try:
        mode = os.lstat(real).st_mode  # real has no link left in it: chmod acts on this file
    except OSError:
        warn(f"{_shown(relative)} is listed as executable but is missing")
        return False
    if not stat.S_ISREG(mode):
        warn(f"ignoring executable entry {_shown(relative)}: not a regular file")
        return False
    # Give execute permission wherever read permission is given (like `chmod +x`).
    wanted = mode | ((mode & (stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)) >> 2)
    if wanted == mode:
        return False
    os.chmod(real, stat.S_IMODE(wanted))
    return True
