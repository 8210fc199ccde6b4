"""Docker images declared in ``cbdeploy.toml``: the ``[images.<name>]`` tables.

::

    [images.api]
    context = "services/api"        # relative to the project root (default ".")
    dockerfile = "Dockerfile"        # relative to the context (default)
    repository = "shop-api"          # ECR repository (default cbdeploy/<app>/<stage>/<name>)
    buildArgs = { NODE_ENV = "production" }
    target = "runtime"               # optional multi-stage target
    platform = "linux/amd64"         # optional
    cache = true                     # layer cache in the repository (default)

Declaring an image turns on CodeBuild's privileged mode. Bootstrap creates
each repository (tagged ``cbdeploy:app``/``cbdeploy:stage`` like the stage's
other resources, so a repository belongs to one stage) and grants the role
exactly the ECR actions a push and a pull need on exactly those
repositories, plus ``ecr:GetAuthorizationToken`` (which takes no resource).
The runner builds and pushes every image after ``build`` and before the
``beforeDeploy`` hooks (``runner/images.py``); the deploy steps see
``IMAGE_URI_<NAME>`` (``<repository uri>@sha256:...``) and ``IMAGE_TAG_<NAME>``.

The validation of those tables; what they become in AWS (repository names, grants,
the runner's plan) is in ``client/infra/images.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cbdeploy.client.config.values import Problem

IMAGE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
# ECR's repository name pattern (CreateRepository), 2 to 256 characters.
REPOSITORY_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")
IMAGE_KEYS = frozenset(
    {"context", "dockerfile", "repository", "buildArgs", "target", "platform", "cache"}
)
@dataclass(frozen=True)
class ImageConfig:
    """One ``[images.<name>]`` table, validated; ``repository`` None: the default name."""

    name: str
    context: str = "."
    dockerfile: str = "Dockerfile"
    repository: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str | None = None
    cache: bool = True

    @property
    def env_suffix(self) -> str:
        """``api-v2`` -> ``API_V2``: the ``<NAME>`` of IMAGE_URI_<NAME>."""
        return self.name.upper().replace("-", "_")


def parse_images(raw: Any, key: str, root: Path) -> dict[str, ImageConfig]:
    """Validate the ``images`` table (``key`` its dotted name, for messages)."""
    if not isinstance(raw, dict):
        raise Problem(key, "must be a table of images, e.g. [images.api]")
    images: dict[str, ImageConfig] = {}
    suffixes: dict[str, str] = {}
    for name, table in raw.items():
        where = f"{key}.{name}"
        if not IMAGE_NAME_RE.match(name):
            raise Problem(
                where,
                f"{name!r} is not a valid image name",
                "Use 1 to 40 letters, digits, '-' and '_', starting with a letter "
                "(it becomes IMAGE_URI_<NAME>).",
            )
        image = _image(name, table, where, root)
        other = suffixes.get(image.env_suffix)
        if other is not None:
            raise Problem(
                where,
                f"gives IMAGE_URI_{image.env_suffix}, as image {other!r} does",
                "Rename one of them.",
            )
        suffixes[image.env_suffix] = name
        images[name] = image
    return images


def _image(name: str, table: Any, key: str, root: Path) -> ImageConfig:
    if not isinstance(table, dict):
        raise Problem(key, "must be a table", f"Write it as [{key}] with context = \"...\".")
    for unknown in sorted(set(table) - IMAGE_KEYS):
        raise Problem(
            f"{key}.{unknown}", "unknown key", "Known keys here: " + ", ".join(sorted(IMAGE_KEYS)) + "."
        )
    context = _inside(table.get("context", "."), f"{key}.context")
    dockerfile = _inside(table.get("dockerfile", "Dockerfile"), f"{key}.dockerfile")
    if not (root / context).is_dir():
        raise Problem(
            f"{key}.context",
            f"{context!r} is not a directory of the project",
            "Give the image's build context relative to the project root.",
        )
    if not (root / context / dockerfile).is_file():
        raise Problem(
            f"{key}.dockerfile",
            f"there is no {PurePosixPath(context, dockerfile).as_posix()}",
            "Give the Dockerfile's path relative to the context (default Dockerfile).",
        )
    repository = _repository(table.get("repository"), f"{key}.repository")
    args = table.get("buildArgs", {})
    if not isinstance(args, dict):
        raise Problem(f"{key}.buildArgs", "must be a table of strings, e.g. { A = \"1\" }")
    for arg, value in args.items():
        _string(value, f"{key}.buildArgs.{arg}")
    target = table.get("target")
    if target is not None:
        target = _string(target, f"{key}.target")
    platform = _platform(table.get("platform"), f"{key}.platform")
    cache = table.get("cache", True)
    if not isinstance(cache, bool):
        raise Problem(f"{key}.cache", "must be true or false")
    return ImageConfig(
        name=name,
        context=context,
        dockerfile=dockerfile,
        repository=repository,
        build_args={str(k): str(v) for k, v in args.items()},
        target=target,
        platform=platform,
        cache=cache,
    )


def _repository(repository: Any, key: str) -> str | None:
    if repository is None:
        return None
    repository = _string(repository, key)
    if not (2 <= len(repository) <= 256 and REPOSITORY_RE.match(repository)):
        raise Problem(
            key,
            f"{repository!r} is not a valid ECR repository name",
            "Use lowercase letters, digits, '.', '_', '-' and '/' between parts "
            "(2 to 256 characters), e.g. shop-api.",
        )
    return repository


def _platform(platform: Any, key: str) -> str | None:
    if platform is None:
        return None
    platform = _string(platform, key)
    if not PLATFORM_RE.match(platform):
        raise Problem(
            key,
            f"{platform!r} is not a platform",
            "Use os/arch[/variant], e.g. linux/amd64 or linux/arm64.",
        )
    return platform


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise Problem(key, "must be a non-empty string")
    return value


def _inside(value: Any, key: str) -> str:
    text = _string(value, key)
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise Problem(key, f"{text!r} must be a path inside the project", "Give a relative path without '..'.")
    return path.as_posix()
