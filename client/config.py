"""Read and validate ``cbdeploy.toml`` into the frozen config for one stage.

``load_config`` parses the file, checks every table of it against the schema
below (the base and every ``[stages.<name>]`` override, so a mistake in a stage
you are not deploying still shows), deep-merges the override of the requested
stage over the base, then checks what needs the merged view (hooks naming
scripts). Any problem is a :class:`ConfigError` naming the dotted key, the file
and, where it can be found in the text, the line.

Defaults, for a key that is absent: an empty pipeline, no hooks, scripts,
environment or secrets; ``codebuild`` = BUILD_GENERAL1_SMALL on
``aws/codebuild/standard:7.0``, not privileged, 60 minutes, no extra policies,
no cache; ``confirm = false``; ``name`` = the project directory's name,
lowercased with every other character run turned into ``-``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from client.config_lines import find_key_line
from client.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_FILE = "cbdeploy.toml"
INIT_HINT = "Run `cbdeploy init` to write a starter cbdeploy.toml, or pass --config-path."

COMPUTE_TYPES = (
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
    "BUILD_LAMBDA_1GB",
    "BUILD_LAMBDA_2GB",
    "BUILD_LAMBDA_4GB",
    "BUILD_LAMBDA_8GB",
    "BUILD_LAMBDA_10GB",
)
ENVIRONMENT_TYPES = (
    "LINUX_CONTAINER",
    "LINUX_GPU_CONTAINER",
    "ARM_CONTAINER",
    "LINUX_LAMBDA_CONTAINER",
    "ARM_LAMBDA_CONTAINER",
)
CACHE_TYPES = ("none", "local", "s3")
CACHE_MODES = ("docker-layer", "source", "custom")
# The name goes into `cbdeploy-<name>-<stage>` (CodeBuild project, IAM role:
# 64 characters at most, with a 12-character stage) and into S3 keys.
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
NAME_MAX = 40
STAGE_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# cbdeploy sets these itself; CodeBuild rejects names starting with CODEBUILD_.
RESERVED_ENV = ("STAGE", "REGION", "CBDEPLOY_PROJECT")
RESERVED_ENV_PREFIXES = ("CODEBUILD_", "CBDEPLOY_")
SCRIPT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SSM_NAME_RE = re.compile(r"^/?[A-Za-z0-9_.\-/]+$")
POLICY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")


@dataclass(frozen=True)
class Pipeline:
    install: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    deploy: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hooks:
    before_deploy: tuple[str, ...] = ()
    after_deploy: tuple[str, ...] = ()


@dataclass(frozen=True)
class Script:
    """``[scripts.<name>]``: commands run as one hook step, with their own environment."""

    name: str
    commands: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None


@dataclass(frozen=True)
class CacheConfig:
    """``codebuild.cache``: ``type`` none/local/s3; local ``modes``; custom ``paths``."""

    type: str = "none"
    modes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeBuildConfig:
    compute_type: str = "BUILD_GENERAL1_SMALL"
    image: str = "aws/codebuild/standard:7.0"
    privileged_mode: bool = False
    timeout_in_minutes: int = 60
    policies: tuple[str, ...] = ()
    buildspec: str | None = None
    ecr_login: bool = False
    cache: CacheConfig = CacheConfig()
    environment_type: str = "LINUX_CONTAINER"


@dataclass(frozen=True)
class PackageConfig:
    include_submodules: bool = False
    follow_external_links: bool = False


@dataclass(frozen=True)
class ProjectConfig:
    """The merged config for one stage. ``path`` is the file, ``root`` the project."""

    name: str
    stage: str
    root: Path
    path: Path
    pipeline: Pipeline = Pipeline()
    hooks: Hooks = Hooks()
    scripts: Mapping[str, Script] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    codebuild: CodeBuildConfig = CodeBuildConfig()
    outputs_file: str | None = None
    confirm: bool = False
    package: PackageConfig = PackageConfig()


class _Problem(Exception):
    def __init__(self, key: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.hint = hint


def load_config(project_root: Path, stage: str, config_path: Path | None = None) -> ProjectConfig:
    """Load ``cbdeploy.toml`` (or ``config_path``) merged for ``stage``.

    Raises :class:`ConfigError` for a missing or unreadable file, bad TOML, and
    any unknown key, wrong type or bad value.
    """
    root = Path(project_root).resolve()
    path = Path(config_path) if config_path else root / CONFIG_FILE
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"No config file: {path} does not exist.", INIT_HINT) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read {path}: {error}", INIT_HINT) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}", "Fix the syntax error.") from None
    try:
        return _build(document, root, path, stage)
    except _Problem as problem:
        line = find_key_line(text, problem.key)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: {problem.key}: {problem.message}", problem.hint) from None


def default_name(directory: Path) -> str:
    """The project name derived from a directory name ('' when nothing is left)."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.name.lower()).strip("-")
    return name[:NAME_MAX].rstrip("-")


# --- building --------------------------------------------------------------------------


def _build(document: dict[str, Any], root: Path, path: Path, stage: str) -> ProjectConfig:
    _check_keys(document, _TOP_KEYS | {"stages"}, "")
    stages = document.get("stages", {})
    _need(isinstance(stages, dict), "stages", "must be a table of stage names")
    for stage_name, override in stages.items():
        key = f"stages.{stage_name}"
        _need(
            bool(STAGE_RE.match(stage_name)),
            key,
            f"{stage_name!r} is not a valid stage name",
            "A stage is 1 to 12 characters of a-z, 0-9 and '-', starting with a letter.",
        )
        _need(isinstance(override, dict), key, "must be a table")
        _check_keys(override, _TOP_KEYS - {"name"}, key + ".")
    base = {k: v for k, v in document.items() if k != "stages"}
    merged = _merge(base, stages.get(stage, {}))
    # Validate the base, then every stage's merge (so a mistake in any stage shows and
    # is named under it), then use the requested stage's merge.
    _parse_layer(base, "", {}, {}, root)
    origin: dict[str, str] = {}
    for stage_name, override in stages.items():
        _parse_layer(_merge(base, override), f"stages.{stage_name}.", override, {}, root)
    config_values = _parse_layer(merged, f"stages.{stage}.", stages.get(stage, {}), origin, root)
    name = config_values.pop("name", None) or default_name(root)
    if not name:
        raise _Problem(
            "name", "the project directory's name gives no usable project name", _NAME_HINT
        )
    for hook_key, hooks in (
        ("hooks.beforeDeploy", config_values["hooks"].before_deploy),
        ("hooks.afterDeploy", config_values["hooks"].after_deploy),
    ):
        for script in hooks:
            _need(
                script in config_values["scripts"],
                origin.get(hook_key, hook_key),
                f"names script {script!r}, which is not defined",
                f"Add a [scripts.{script}] table with executeCommand, or remove it from the hook.",
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


def _parse_layer(
    data: dict[str, Any],
    stage_prefix: str,
    override: dict[str, Any],
    origin: dict[str, str],
    root: Path,
) -> dict[str, Any]:
    """Validate merged values; a key set by the override is reported under the stage."""

    def key(dotted: str) -> str:
        node: Any = override
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return dotted
            node = node[part]
        origin[dotted] = stage_prefix + dotted
        return stage_prefix + dotted

    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = _name(data["name"], key("name"))
    pipeline = _table(data.get("pipeline", {}), key("pipeline"), _PIPELINE_KEYS)
    values["pipeline"] = Pipeline(
        **{
            attr: _commands(pipeline.get(toml_key, []), key(f"pipeline.{toml_key}"))
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
    values["environment"] = _environment(data.get("environment", {}), key("environment"))
    values["secrets"] = _secrets(data.get("secrets", {}), key("secrets"))
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
    _need(
        is_lambda == ("LAMBDA" in env_type),
        key("codebuild.environmentType"),
        f"{env_type} does not go with compute type {compute}",
        "Lambda compute types need LINUX_LAMBDA_CONTAINER or ARM_LAMBDA_CONTAINER; "
        "the others need a container environment type.",
    )
    image = _str(cb.get("image", "aws/codebuild/standard:7.0"), key("codebuild.image"))
    _need(bool(image.strip()), key("codebuild.image"), "must not be empty")
    timeout = cb.get("timeoutInMinutes", 60)
    _need(
        isinstance(timeout, int) and not isinstance(timeout, bool),
        key("codebuild.timeoutInMinutes"),
        f"must be a whole number of minutes, not {_type_name(timeout)}",
    )
    _need(
        5 <= timeout <= 2160,
        key("codebuild.timeoutInMinutes"),
        f"{timeout} is out of range",
        "CodeBuild accepts 5 to 2160 minutes.",
    )
    policies = _str_list(cb.get("policies", []), key("codebuild.policies"))
    for policy in policies:
        _need(
            bool(POLICY_ARN_RE.match(policy)),
            key("codebuild.policies"),
            f"{policy!r} is not an IAM policy ARN",
            "Use ARNs like arn:aws:iam::aws:policy/AdministratorAccess.",
        )
    buildspec = None
    if "buildspec" in cb:
        buildspec = _relative_path(cb["buildspec"], key("codebuild.buildspec"))
        _need(
            (root / buildspec).is_file(),
            key("codebuild.buildspec"),
            f"{buildspec} does not exist in the project",
            "Give the path of your buildspec relative to the project root.",
        )
    privileged = _bool(cb.get("privilegedMode", False), key("codebuild.privilegedMode"))
    _need(
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


def _cache(raw: Any, key: Callable[[str], str]) -> CacheConfig:
    cache = _table(raw, key("codebuild.cache"), {"type", "modes", "paths"})
    kind = _choice(cache.get("type", "none"), key("codebuild.cache.type"), CACHE_TYPES)
    paths = _str_list(cache.get("paths", []), key("codebuild.cache.paths"))
    _need(
        not (paths and kind == "none"),
        key("codebuild.cache.paths"),
        'cache paths need a cache: set type = "local" or "s3"',
    )
    if "modes" in cache:
        _need(
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
    _need(
        kind != "local" or bool(modes), key("codebuild.cache.modes"), "must name at least one mode"
    )
    return CacheConfig(type=kind, modes=modes, paths=paths)


def _script(name: str, raw: Any, key: str) -> Script:
    _need(
        bool(SCRIPT_NAME_RE.match(name)),
        key,
        f"{name!r} is not a usable script name",
        "Use letters, digits, '.', '_' and '-'.",
    )
    script = _table(
        raw, key, {"executeCommand", "executeCommands", "environment", "workingDirectory"}
    )
    _need(
        ("executeCommand" in script) != ("executeCommands" in script),
        key,
        "needs exactly one of executeCommand (a string) or executeCommands (a list)",
    )
    if "executeCommand" in script:
        commands: tuple[str, ...] = (_str(script["executeCommand"], f"{key}.executeCommand"),)
    else:
        commands = _commands(script["executeCommands"], f"{key}.executeCommands")
    workdir = script.get("workingDirectory")
    return Script(
        name=name,
        commands=commands,
        environment=_environment(script.get("environment", {}), f"{key}.environment"),
        working_directory=(
            _relative_path(workdir, f"{key}.workingDirectory") if workdir is not None else None
        ),
    )


def _environment(raw: Any, key: str) -> dict[str, str]:
    env = _table(raw, key, None)
    result: dict[str, str] = {}
    for name, value in env.items():
        _env_name(name, f"{key}.{name}")
        _need(
            isinstance(value, (str, int, float, bool)),
            f"{key}.{name}",
            f"must be a string, number or boolean, not {_type_name(value)}",
        )
        result[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return result


def _secrets(raw: Any, key: str) -> dict[str, str]:
    secrets = _table(raw, key, None)
    for name, value in secrets.items():
        _env_name(name, f"{key}.{name}")
        try:
            secret_reference(_str(value, f"{key}.{name}"))
        except ValueError as error:
            raise _Problem(f"{key}.{name}", str(error), _SECRET_HINT) from None
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
        parts = rest.split(":")
        # A secret ARN holds colons itself: arn:aws:secretsmanager:region:account:secret:name.
        id_parts = 7 if rest.startswith("arn:") else 1
        if len(parts) < id_parts or not all(parts[:id_parts]) or len(parts) > id_parts + 3:
            raise ValueError(f"{reference!r} is not a Secrets Manager reference")
        return "SECRETS_MANAGER", rest
    raise ValueError(f"{reference!r} is not a secret reference")


# --- small checks ----------------------------------------------------------------------

_TOP_KEYS = frozenset(
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
    }
)
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
_NAME_HINT = (
    "Set name = \"...\" in cbdeploy.toml: 1 to 40 of a-z, 0-9 and '-', starting and ending "
    "with a letter or digit (it becomes part of AWS names: cbdeploy-<name>-<stage>)."
)
_SECRET_HINT = (
    'Use "ssm:/parameter/name" or "secretsmanager:secret-id[:json-key[:version-stage'
    '[:version-id]]]".'
)


def _need(condition: bool, key: str, message: str, hint: str | None = None) -> None:
    if not condition:
        raise _Problem(key, message, hint)


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


def _check_keys(table: dict[str, Any], allowed: frozenset[str] | set[str], prefix: str) -> None:
    for name in table:
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            raise _Problem(prefix + name, "unknown key", f"Known keys here: {known}.")


def _table(raw: Any, key: str, allowed: frozenset[str] | set[str] | None) -> dict[str, Any]:
    _need(isinstance(raw, dict), key, f"must be a table, not {_type_name(raw)}")
    if allowed is not None:
        _check_keys(raw, allowed, key + ".")
    return dict(raw)


def _str(raw: Any, key: str) -> str:
    _need(isinstance(raw, str), key, f"must be a string, not {_type_name(raw)}")
    return str(raw)


def _bool(raw: Any, key: str) -> bool:
    _need(isinstance(raw, bool), key, f"must be true or false, not {_type_name(raw)}")
    return bool(raw)


def _str_list(raw: Any, key: str) -> tuple[str, ...]:
    _need(isinstance(raw, list), key, f"must be an array of strings, not {_type_name(raw)}")
    for item in raw:
        _need(isinstance(item, str), key, f"must hold strings only, not {_type_name(item)}")
    return tuple(raw)


def _commands(raw: Any, key: str) -> tuple[str, ...]:
    # A single command may be written as a plain string.
    commands = (raw,) if isinstance(raw, str) else _str_list(raw, key)
    for command in commands:
        _need(bool(command.strip()), key, "holds an empty command")
    return commands


def _choice(raw: Any, key: str, allowed: tuple[str, ...]) -> str:
    value = _str(raw, key)
    _need(value in allowed, key, f"{value!r} is not allowed", "Use one of: " + ", ".join(allowed))
    return value


def _name(raw: Any, key: str) -> str:
    name = _str(raw, key)
    _need(bool(NAME_RE.match(name)), key, f"{name!r} is not a valid project name", _NAME_HINT)
    return name


def _env_name(name: str, key: str) -> None:
    _need(
        bool(ENV_NAME_RE.match(name)),
        key,
        f"{name!r} is not a valid environment variable name",
        "Use letters, digits and '_', not starting with a digit.",
    )
    _need(
        name not in RESERVED_ENV and not name.startswith(RESERVED_ENV_PREFIXES),
        key,
        f"{name} is set by cbdeploy or CodeBuild itself",
        "Choose another name; STAGE, REGION, CBDEPLOY_* and CODEBUILD_* are reserved.",
    )


def _relative_path(raw: Any, key: str) -> str:
    value = _str(raw, key)
    posix = PurePosixPath(value.replace("\\", "/"))
    _need(
        bool(value) and not posix.is_absolute() and ".." not in posix.parts,
        key,
        f"{value!r} must be a path inside the project",
        "Give a relative path without '..'.",
    )
    return posix.as_posix()
