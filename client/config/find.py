"""Where a project's ``cbdeploy.toml`` is, without reading it (see :mod:`.load` for that).

Kept apart from the loader, its TOML parser and its schema: a command finds out
whether there is a config before it knows whether it needs to read one
(``package`` in a project without one reads nothing).
"""

from __future__ import annotations

import os
from pathlib import Path

from cbdeploy.client.errors import ConfigError

CONFIG_FILE = "cbdeploy.toml"
DIRECTORY_HINT = (
    "Run cbdeploy from a project directory you can read (check its permissions), "
    "or pass --config-path with the path of its cbdeploy.toml."
)


def find_config(start: Path) -> Path | None:
    """The nearest ``cbdeploy.toml`` in ``start`` or a folder above it (None: none up to ``/``).

    As git finds its repository: the first folder that holds one wins, so a
    service folder of a monorepo uses its own file, not the workspace root's
    above it. Anything named so that is not a file (a folder) does not count;
    a folder that cannot be read is passed by.
    """
    try:
        folder = Path(start).absolute()
    except OSError:  # getcwd() of a directory that was deleted: said where it is used
        return None
    for candidate in (folder, *folder.parents):
        path = candidate / CONFIG_FILE
        try:
            if path.is_file():
                return path
        except OSError:
            continue
    return None


def check_readable_directory(root: Path) -> None:
    """Raise :class:`ConfigError` unless the project directory ``root`` can be listed.

    git skips what it cannot read without failing, so an unreadable project
    would otherwise be packaged as an empty archive.
    """
    try:
        with os.scandir(root):
            pass
    except OSError as error:
        raise ConfigError(
            f"Cannot read the project directory {root}: {error.strerror or error}.",
            DIRECTORY_HINT,
        ) from None
