"""Progress markers the runner prints inside the build, parsed on the client.

A marker is one whole log line: ``::cbdeploy:: {"event": "step-start", ...}``
with compact JSON. Events (see ``runner/markers.py``, which writes them; the
format is duplicated there because the client never imports the runner):

- ``step-start``: ``step``, ``index`` (1-based), ``total``
- ``step-end``: ``step``, ``status`` ("ok" | "failed"), ``exitCode``, ``duration`` (seconds)
- ``outputs``: ``outputs`` (the JSON object of ``outputs.file``)
- ``pipeline-end``: ``status``, ``failedStep`` (name or null), ``exitCode``
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

PREFIX = "::cbdeploy:: "
EVENTS = frozenset({"step-start", "step-end", "outputs", "pipeline-end"})


@dataclass(frozen=True)
class Marker:
    """One marker: its ``event`` name and the rest of its fields in ``data``."""

    event: str
    data: Mapping[str, Any]


def parse_marker(message: str) -> Marker | None:
    """The marker in a log line, or None for an ordinary line (or a malformed marker)."""
    line = message.rstrip("\r\n")
    if not line.startswith(PREFIX):
        return None
    try:
        payload = json.loads(line[len(PREFIX) :])
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        return None
    event = payload.pop("event")
    return Marker(event=event, data=MappingProxyType(payload))
