"""Validation of ``cbdeploy.toml`` tables into the dataclasses of ``config_model``.

Every check raises :class:`Problem` with the dotted key it is about;
``client.config.load`` turns it into a ``ConfigError`` with the file and line.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from cbdeploy.client.config.images import ImageProblem, parse_images
from cbdeploy.client.config.model import (
    ARG_STRLEN_MAX,
    BUILDSPEC_MAX,
    CACHE_MODES,
    CACHE_TYPES,
    COMPUTE_TYPES,
    ENV_NAME_RE,
    ENV_TOTAL_MAX,
    ENV_VALUE_MAX,
    ENVIRONMENT_TYPES,
    NAME_RE,
    POLICY_ARN_RE,
    RESERVED_ENV,
    RESERVED_ENV_PREFIXES,
    SCRIPT_NAME_RE,
    SSM_NAME_RE,
    CacheConfig,
    CodeBuildConfig,
    Hooks,
    PackageConfig,
    Pipeline,
    Script,
)
from cbdeploy.runner.pipeline import step_script


class Problem(Exception):
    def __init__(self, key: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.hint = hint


def parse_layer(
    data: dict[str, Any],
    stage_prefix: str,
    override: dict[str, Any],
    root: Path,
) -> dict[str, Any]:
    """Validate merged values; a key set by the override is reported under the stage."""

    def key(dotted: str) -> str:
        node: Any = override
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return dotted
            node = node[part]
        return stage_prefix + dotted

    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = _name(data["name"], key("name"))
    pipeline = _table(data.get("pipeline", {}), key("pipeline"), _PIPELINE_KEYS)
    values["pipeline"] = Pipeline(
        **{
            attr: _step_commands(pipeline.get(toml_key, []), key(f"pipeline.{toml_key}"))
            for toml_key, attr in (("install", "install"), ("build", "build"), ("deploy", "deploy"))
        }
    )
    hooks = _table(data.get("hooks", {}), key("hooks"), {"beforeDeploy", "afterDeploy"})
    values["hooks"] = Hooks(
        before_deploy=_str_list(hooks.get("beforeDeploy", []), key("hooks.beforeDeploy")),
        after_deploy=_str_list(hooks.get("afterDeploy", []), key("hooks.afterDeploy")),
    )
    scripts = _table(data.get("scripts", {}), key("scripts"), None)
    values["scripts"] = {n: _script(n, s, key(f"scripts.{n}")) for n, s in scripts.items()}
    values["environment"] = _environment(
        data.get("environment", {}), key("environment"), codebuild=True
    )
    values["secrets"] = _secrets(data.get("secrets", {}), key("secrets"))
    values["secret_keys"] = {name: key(f"secrets.{name}") for name in values["secrets"]}
    _check_environment_size(values, key)
    values["codebuild"] = _codebuild(data.get("codebuild", {}), key, root)
    outputs = _table(data.get("outputs", {}), key("outputs"), {"file"})
    values["outputs_file"] = (
        _relative_path(outputs["file"], key("outputs.file")) if "file" in outputs else None
    )
    values["confirm"] = _bool(data.get("confirm", False), key("confirm"))
    package = _table(data.get("package", {}), key("package"), _PACKAGE_KEYS)
    values["package"] = PackageConfig(
        include_submodules=_bool(
            package.get("includeSubmodules", False), key("package.includeSubmodules")
        ),
        follow_external_links=_bool(
            package.get("followExternalLinks", False), key("package.followExternalLinks")
        ),
    )
    try:
        values["images"] = parse_images(data.get("images", {}), key("images"), root)
    except ImageProblem as problem:
        raise Problem(problem.key, problem.message, problem.hint) from None
    need(
        not (values["images"] and values["codebuild"].compute_type.startswith("BUILD_LAMBDA_")),
        key("images"),
        "cannot be built on a Lambda compute type (no Docker daemon)",
        "Use a BUILD_GENERAL1_* codebuild.computeType for a project with [images].",
    )
    for toml_key, hooks in (
        ("beforeDeploy", values["hooks"].before_deploy),
        ("afterDeploy", values["hooks"].after_deploy),
    ):
        for script in hooks:
            need(
                script in values["scripts"],
                key(f"hooks.{toml_key}"),
                f"names script {script!r}, which is not defined",
                f"Add a [scripts.{script}] table with executeCommand, or remove it from the hook.",
            )
    return values


def _codebuild(raw: Any, key: Callable[[str], str], root: Path) -> CodeBuildConfig:
    cb = _table(raw, key("codebuild"), _CODEBUILD_KEYS)
    compute = _choice(
        cb.get("computeType", "BUILD_GENERAL1_SMALL"), key("codebuild.computeType"), COMPUTE_TYPES
    )
    is_lambda = compute.startswith("BUILD_LAMBDA_")
    env_type = _choice(
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
    image = _str(cb.get("image", "aws/codebuild/standard:7.0"), key("codebuild.image"))
    need(bool(image.strip()), key("codebuild.image"), "must not be empty")
    timeout = cb.get("timeoutInMinutes", 60)
    need(
        isinstance(timeout, int) and not isinstance(timeout, bool),
        key("codebuild.timeoutInMinutes"),
        f"must be a whole number of minutes, not {_type_name(timeout)}",
    )
    need(
        5 <= timeout <= 2160,
        key("codebuild.timeoutInMinutes"),
        f"{timeout} is out of range",
        "CodeBuild accepts 5 to 2160 minutes.",
    )
    policies = _str_list(cb.get("policies", []), key("codebuild.policies"))
    for policy in policies:
        need(
            bool(POLICY_ARN_RE.match(policy)),
            key("codebuild.policies"),
            f"{policy!r} is not an IAM policy ARN",
            "Use ARNs like arn:aws:iam::aws:policy/AdministratorAccess.",
        )
    buildspec = None
    if "buildspec" in cb:
        buildspec = _relative_path(cb["buildspec"], key("codebuild.buildspec"))
        need(
            (root / buildspec).is_file(),
            key("codebuild.buildspec"),
            f"{buildspec} does not exist in the project",
            "Give the path of your buildspec relative to the project root.",
        )
        _check_buildspec_size(root / buildspec, key("codebuild.buildspec"))
    privileged = _bool(cb.get("privilegedMode", False), key("codebuild.privilegedMode"))
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
        ecr_login=_bool(cb.get("ecrLogin", False), key("codebuild.ecrLogin")),
        cache=_cache(cb.get("cache", {}), key),
        environment_type=env_type,
    )


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
    cache = _table(raw, key("codebuild.cache"), {"type", "modes", "paths"})
    kind = _choice(cache.get("type", "none"), key("codebuild.cache.type"), CACHE_TYPES)
    paths = _str_list(cache.get("paths", []), key("codebuild.cache.paths"))
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
    modes = _str_list(
        cache.get("modes", list(CACHE_MODES) if kind == "local" else []),
        key("codebuild.cache.modes"),
    )
    for mode in modes:
        _choice(mode, key("codebuild.cache.modes"), CACHE_MODES)
    need(
        kind != "local" or bool(modes), key("codebuild.cache.modes"), "must name at least one mode"
    )
    return CacheConfig(type=kind, modes=modes, paths=paths)


def _script(name: str, raw: Any, key: str) -> Script:
    need(
        bool(SCRIPT_NAME_RE.match(name)),
        key,
        f"{name!r} is not a usable script name",
        "Use letters, digits, '.', '_' and '-'.",
    )
    script = _table(
        raw, key, {"executeCommand", "executeCommands", "environment", "workingDirectory"}
    )
    need(
        ("executeCommand" in script) != ("executeCommands" in script),
        key,
        "needs exactly one of executeCommand (a string) or executeCommands (a list)",
    )
    if "executeCommand" in script:
        commands: tuple[str, ...] = _step_commands(
            _str(script["executeCommand"], f"{key}.executeCommand"), f"{key}.executeCommand"
        )
    else:
        commands = _step_commands(script["executeCommands"], f"{key}.executeCommands")
    workdir = script.get("workingDirectory")
    return Script(
        name=name,
        commands=commands,
        environment=_environment(
            script.get("environment", {}), f"{key}.environment", codebuild=False
        ),
        working_directory=(
            _relative_path(workdir, f"{key}.workingDirectory") if workdir is not None else None
        ),
    )


def _environment(raw: Any, key: str, *, codebuild: bool) -> dict[str, str]:
    """The variables of a table, each small enough for where it goes.

    ``codebuild``: sent as a CodeBuild variable (a value of ``ENV_VALUE_MAX``
    characters at most); otherwise set by the runner for a step's bash, where
    ``NAME=value`` is one execve string (``ARG_STRLEN_MAX`` bytes with its NUL).
    """
    env = _table(raw, key, None)
    result: dict[str, str] = {}
    for name, value in env.items():
        _env_name(name, f"{key}.{name}")
        need(
            isinstance(value, (str, int, float, bool)),
            f"{key}.{name}",
            f"must be a string, number or boolean, not {_type_name(value)}",
        )
        text = str(value).lower() if isinstance(value, bool) else str(value)
        _no_nul(text, f"{key}.{name}")
        if codebuild:
            size, unit, value_max = len(text), "characters", ENV_VALUE_MAX
        else:
            size, unit, value_max = len(f"{name}={text}".encode()), "bytes", ARG_STRLEN_MAX - 1
        need(
            size <= value_max,
            f"{key}.{name}",
            f"is {size:,} {unit} long; a build takes at most {value_max:,} here",
            _LARGE_VALUE_HINT,
        )
        result[name] = text
    return result


def _check_environment_size(values: dict[str, Any], key: Callable[[str], str]) -> None:
    """Every step gets [environment], [secrets] and its script's variables: keep them in ARG_MAX.

    Counted as execve does: each ``NAME=value`` string with its NUL, plus a
    pointer to it. A secret's value is not known here; its reference stands in.
    """

    def size(env: Mapping[str, str]) -> int:
        return sum(len(f"{n}={v}".encode()) + 1 + 8 for n, v in env.items())

    base = size(values["environment"]) + size(values["secrets"])
    where = key("environment")
    total = base
    for name, script in values["scripts"].items():
        if base + size(script.environment) > total:
            total = base + size(script.environment)
            where = key(f"scripts.{name}.environment")
    need(
        total <= ENV_TOTAL_MAX,
        where,
        f"the build's variables come to {total:,} bytes; cbdeploy allows {ENV_TOTAL_MAX:,} "
        "(Linux gives a program's arguments and environment 2 MiB in all, ARG_MAX, and the "
        "build image needs its share)",
        _LARGE_VALUE_HINT,
    )


def _secrets(raw: Any, key: str) -> dict[str, str]:
    secrets = _table(raw, key, None)
    for name, value in secrets.items():
        _env_name(name, f"{key}.{name}")
        try:
            secret_reference(_str(value, f"{key}.{name}"))
        except ValueError as error:
            raise Problem(f"{key}.{name}", str(error), _SECRET_HINT) from None
    return dict(secrets)


def secret_reference(reference: str) -> tuple[str, str]:
    """``ssm:/x`` -> (PARAMETER_STORE, "/x"); ``secretsmanager:id[:key...]`` -> SECRETS_MANAGER.

    Raises ValueError for anything else.
    """
    kind, _, rest = reference.partition(":")
    if kind == "ssm":
        if not SSM_NAME_RE.match(rest):
            raise ValueError(f"{reference!r} does not name an SSM parameter")
        return "PARAMETER_STORE", rest
    if kind == "secretsmanager":
        if "*" in rest or "?" in rest:
            # IAM reads them as wildcards: the role would be granted every matching secret.
            raise ValueError(
                f"{reference!r} holds a wildcard ('*' or '?'); name exactly one secret"
            )
        parts = rest.split(":")
        # A secret ARN holds colons itself: arn:aws:secretsmanager:region:account:secret:name.
        id_parts = 7 if rest.startswith("arn:") else 1
        if len(parts) < id_parts or not all(parts[:id_parts]) or len(parts) > id_parts + 3:
            raise ValueError(f"{reference!r} is not a Secrets Manager reference")
        return "SECRETS_MANAGER", rest
    raise ValueError(f"{reference!r} is not a secret reference")


# --- small checks ----------------------------------------------------------------------

TOP_KEYS = frozenset(
    {
        "name",
        "pipeline",
        "hooks",
        "scripts",
        "environment",
        "secrets",
        "codebuild",
        "outputs",
        "confirm",
        "package",
        "images",
    }
)
# Read by client/config/workspace.py (a workspace root, a service of one); not per stage.
WORKSPACE_TOP_KEYS = frozenset({"workspace", "dependsOn", "paths"})
_PIPELINE_KEYS = frozenset({"install", "build", "deploy"})
_PACKAGE_KEYS = frozenset({"includeSubmodules", "followExternalLinks"})
_CODEBUILD_KEYS = frozenset(
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
_LARGE_VALUE_HINT = (
    "Keep large data out of variables: put it in a file in the project, or in SSM "
    "Parameter Store or Secrets Manager and reference it under [secrets]."
)
NAME_HINT = (
    "Set name = \"...\" in cbdeploy.toml: 1 to 40 of a-z, 0-9 and '-', starting and ending "
    "with a letter or digit (it becomes part of AWS names: cbdeploy-<name>_<stage>)."
)
_SECRET_HINT = (
    'Use "ssm:/parameter/name" or "secretsmanager:secret-id[:json-key[:version-stage'
    '[:version-id]]]".'
)


def need(condition: bool, key: str, message: str, hint: str | None = None) -> None:
    if not condition:
        raise Problem(key, message, hint)


def _type_name(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def check_keys(table: dict[str, Any], allowed: frozenset[str] | set[str], prefix: str) -> None:
    for name in table:
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            close = difflib.get_close_matches(name, sorted(allowed), n=1)
            guess = f"Did you mean {close[0]}? " if close else ""
            raise Problem(prefix + name, "unknown key", f"{guess}Known keys here: {known}.")


def _table(raw: Any, key: str, allowed: frozenset[str] | set[str] | None) -> dict[str, Any]:
    need(isinstance(raw, dict), key, f"must be a table, not {_type_name(raw)}")
    if allowed is not None:
        check_keys(raw, allowed, key + ".")
    return dict(raw)


def _str(raw: Any, key: str) -> str:
    need(isinstance(raw, str), key, f"must be a string, not {_type_name(raw)}")
    _no_nul(str(raw), key)
    return str(raw)


def _bool(raw: Any, key: str) -> bool:
    need(isinstance(raw, bool), key, f"must be true or false, not {_type_name(raw)}")
    return bool(raw)


def _str_list(raw: Any, key: str) -> tuple[str, ...]:
    need(isinstance(raw, list), key, f"must be an array of strings, not {_type_name(raw)}")
    for item in raw:
        need(isinstance(item, str), key, f"must hold strings only, not {_type_name(item)}")
        _no_nul(item, key)
    return tuple(raw)


def _step_commands(raw: Any, key: str) -> tuple[str, ...]:
    """The commands of one step: not empty, no NUL, and one script bash can be given."""
    # A single command may be written as a plain string.
    commands = (raw,) if isinstance(raw, str) else _str_list(raw, key)
    for command in commands:
        need(bool(command.strip()), key, "holds an empty command")
        _no_nul(command, key)
    size = len(step_script(commands).encode()) + 1
    need(
        size <= ARG_STRLEN_MAX,
        key,
        f"makes a {size:,}-byte script; a step runs as one bash -c argument, which Linux "
        f"caps at {ARG_STRLEN_MAX:,} bytes (MAX_ARG_STRLEN; each command counts twice, as "
        "it is also echoed)",
        "Put long commands into a script file in the project and run that file instead.",
    )
    return commands


def _no_nul(value: str, key: str) -> None:
    need(
        "\x00" not in value,
        key,
        "holds a NUL character (\\u0000), which no command line or environment variable "
        "can carry",
        "Remove the \\u0000 escape from the value.",
    )


def _choice(raw: Any, key: str, allowed: tuple[str, ...]) -> str:
    value = _str(raw, key)
    need(value in allowed, key, f"{value!r} is not allowed", "Use one of: " + ", ".join(allowed))
    return value


def _name(raw: Any, key: str) -> str:
    name = _str(raw, key)
    need(bool(NAME_RE.match(name)), key, f"{name!r} is not a valid project name", NAME_HINT)
    return name


def _env_name(name: str, key: str) -> None:
    need(
        bool(ENV_NAME_RE.match(name)),
        key,
        f"{name!r} is not a valid environment variable name",
        "Use letters, digits and '_', not starting with a digit.",
    )
    need(
        name not in RESERVED_ENV and not name.startswith(RESERVED_ENV_PREFIXES),
        key,
        f"{name} is set by cbdeploy or CodeBuild itself",
        "Choose another name; STAGE, REGION, CBDEPLOY_* and CODEBUILD_* are reserved.",
    )


def _relative_path(raw: Any, key: str) -> str:
    value = _str(raw, key)
    posix = PurePosixPath(value.replace("\\", "/"))
    need(
        bool(value) and not posix.is_absolute() and ".." not in posix.parts,
        key,
        f"{value!r} must be a path inside the project",
        "Give a relative path without '..'.",
    )
    return posix.as_posix()
