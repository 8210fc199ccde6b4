"""Parse a buildspec (version 0.2) into what the build runner needs.

Scalars are read as strings, as CodeBuild reads them (``VAR: 1`` is "1", not
an int). Anything CodeBuild would reject raises :class:`BuildspecError`, which
the build reports as a DOWNLOAD_SOURCE ``YAML_FILE_ERROR``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

PHASE_KEYS = {"install": "INSTALL", "pre_build": "PRE_BUILD", "build": "BUILD", "post_build": "POST_BUILD"}
ON_FAILURE = ("ABORT", "CONTINUE")
SUPPORTED_SHELLS = ("bash", "/bin/bash", "sh", "/bin/sh")


class BuildspecError(Exception):
    """The buildspec does not parse or holds a value CodeBuild would refuse."""


@dataclass(frozen=True)
class PhaseSpec:
    commands: tuple[str, ...] = ()
    finally_commands: tuple[str, ...] = ()
    on_failure: str | None = None  # None: CodeBuild's default phase transitions


@dataclass(frozen=True)
class Buildspec:
    version: str
    shell: str = "bash"
    variables: Mapping[str, str] = field(default_factory=dict)
    parameter_store: Mapping[str, str] = field(default_factory=dict)
    secrets_manager: Mapping[str, str] = field(default_factory=dict)
    exported_variables: tuple[str, ...] = ()
    phases: Mapping[str, PhaseSpec] = field(default_factory=dict)  # keyed by INSTALL, BUILD, ...


def parse_buildspec(text: str) -> Buildspec:
    """Parse buildspec YAML text; BuildspecError names what is wrong."""
    try:
        document = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
    except yaml.YAMLError as error:
        raise BuildspecError(f"Error parsing buildspec: {_one_line(error)}") from error
    if not isinstance(document, dict):
        raise BuildspecError("Expected the buildspec to be a YAML mapping with a version key")
    version = document.get("version")
    if version not in ("0.1", "0.2"):
        raise BuildspecError(f"Invalid buildspec version {version!r}: expected 0.2")
    env = _mapping(document.get("env"), "env")
    shell = env.get("shell", "bash")
    if shell not in SUPPORTED_SHELLS:
        raise BuildspecError(f"Unsupported shell {shell!r} in env: use bash or /bin/sh")
    phases = {}
    for key, value in _mapping(document.get("phases"), "phases").items():
        if key not in PHASE_KEYS:
            raise BuildspecError(f"Unknown phase {key!r}: expected one of {', '.join(PHASE_KEYS)}")
        phases[PHASE_KEYS[key]] = _phase(value, key)
    exported = env.get("exported-variables", [])
    return Buildspec(
        version=version,
        shell=shell,
        variables=_strings(env.get("variables"), "env/variables"),
        parameter_store=_strings(env.get("parameter-store"), "env/parameter-store"),
        secrets_manager=_strings(env.get("secrets-manager"), "env/secrets-manager"),
        exported_variables=_string_list(exported, "env/exported-variables"),
        phases=phases,
    )


def _phase(value: Any, key: str) -> PhaseSpec:
    spec = _mapping(value, f"phases/{key}")
    on_failure = spec.get("on-failure")
    if on_failure is not None and on_failure not in ON_FAILURE:
        raise BuildspecError(
            f"Invalid on-failure {on_failure!r} in phase {key}: expected ABORT or CONTINUE"
        )
    return PhaseSpec(
        commands=_string_list(spec.get("commands", []), f"phases/{key}/commands"),
        finally_commands=_string_list(spec.get("finally", []), f"phases/{key}/finally"),
        on_failure=on_failure,
    )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise BuildspecError(f"Expected {where} to be a mapping")
    return value


def _strings(value: Any, where: str) -> dict[str, str]:
    result = {}
    for name, item in _mapping(value, where).items():
        if not isinstance(item, str):
            raise BuildspecError(f"Expected {where}/{name} to be of string type")
        result[name] = item
    return result


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise BuildspecError(f"Expected {where} to be a list of strings")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise BuildspecError(
                f"Expected {where}[{index}] to be of string type: found subkeys instead"
            )
    return tuple(value)


def _one_line(error: yaml.YAMLError) -> str:
    return " ".join(str(error).split())
