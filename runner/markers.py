"""Marker lines the client recognises: ``::cbdeploy:: {compact JSON}``.

The client parses them with ``client/markers.py`` (the format is written down
there too; the client never imports the runner). Every marker is one whole
line on stdout, flushed at once, so it is never mixed into a step's output.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

PREFIX = "::cbdeploy:: "


def format_marker(event: str, **fields: Any) -> str:
    payload = {"event": event}
    payload.update(fields)
    return PREFIX + json.dumps(payload, separators=(",", ":"), sort_keys=True)


def emit(event: str, stream: TextIO | None = None, **fields: Any) -> None:
    out = stream if stream is not None else sys.stdout
    out.write(format_marker(event, **fields) + "\n")
    out.flush()


def say(message: str, stream: TextIO | None = None) -> None:
    """A plain human line from the runner itself, prefixed ``cbdeploy:``."""
    out = stream if stream is not None else sys.stdout
    out.write("cbdeploy: " + message + "\n")
    out.flush()
