"""The buildspec sent with every build (``buildspecOverride``).

Built as data: ``buildspec/deploy.yml`` is loaded, adjusted for the config
(the ECR login phase only with ``codebuild.ecrLogin``; ``cache.paths`` from
``codebuild.cache.paths``) and dumped. With ``codebuild.buildspec`` the
project's own buildspec is sent as written and the runner is not used.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.errors import ConfigError

TEMPLATE = "deploy.yml"


def template() -> dict[str, Any]:
    """The template as data, straight from the ``buildspec`` package."""
    text = resources.files("cbdeploy.buildspec").joinpath(TEMPLATE).read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
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
    return yaml.safe_dump(
        buildspec_data(config), sort_keys=False, default_flow_style=False, width=1000
    )


def _users_buildspec(config: ProjectConfig) -> str:
    relative = config.codebuild.buildspec
    path = config.root / str(relative)
    hint = "Fix the file named by codebuild.buildspec, or remove the key to use cbdeploy's runner."
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read the buildspec {path}: {error}", hint) from None
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
