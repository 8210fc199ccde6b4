"""Validation of ``cbdeploy.toml`` tables into the dataclasses of ``config_model``.

Every check raises :class:`Problem` with the dotted key it is about;
``client.config.load`` turns it into a ``ConfigError`` with the file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cbdeploy.client.config.codebuild import parse_codebuild
from cbdeploy.client.config.images import ImageConfig, parse_images
from cbdeploy.client.config.model import (
    ARG_STRLEN_MAX,
    ENV_NAME_RE,
    ENV_TOTAL_MAX,
    ENV_VALUE_MAX,
    NAME_RE,
    RESERVED_ENV,
    RESERVED_ENV_PREFIXES,
    SCRIPT_NAME_RE,
    SSM_NAME_RE,
    CodeBuildConfig,
    Hooks,
    PackageConfig,
    Pipeline,
    Script,
)
from cbdeploy.client.config.values import (
    Problem,
    boolean,
    need,
    no_nul,
    relative_path,
    str_list,
    string,
    table,
    type_name,
)
from cbdeploy.runner.script import step_script


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
    values.update(_steps(data, key))
    values["environment"] = _environment(
        data.get("environment", {}), key("environment"), codebuild=True
    )
    values["secrets"] = _secrets(data.get("secrets", {}), key("secrets"))
    values["secret_keys"] = {name: key(f"secrets.{name}") for name in values["secrets"]}
    _check_environment_size(values, key)
    values["codebuild"] = parse_codebuild(data.get("codebuild", {}), key, root)
    outputs = table(data.get("outputs", {}), key("outputs"), {"file"})
    values["outputs_file"] = (
        relative_path(outputs["file"], key("outputs.file")) if "file" in outputs else None
    )
    values["confirm"] = boolean(data.get("confirm", False), key("confirm"))
    values["package"] = _package(data.get("package", {}), key)
    values["images"] = _images(data.get("images", {}), key, root, values["codebuild"])
    _check_hooks(values["hooks"], values["scripts"], key)
    return values


def _steps(data: dict[str, Any], key: Callable[[str], str]) -> dict[str, Any]:
    """``[pipeline]``, ``[hooks]`` and ``[scripts]``: what the build runs."""
    pipeline = table(data.get("pipeline", {}), key("pipeline"), _PIPELINE_KEYS)
    steps = Pipeline(
        **{
            attr: _step_commands(pipeline.get(toml_key, []), key(f"pipeline.{toml_key}"))
            for toml_key, attr in (("install", "install"), ("build", "build"), ("deploy", "deploy"))
        }
    )
    hooks = table(data.get("hooks", {}), key("hooks"), {"beforeDeploy", "afterDeploy"})
    hook_lists = Hooks(
        before_deploy=str_list(hooks.get("beforeDeploy", []), key("hooks.beforeDeploy")),
        after_deploy=str_list(hooks.get("afterDeploy", []), key("hooks.afterDeploy")),
    )
    scripts = table(data.get("scripts", {}), key("scripts"), None)
    return {
        "pipeline": steps,
        "hooks": hook_lists,
        "scripts": {n: _script(n, s, key(f"scripts.{n}")) for n, s in scripts.items()},
    }


def _package(raw: Any, key: Callable[[str], str]) -> PackageConfig:
    package = table(raw, key("package"), _PACKAGE_KEYS)
    return PackageConfig(
        include_submodules=boolean(
            package.get("includeSubmodules", False), key("package.includeSubmodules")
        ),
        follow_external_links=boolean(
            package.get("followExternalLinks", False), key("package.followExternalLinks")
        ),
    )


def _images(
    raw: Any, key: Callable[[str], str], root: Path, codebuild: CodeBuildConfig
) -> dict[str, ImageConfig]:
    images = parse_images(raw, key("images"), root)
    need(
        not (images and codebuild.compute_type.startswith("BUILD_LAMBDA_")),
        key("images"),
        "cannot be built on a Lambda compute type (no Docker daemon)",
        "Use a BUILD_GENERAL1_* codebuild.computeType for a project with [images].",
    )
    return images


def _check_hooks(hooks: Hooks, scripts: Mapping[str, Script], key: Callable[[str], str]) -> None:
    """Every script a hook names is defined."""
    for toml_key, names in (("beforeDeploy", hooks.before_deploy), ("afterDeploy", hooks.after_deploy)):
        for script in names:
            need(
                script in scripts,
                key(f"hooks.{toml_key}"),
                f"names script {script!r}, which is not defined",
                f"Add a [scripts.{script}] table with executeCommand, or remove it from the hook.",
            )


def _script(name: str, raw: Any, key: str) -> Script:
    need(
        bool(SCRIPT_NAME_RE.match(name)),
        key,
        f"{name!r} is not a usable script name",
        "Use letters, digits, '.', '_' and '-'.",
    )
    script = table(
        raw, key, {"executeCommand", "executeCommands", "environment", "workingDirectory"}
    )
    need(
        ("executeCommand" in script) != ("executeCommands" in script),
        key,
        "needs exactly one of executeCommand (a string) or executeCommands (a list)",
    )
    if "executeCommand" in script:
        commands: tuple[str, ...] = _step_commands(
            string(script["executeCommand"], f"{key}.executeCommand"), f"{key}.executeCommand"
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
            relative_path(workdir, f"{key}.workingDirectory") if workdir is not None else None
        ),
    )


def _environment(raw: Any, key: str, *, codebuild: bool) -> dict[str, str]:
    """The variables of a table, each small enough for where it goes.

    ``codebuild``: sent as a CodeBuild variable (a value of ``ENV_VALUE_MAX``
    characters at most); otherwise set by the runner for a step's bash, where
    ``NAME=value`` is one execve string (``ARG_STRLEN_MAX`` bytes with its NUL).
    """
    env = table(raw, key, None)
    result: dict[str, str] = {}
    for name, value in env.items():
        _env_name(name, f"{key}.{name}")
        need(
            isinstance(value, (str, int, float, bool)),
            f"{key}.{name}",
            f"must be a string, number or boolean, not {type_name(value)}",
        )
        text = str(value).lower() if isinstance(value, bool) else str(value)
        no_nul(text, f"{key}.{name}")
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
    secrets = table(raw, key, None)
    for name, value in secrets.items():
        _env_name(name, f"{key}.{name}")
        try:
            secret_reference(string(value, f"{key}.{name}"))
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


def _step_commands(raw: Any, key: str) -> tuple[str, ...]:
    """The commands of one step: not empty, no NUL, and one script bash can be given."""
    # A single command may be written as a plain string.
    commands = (raw,) if isinstance(raw, str) else str_list(raw, key)
    for command in commands:
        need(bool(command.strip()), key, "holds an empty command")
        no_nul(command, key)
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


def _name(raw: Any, key: str) -> str:
    name = string(raw, key)
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


