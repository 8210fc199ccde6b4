"""What a planned write changes, field by field: ``bootstrap --dry-run`` shows it.

Pure functions of what AWS reported and the desired state (no AWS): a
:class:`Change` per field that differs (``environment.computeType:
BUILD_GENERAL1_SMALL → BUILD_GENERAL1_MEDIUM``), and per policy statement
added or removed. Only what cbdeploy sets is compared, as
:func:`~cbdeploy.client.infra.model.contains` does: fields AWS adds
(``arn``, ``created``) are not changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cbdeploy.client.infra.calls import ABSENT, Change
from cbdeploy.client.infra.model import contains


def field_changes(actual: Any, wanted: Any, path: str = "") -> tuple[Change, ...]:
    """Each field of ``wanted`` that ``actual`` lacks or holds otherwise, by its dotted path."""
    if isinstance(wanted, Mapping) and actual is None:
        actual = {}  # nothing there yet: every field is added
    if isinstance(wanted, Mapping) and isinstance(actual, Mapping):
        changes: list[Change] = []
        for key, value in wanted.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                changes.append(Change(where, ABSENT, value))
            else:
                changes.extend(field_changes(actual[key], value, where))
        return tuple(changes)
    if contains(actual, wanted):
        return ()
    return (Change(path or "value", actual, wanted),)


def statement_changes(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> tuple[Change, ...]:
    """A policy document's statements added (``new``) and removed (``old``)."""
    old = _statements(current)
    new = _statements(wanted)
    removed = [s for s in old if not any(contains(s, w) for w in new)]
    added = [w for w in new if not any(contains(s, w) for s in old)]
    return tuple(
        [Change("Statement", s, ABSENT) for s in removed]
        + [Change("Statement", ABSENT, w) for w in added]
    )


def tag_changes(tags: Mapping[str, str]) -> tuple[Change, ...]:
    """A created resource's tags, one change each."""
    return tuple(Change(f"tags.{key}", ABSENT, value) for key, value in sorted(tags.items()))


def _statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not document:
        return []
    found = document.get("Statement") or []
    return [found] if isinstance(found, Mapping) else [s for s in found if isinstance(s, Mapping)]


def statement_text(statement: Mapping[str, Any]) -> str:
    """``Allow logs:CreateLogStream, logs:PutLogEvents on arn:...`` (its Sid first, if any)."""
    actions = _words(statement.get("Action") or statement.get("NotAction"))
    resources = _words(statement.get("Resource") or statement.get("NotResource"))
    principal = statement.get("Principal")
    text = f"{statement.get('Effect', '?')} {actions}"
    if resources:
        text += f" on {resources}"
    if isinstance(principal, Mapping):
        text += " to " + ", ".join(_words(v) for v in principal.values())
    if statement.get("Condition"):
        text += " (with conditions)"
    sid = statement.get("Sid")
    return f"{sid}: {text}" if sid else text


def _words(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)
