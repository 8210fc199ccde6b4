"""Read and validate ``cbdeploy.toml`` into the frozen config for one stage.

``load_config`` parses the file, checks every table of it against the schema
(``client/config/schema.py``: the base and every ``[stages.<name>]`` override, so a mistake in a stage
you are not deploying still shows), deep-merges the override of the requested
stage over the base, then checks what needs the merged view (hooks naming
scripts). Any problem is a :class:`ConfigError` naming the dotted key, the file
and, where it can be found in the text, the line.

The file is read only if it is a regular file of at most 1 MB (a FIFO or
/dev/zero is refused, never read), from a project directory that can be
listed; values a build cannot run (NUL bytes, oversized commands and
variables: ``config_model``'s limits) are config errors too.

Defaults, for a key that is absent: an empty pipeline, no hooks, scripts,
environment or secrets; ``codebuild`` = BUILD_GENERAL1_SMALL on
``aws/codebuild/standard:7.0``, not privileged, 60 minutes, no extra policies,
no cache; ``confirm = false``; ``name`` = the project directory's name,
lowercased with every other character run turned into ``-``.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from cbdeploy.client.config import toml
from cbdeploy.client.config.find import CONFIG_FILE as CONFIG_FILE
from cbdeploy.client.config.find import DIRECTORY_HINT
from cbdeploy.client.config.find import check_readable_directory as check_readable_directory
from cbdeploy.client.config.find import find_config as find_config
from cbdeploy.client.config.lines import find_key_line
from cbdeploy.client.config.model import (
    NAME_MAX,
    STAGE_RE,
    PackageConfig,
    ProjectConfig,
)
from cbdeploy.client.config.schema import NAME_HINT, TOP_KEYS, WORKSPACE_TOP_KEYS, parse_layer
from cbdeploy.client.config.values import Problem, check_keys, need
from cbdeploy.client.errors import CbdeployError, ConfigError

INIT_HINT = "Run `cbdeploy init` to write a starter cbdeploy.toml, or pass --config-path."
# A config is a few kilobytes; the cap keeps /dev/zero or a huge file from eating memory.
CONFIG_MAX_BYTES = 1024 * 1024


def load_config(project_root: Path, stage: str, config_path: Path | None = None) -> ProjectConfig:
    """Load ``cbdeploy.toml`` (or ``config_path``) merged for ``stage``.

    Raises :class:`ConfigError` for a missing or unreadable file, bad TOML, and
    any unknown key, wrong type or bad value.
    """
    try:
        root = Path(project_root).resolve()
        if config_path is None:  # the nearest cbdeploy.toml at or above the folder, as git does
            found = find_config(root)
            if found is None:
                raise ConfigError(f"No config file: no {CONFIG_FILE} in {root} or any folder "
                                  "above it.", INIT_HINT)
            root, config_path = found.parent, found
        path = Path(config_path)
        if not path.is_absolute():
            path = Path.cwd() / path
    except OSError as error:  # getcwd() of a directory that was deleted
        raise ConfigError(
            f"Cannot use the current directory: {error.strerror or error}.", DIRECTORY_HINT
        ) from None
    check_readable_directory(root)
    text = read_config_text(path)
    try:
        document = toml.loads(text)
        return _build(document, root, path, stage)
    except toml.TOMLDecodeError as error:
        line = _syntax_error_line(error, text)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(
            f"{where}: not valid TOML: {error}",
            "Fix the syntax there: strings in quotes, arrays in [ ], one key = value a line.",
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{path}: arrays or tables are nested too deeply to read.",
            "A cbdeploy.toml needs a few levels at most; remove the deep nesting.",
        ) from None
    except Problem as problem:
        line = find_key_line(text, problem.key)
        where = f"{path}:{line}" if line else str(path)
        hint = problem.hint or f"Change {problem.key} in {where}, then run the command again."
        raise ConfigError(f"{where}: {problem.key}: {problem.message}", hint) from None


def stage_names(path: Path) -> set[str]:
    """The names of the config's ``[stages.*]`` tables; none when the file is missing or broken.

    For shell completion, which must stay quiet: the same safe read as :func:`load_config`.
    """
    try:
        stages = toml.loads(read_config_text(path)).get("stages", {})
    except (CbdeployError, ValueError, RecursionError):
        return set()  # no config (yet), or a broken one: no names
    return set(stages) if isinstance(stages, dict) else set()


def read_config_text(path: Path) -> str:
    """The text of the config file at ``path``: a regular file of at most ``CONFIG_MAX_BYTES``.

    A FIFO, a device such as /dev/zero or a directory is refused without reading
    (opened non-blocking, so a FIFO with no writer cannot hang us). Raises
    :class:`ConfigError`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"No config file: {path} does not exist.", INIT_HINT) from None
    except OSError as error:
        raise ConfigError(f"Cannot read {path}: {error.strerror or error}.", INIT_HINT) from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"Cannot read {path}: not a regular file.",
                "Point --config-path at a cbdeploy.toml file (not a directory, pipe or device).",
            )
        try:
            data = file.read(CONFIG_MAX_BYTES + 1)
        except OSError as error:
            raise ConfigError(f"Cannot read {path}: {error.strerror or error}.", INIT_HINT) from None
    if len(data) > CONFIG_MAX_BYTES:
        raise ConfigError(
            f"{path} is larger than {CONFIG_MAX_BYTES // 1024 // 1024} MB; this is not a "
            "cbdeploy.toml.",
            "Point --config-path at your project's cbdeploy.toml.",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"Cannot read {path}: not UTF-8 text ({error}).", INIT_HINT) from None


def locate(path: Path, dotted_key: str) -> str:
    """``path:line`` where ``dotted_key`` is written in the config file (``path`` if not found)."""
    try:
        line = find_key_line(read_config_text(path), dotted_key)
    except ConfigError:
        line = None
    return f"{path}:{line}" if line else str(path)


def _syntax_error_line(error: ValueError, text: str) -> int | None:
    """The line tomllib points at (its message says it; Python 3.14 also sets ``lineno``)."""
    line = getattr(error, "lineno", None)
    if isinstance(line, int):
        return line
    found = re.search(r"\(at line (\d+), column \d+\)", str(error))
    if found:
        return int(found.group(1))
    if "(at end of document)" in str(error):
        return max(1, len(text.splitlines()))
    return None


def load_package_config(
    project_root: Path, stage: str | None = None, config_path: Path | None = None
) -> PackageConfig:
    """The ``[package]`` settings, for commands that work without a config file.

    No ``cbdeploy.toml`` (and no ``config_path`` given): the defaults. A file
    that exists is validated in full, as for a deploy (``stage`` None: the base).
    """
    if config_path is None and not (Path(project_root) / CONFIG_FILE).is_file():
        return PackageConfig()
    return load_config(project_root, stage or "", config_path).package


def default_name(directory: Path) -> str:
    """The project name derived from a directory name ('' when nothing is left)."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.name.lower()).strip("-")
    return name[:NAME_MAX].rstrip("-")


# --- building --------------------------------------------------------------------------


def _build(document: dict[str, Any], root: Path, path: Path, stage: str) -> ProjectConfig:
    check_keys(document, TOP_KEYS | WORKSPACE_TOP_KEYS | {"stages"}, "")
    stages = document.get("stages", {})
    need(isinstance(stages, dict), "stages", "must be a table of stage names")
    for stage_name, override in stages.items():
        key = f"stages.{stage_name}"
        need(
            bool(STAGE_RE.match(stage_name)),
            key,
            f"{stage_name!r} is not a valid stage name",
            "A stage is 1 to 12 characters of a-z, 0-9 and '-', starting with a letter.",
        )
        need(isinstance(override, dict), key, "must be a table")
        check_keys(override, TOP_KEYS - {"name"}, key + ".")
    base = {k: v for k, v in document.items() if k != "stages"}
    merged = _merge(base, stages.get(stage, {}))
    # Validate the base, then every stage's merge (so a mistake in any stage shows and
    # is named under it), then use the requested stage's merge.
    parse_layer(base, "", {}, root)
    for stage_name, override in stages.items():
        parse_layer(_merge(base, override), f"stages.{stage_name}.", override, root)
    config_values = parse_layer(merged, f"stages.{stage}.", stages.get(stage, {}), root)
    name = config_values.pop("name", None) or default_name(root)
    if not name:
        raise Problem(
            "name", "the project directory's name gives no usable project name", NAME_HINT
        )
    return ProjectConfig(name=name, stage=stage, root=root, path=path, **config_values)


# Tables whose fields depend on each other: an override replaces them whole.
_REPLACED_WHOLE = frozenset({("codebuild", "cache")})


def _merge(
    base: dict[str, Any], override: dict[str, Any], at: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Deep-merge tables; arrays, scalars and ``codebuild.cache`` of the override replace."""
    merged = dict(base)
    for key, value in override.items():
        where = (*at, key)
        if (
            isinstance(value, dict)
            and isinstance(merged.get(key), dict)
            and where not in _REPLACED_WHOLE
        ):
            merged[key] = _merge(merged[key], value, where)
        else:
            merged[key] = value
    return merged
