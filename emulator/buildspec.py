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
    root, document = _load(text)
    try:
        return _buildspec(document)
    except _NotAString as error:
        raise BuildspecError(error.located(root)) from None


def _load(text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the document, every scalar a string."""
    loader = yaml.BaseLoader(text)  # BaseLoader builds no objects
    try:
        root = loader.get_single_node()
        return root, (None if root is None else loader.construct_document(root))
    except yaml.MarkedYAMLError as error:
        # CodeBuild's wording, e.g. "found character that cannot start any token at line 3".
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BuildspecError(f"{error.problem or error.context}{where}") from error
    except yaml.YAMLError as error:
        raise BuildspecError(" ".join(str(error).split())) from error
    finally:
        loader.dispose()


def _buildspec(document: Any) -> Buildspec:
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
    return Buildspec(
        version=version,
        shell=shell,
        variables=_strings(env.get("variables"), "env/variables"),
        parameter_store=_strings(env.get("parameter-store"), "env/parameter-store"),
        secrets_manager=_strings(env.get("secrets-manager"), "env/secrets-manager"),
        exported_variables=_string_list(env.get("exported-variables"), "env/exported-variables"),
        phases=phases,
    )


def _phase(value: Any, key: str) -> PhaseSpec:
    spec = _mapping(value, f"phases/{key}")
    on_failure = spec.get("on-failure")
    if isinstance(on_failure, str) and on_failure.startswith("RETRY"):
        # CodeBuild accepts RETRY[-count][-regex] (see the buildspec JSON schema gist by
        # muniter, Jan 2026); the emulator does not run retries, so it says so plainly.
        raise BuildspecError(
            f"on-failure {on_failure} in phase {key} is not supported by the cbdeploy emulator: "
            "use ABORT or CONTINUE"
        )
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
            raise _NotAString(where, index)
    return tuple(value)


class _NotAString(Exception):
    """Item ``index`` of the list at ``where`` (``phases/build/commands``) is not a string."""

    def __init__(self, where: str, index: int) -> None:
        super().__init__(where, index)
        self.where = where
        self.index = index

    def located(self, root: yaml.Node | None) -> str:
        """CodeBuild's message, verified against public build logs (bioerrorlog.work's
        "codebuild-colon-error" post, aws/sagemaker-chainer-container#83):
        ``Expected Commands[0] to be of string type: found subkeys instead at line 6,
        value of the key tag on line 5 might be empty``."""
        *parents, key = self.where.split("/")
        message = f"Expected {key.capitalize()}[{self.index}] to be of string type: found subkeys instead"
        parent = _child(root, parents)
        key_node = None
        if isinstance(parent, yaml.MappingNode):
            key_node = next((k for k, _ in parent.value if k.value == key), None)
        item = _child(root, [*parents, key])
        if key_node is None or not isinstance(item, yaml.SequenceNode) or self.index >= len(item.value):
            return message
        item_line = item.value[self.index].start_mark.line + 1
        key_line = key_node.start_mark.line + 1
        return f"{message} at line {item_line}, value of the key tag on line {key_line} might be empty"


def _child(node: yaml.Node | None, keys: list[str]) -> yaml.Node | None:
    """The node reached from ``node`` through mapping ``keys``, or None."""
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if k.value == key), None)
    return node
