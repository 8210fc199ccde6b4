"""A small IAM policy evaluator for tests: does a set of identity policies allow a request?

It follows AWS's documented evaluation logic for identity-based policies in one
account: an explicit ``Deny`` beats any ``Allow``; without a matching
``Allow`` the request is implicitly denied. Actions match case-insensitively,
resources case-sensitively; in both, ``*`` stands for any run of characters
(``:`` and ``/`` included) and ``?`` for exactly one. ``Action``/``NotAction``
and ``Resource``/``NotResource`` are supported, and the ``StringEquals``,
``StringLike`` and ``StringNotEquals`` condition operators (a key missing from
the request's context does not match, as AWS documents, except for ``Not``
operators). tests/unit/test_iam_policy.py checks it against AWS's examples.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def pattern(text: str, *, case_sensitive: bool = True) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", re.DOTALL | (0 if case_sensitive else re.IGNORECASE))


def as_list(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = policy["Statement"]
    return [found] if isinstance(found, dict) else list(found)


def _matches_any(patterns: Iterable[str], value: str, *, case_sensitive: bool) -> bool:
    return any(pattern(p, case_sensitive=case_sensitive).match(value) for p in patterns)


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            present = key in context
            value = context.get(key, "")
            values = as_list(wanted)
            if operator == "StringEquals":
                ok = present and value in values
            elif operator == "StringLike":
                ok = present and _matches_any(values, value, case_sensitive=True)
            elif operator == "StringNotEquals":
                ok = not present or value not in values
            else:
                raise NotImplementedError(f"condition operator {operator}")
            if not ok:
                return False
    return True


def _applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> bool:
    if "Action" in statement:
        if not _matches_any(as_list(statement["Action"]), action, case_sensitive=False):
            return False
    elif _matches_any(as_list(statement["NotAction"]), action, case_sensitive=False):
        return False
    if "Resource" in statement:
        if not _matches_any(as_list(statement["Resource"]), resource, case_sensitive=True):
            return False
    elif _matches_any(as_list(statement["NotResource"]), resource, case_sensitive=True):
        return False
    return _condition_holds(statement.get("Condition") or {}, context)


def decide(
    policies: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> str:
    """``"Allow"``, ``"ExplicitDeny"`` or ``"ImplicitDeny"`` for one request."""
    allowed = False
    for policy in policies:
        for statement in _statements(policy):
            if not _applies(statement, action, resource, context or {}):
                continue
            if statement["Effect"] == "Deny":
                return "ExplicitDeny"
            assert statement["Effect"] == "Allow", statement
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def allows(
    policies: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    return decide(policies, action, resource, context) == "Allow"
