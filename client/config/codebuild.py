"""The ``[codebuild]`` table: compute, image, timeout, policies, buildspec, cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cbdeploy.client.config.model import (
    BUILDSPEC_MAX,
    CACHE_MODES,
    CACHE_TYPES,
    COMPUTE_TYPES,
    ENVIRONMENT_TYPES,
    POLICY_ARN_RE,
    CacheConfig,
    CodeBuildConfig,
)
from cbdeploy.client.config.values import (
    boolean,
    choice,
    need,
    relative_path,
    str_list,
    string,
    table,
    type_name,
)

CODEBUILD_KEYS = frozenset(
    {
        "computeType",
        "image",
        "privilegedMode",
        "timeoutInMinutes",
        "policies",
        "buildspec",
        "ecrLogin",
        "cache",
        "environmentType",
    }
)


def parse_codebuild(raw: Any, key: Callable[[str], str], root: Path) -> CodeBuildConfig:
    cb = table(raw, key("codebuild"), CODEBUILD_KEYS)
    compute = choice(
        cb.get("computeType", "BUILD_GENERAL1_SMALL"), key("codebuild.computeType"), COMPUTE_TYPES
    )
    is_lambda = compute.startswith("BUILD_LAMBDA_")
    env_type = choice(
        cb.get("environmentType", "LINUX_LAMBDA_CONTAINER" if is_lambda else "LINUX_CONTAINER"),
        key("codebuild.environmentType"),
        ENVIRONMENT_TYPES,
    )
    need(
        is_lambda == ("LAMBDA" in env_type),
        key("codebuild.environmentType"),
        f"{env_type} does not go with compute type {compute}",
        "Lambda compute types need LINUX_LAMBDA_CONTAINER or ARM_LAMBDA_CONTAINER; "
        "the others need a container environment type.",
    )
    image = string(cb.get("image", "aws/codebuild/standard:7.0"), key("codebuild.image"))
    need(bool(image.strip()), key("codebuild.image"), "must not be empty")
    timeout = _timeout(cb.get("timeoutInMinutes", 60), key("codebuild.timeoutInMinutes"))
    policies = _policies(cb.get("policies", []), key("codebuild.policies"))
    buildspec = _buildspec(cb["buildspec"], key("codebuild.buildspec"), root) if "buildspec" in cb else None
    privileged = boolean(cb.get("privilegedMode", False), key("codebuild.privilegedMode"))
    need(
        not (privileged and is_lambda),
        key("codebuild.privilegedMode"),
        "Lambda compute types cannot run privileged (no Docker daemon)",
    )
    return CodeBuildConfig(
        compute_type=compute,
        image=image,
        privileged_mode=privileged,
        timeout_in_minutes=timeout,
        policies=policies,
        buildspec=buildspec,
        ecr_login=boolean(cb.get("ecrLogin", False), key("codebuild.ecrLogin")),
        cache=_cache(cb.get("cache", {}), key),
        environment_type=env_type,
    )


def _timeout(timeout: Any, key: str) -> int:
    need(
        isinstance(timeout, int) and not isinstance(timeout, bool),
        key,
        f"must be a whole number of minutes, not {type_name(timeout)}",
    )
    need(5 <= timeout <= 2160, key, f"{timeout} is out of range", "CodeBuild accepts 5 to 2160 minutes.")
    return int(timeout)


def _policies(raw: Any, key: str) -> tuple[str, ...]:
    policies = str_list(raw, key)
    for policy in policies:
        need(
            bool(POLICY_ARN_RE.match(policy)),
            key,
            f"{policy!r} is not an IAM policy ARN",
            "Use ARNs like arn:aws:iam::aws:policy/AdministratorAccess.",
        )
    return policies


def _buildspec(raw: Any, key: str, root: Path) -> str:
    buildspec = relative_path(raw, key)
    need(
        (root / buildspec).is_file(),
        key,
        f"{buildspec} does not exist in the project",
        "Give the path of your buildspec relative to the project root.",
    )
    _check_buildspec_size(root / buildspec, key)
    return buildspec


def _check_buildspec_size(path: Path, key: str) -> None:
    """The buildspec is sent inline (buildspecOverride): at most ``BUILDSPEC_MAX`` characters.

    A file that cannot be read is left to the buildspec renderer, which says so.
    """
    try:
        if path.stat().st_size <= BUILDSPEC_MAX:  # UTF-8: never more characters than bytes
            return
        with path.open("rb") as file:
            length = len(file.read(4 * BUILDSPEC_MAX + 4).decode("utf-8", "replace"))
    except OSError:
        return
    need(
        length <= BUILDSPEC_MAX,
        key,
        f"the buildspec has more than {BUILDSPEC_MAX:,} characters, the most CodeBuild "
        "takes inline",
        "Shorten it: move long command lists into script files in the project.",
    )


def _cache(raw: Any, key: Callable[[str], str]) -> CacheConfig:
    cache = table(raw, key("codebuild.cache"), {"type", "modes", "paths"})
    kind = choice(cache.get("type", "none"), key("codebuild.cache.type"), CACHE_TYPES)
    paths = str_list(cache.get("paths", []), key("codebuild.cache.paths"))
    need(
        not (paths and kind == "none"),
        key("codebuild.cache.paths"),
        'cache paths need a cache: set type = "local" or "s3"',
    )
    if "modes" in cache:
        need(
            kind == "local",
            key("codebuild.cache.modes"),
            "modes apply to the local cache only",
            'Use type = "local" with modes, or drop modes.',
        )
    modes = str_list(
        cache.get("modes", list(CACHE_MODES) if kind == "local" else []),
        key("codebuild.cache.modes"),
    )
    for mode in modes:
        choice(mode, key("codebuild.cache.modes"), CACHE_MODES)
    need(
        kind != "local" or bool(modes), key("codebuild.cache.modes"), "must name at least one mode"
    )
    return CacheConfig(type=kind, modes=modes, paths=paths)
