"""Parse a buildspec's ``batch`` section: the tasks of a batch build.

CodeBuild's batch buildspec reference: ``batch/fast-fail`` (default false) and
one batch type; ``build-graph`` holds tasks with ``identifier`` (required),
``buildspec``, ``depend-on``, ``env`` (``compute-type``, ``image``,
``privileged-mode``, ``type``, ``variables``) and ``ignore-failure``.
``build-list`` is the same list without dependencies. The emulator runs those
two types; ``build-matrix`` and ``build-fanout`` are refused by name.
Scalars are strings, as the buildspec parser reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cbdeploy.emulator.buildspec import BuildspecError, _load

# CodeBuild's identifiers are letters, digits and underscores.
IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,127}$")
TASK_KEYS = {"identifier", "buildspec", "debug-session", "depend-on", "env", "ignore-failure"}
ENV_KEYS = {"compute-type", "fleet", "image", "privileged-mode", "type", "variables"}


@dataclass(frozen=True)
class BatchTask:
    identifier: str
    buildspec: str | None = None
    depend_on: tuple[str, ...] = ()
    ignore_failure: bool = False
    compute_type: str | None = None
    image: str | None = None
    privileged_mode: bool | None = None
    environment_type: str | None = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchSpec:
    fast_fail: bool
    tasks: tuple[BatchTask, ...]


def parse_batchspec(text: str) -> BatchSpec:
    """The batch section of buildspec ``text``; BuildspecError says what is wrong."""
    _, document = _load(text)
    if not isinstance(document, dict):
        raise BuildspecError("Expected the buildspec to be a YAML mapping with a version key")
    batch = document.get("batch")
    if not isinstance(batch, dict):
        raise BuildspecError("The buildspec has no batch section: a batch build needs batch/build-graph")
    fast_fail = _boolean(batch.get("fast-fail", "false"), "batch/fast-fail")
    kinds = [k for k in ("build-graph", "build-list", "build-matrix", "build-fanout") if k in batch]
    if len(kinds) != 1:
        raise BuildspecError("The batch section must hold exactly one of build-graph, build-list, "
                             "build-matrix, build-fanout")
    kind = kinds[0]
    if kind in ("build-matrix", "build-fanout"):
        raise BuildspecError(f"batch/{kind} is not supported by the cbdeploy emulator: use build-graph")
    entries = batch[kind]
    if not isinstance(entries, list) or not entries:
        raise BuildspecError(f"Expected batch/{kind} to be a non-empty list of tasks")
    tasks = tuple(_task(entry, kind, index) for index, entry in enumerate(entries))
    _check_graph(tasks)
    return BatchSpec(fast_fail=fast_fail, tasks=tasks)


def _task(entry: Any, kind: str, index: int) -> BatchTask:
    where = f"batch/{kind}[{index}]"
    if not isinstance(entry, dict):
        raise BuildspecError(f"Expected {where} to be a mapping")
    unknown = set(entry) - TASK_KEYS
    if unknown:
        raise BuildspecError(f"Unknown key {sorted(unknown)[0]!r} in {where}")
    identifier = entry.get("identifier")
    if not isinstance(identifier, str) or not IDENTIFIER.match(identifier):
        raise BuildspecError(
            f"Invalid identifier {identifier!r} in {where}: use letters, digits and underscores"
        )
    depend_on = entry.get("depend-on", [])
    if kind == "build-list" and depend_on:
        raise BuildspecError(f"depend-on is only allowed in batch/build-graph ({identifier})")
    if isinstance(depend_on, str):
        depend_on = [depend_on]
    if not isinstance(depend_on, list) or not all(isinstance(d, str) for d in depend_on):
        raise BuildspecError(f"Expected depend-on of {identifier} to be a list of identifiers")
    env = entry.get("env") or {}
    if not isinstance(env, dict):
        raise BuildspecError(f"Expected env of {identifier} to be a mapping")
    unknown = set(env) - ENV_KEYS
    if unknown:
        raise BuildspecError(f"Unknown key {sorted(unknown)[0]!r} in env of {identifier}")
    variables = env.get("variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise BuildspecError(f"Expected env/variables of {identifier} to map names to strings")
    buildspec = entry.get("buildspec")
    if buildspec is not None and not isinstance(buildspec, str):
        raise BuildspecError(f"Expected buildspec of {identifier} to be a file name")
    privileged = env.get("privileged-mode")
    return BatchTask(
        identifier=identifier,
        buildspec=buildspec or None,
        depend_on=tuple(depend_on),
        ignore_failure=_boolean(entry.get("ignore-failure", "false"), f"ignore-failure of {identifier}"),
        compute_type=_optional_string(env.get("compute-type"), identifier),
        image=_optional_string(env.get("image"), identifier),
        privileged_mode=None if privileged is None else _boolean(privileged, f"privileged-mode of {identifier}"),
        environment_type=_optional_string(env.get("type"), identifier),
        variables=dict(variables),
    )


def _check_graph(tasks: tuple[BatchTask, ...]) -> None:
    seen: set[str] = set()
    for task in tasks:
        if task.identifier in seen:
            raise BuildspecError(f"Duplicate identifier {task.identifier} in the batch")
        seen.add(task.identifier)
    for task in tasks:
        for dependency in task.depend_on:
            if dependency not in seen:
                raise BuildspecError(f"{task.identifier} depends on {dependency}, which is not in the batch")
    # A cycle: repeatedly take the tasks whose dependencies are all taken.
    done: set[str] = set()
    remaining = list(tasks)
    while remaining:
        ready = [t for t in remaining if set(t.depend_on) <= done]
        if not ready:
            names = ", ".join(sorted(t.identifier for t in remaining))
            raise BuildspecError(f"The build graph has a dependency cycle among {names}")
        done.update(t.identifier for t in ready)
        remaining = [t for t in remaining if t.identifier not in done]


def _boolean(value: Any, where: str) -> bool:
    if value in ("true", "True", True):
        return True
    if value in ("false", "False", False):
        return False
    raise BuildspecError(f"Expected {where} to be true or false")


def _optional_string(value: Any, identifier: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BuildspecError(f"Expected the env values of {identifier} to be strings")
    return value
