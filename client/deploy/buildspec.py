"""The buildspec sent with every build (``buildspecOverride``).

``buildspec/deploy.yml`` adjusted for the config: the ECR login phase only with
``codebuild.ecrLogin``; ``cache.paths`` from ``codebuild.cache.paths``. A deploy
renders it as text, the template's own lines with those two parts cut or filled
(:func:`render_buildspec`: no YAML library loaded, ~20 ms of a deploy's start);
:func:`buildspec_data` gives the same as data (a workspace's batch builds on it),
and the tests hold the two equal for every case. With ``codebuild.buildspec`` the
project's own buildspec is sent as written and the runner is not used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbdeploy.buildspec as templates
from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.errors import ConfigError

TEMPLATE = "deploy.yml"
# Where the template's parts begin: each a line of its own (see deploy.yml).
_PRE_BUILD = "\n  pre_build:\n"
_BUILD = "\n  build:\n"
_CACHE = "\ncache:\n  paths: []\n"


def template_text() -> str:
    """The template, straight from the ``buildspec`` package (installed as files)."""
    return (Path(templates.__file__).parent / TEMPLATE).read_text(encoding="utf-8")


def template() -> dict[str, Any]:
    """The template as data."""
    import yaml

    data: dict[str, Any] = yaml.safe_load(template_text())
    return data


def buildspec_data(config: ProjectConfig) -> dict[str, Any]:
    """The runner's buildspec for ``config`` as data."""
    spec = template()
    if not config.codebuild.ecr_login:
        del spec["phases"]["pre_build"]
    cache = config.codebuild.cache
    if cache.type != "none" and cache.paths:
        spec["cache"] = {"paths": list(cache.paths)}
    else:
        del spec["cache"]
    return spec


def render_buildspec(config: ProjectConfig) -> str:
    """YAML text for ``buildspecOverride``; the user's own buildspec when configured.

    Raises :class:`ConfigError` when the user's buildspec cannot be read or is not
    a YAML mapping.
    """
    if config.codebuild.buildspec:
        return _users_buildspec(config)
    text = "".join(line for line in template_text().splitlines(keepends=True)
                   if not line.startswith("#"))  # (the template's notes: never in a scalar)
    if not config.codebuild.ecr_login:
        start = text.index(_PRE_BUILD)
        text = text[:start] + text[text.index(_BUILD, start):]
    cache = config.codebuild.cache
    paths = list(cache.paths) if cache.type != "none" else []
    # A JSON string is a YAML double-quoted scalar, escapes and all.
    filled = "".join(f"    - {json.dumps(path)}\n" for path in paths)
    return text.replace(_CACHE, f"\ncache:\n  paths:\n{filled}" if filled else "\n", 1)


def _users_buildspec(config: ProjectConfig) -> str:
    relative = config.codebuild.buildspec
    path = config.root / str(relative)
    hint = "Fix the file named by codebuild.buildspec, or remove the key to use cbdeploy's runner."
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read the buildspec {path}: {error}", hint) from None
    import yaml  # (only for a project's own buildspec)

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"The buildspec {path} is not valid YAML: {error}", hint) from None
    if not isinstance(data, dict) or not isinstance(data.get("phases"), dict):
        raise ConfigError(f"The buildspec {path} is not a buildspec (no phases mapping).", hint)
    # CodeBuild refuses any other version (YAML_FILE_ERROR), only once the build has started.
    if str(data.get("version")) not in ("0.1", "0.2"):
        raise ConfigError(
            f"The buildspec {path} has version {data.get('version')!r}; CodeBuild needs "
            "'version: 0.2'.",
            hint,
        )
    return text
