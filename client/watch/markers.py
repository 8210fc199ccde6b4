"""Progress markers the runner prints inside the build, authenticated and parsed on the client.

Everything a build prints lands in one log, so a step could print a line that
looks like a marker and forge, say, the deploy's outputs. The runner therefore
signs its markers with a token that no step can know:

* Its very first line, printed before it reads the plan or runs any command,
  is the announcement ``::cbdeploy:: {"event":"runner","token":"<32 hex>"}``.
  The token is random per build and lives only in the runner's memory: it is
  not in any environment, command line or file, and the runner makes itself
  non-dumpable so a step cannot read it from ``/proc`` either.
* Every marker after that is ``::cbdeploy:<token>:: {compact JSON}``.

:class:`MarkerReader` accepts the FIRST announcement of a log only (with
cbdeploy's buildspec nothing but the runner can print before it: the phases
before BUILD run cbdeploy's own commands) and from then on only markers that
carry its token; in the log of a build whose buildspec does not run the
runner (a project's own ``codebuild.buildspec``) it accepts none. Any other marker-looking line, a second announcement
included, is an ordinary log line: shown as the text it is, never obeyed.

Events (see ``runner/markers.py``, which writes them; the format is
duplicated there because the client never imports the runner):

- ``runner``: the announcement (its token is not passed on)
- ``step-start``: ``step``, ``index`` (1-based), ``total``
- ``step-end``: ``step``, ``status`` ("ok" | "failed"), ``exitCode``, ``duration`` (seconds)
- ``outputs``: ``outputs`` (the JSON object of ``outputs.file``)
- ``pipeline-end``: ``status``, ``failedStep`` (name or null), ``exitCode``
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

ANNOUNCEMENT_PREFIX = "::cbdeploy:: "
ANNOUNCEMENT_EVENT = "runner"
EVENTS = frozenset({"runner", "step-start", "step-end", "outputs", "pipeline-end"})
# 32 hex digits; CodeBuild's masking of secret values applies to the runner's lines
# too, the same way in the announcement and in every marker, hence the "*".
TOKEN = re.compile(r"^[0-9a-f*]{1,128}$")


@dataclass(frozen=True)
class Marker:
    """One marker: its ``event`` name and the rest of its fields in ``data``."""

    event: str
    data: Mapping[str, Any]


def marker_prefix(token: str) -> str:
    """What starts every marker of the runner that announced ``token``."""
    return f"::cbdeploy:{token}:: "


def _payload(text: str) -> dict[str, Any] | None:
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        return None
    return payload


def parse_announcement(message: str) -> str | None:
    """The token a runner's announcement line carries, or None for any other line."""
    line = message.rstrip("\r\n")
    if not line.startswith(ANNOUNCEMENT_PREFIX):
        return None
    payload = _payload(line[len(ANNOUNCEMENT_PREFIX) :])
    if payload is None or payload.get("event") != ANNOUNCEMENT_EVENT:
        return None
    token = payload.get("token")
    return token if isinstance(token, str) and TOKEN.match(token) else None


def parse_marker(message: str, token: str) -> Marker | None:
    """The marker in a log line signed with ``token``; None for any other line."""
    line = message.rstrip("\r\n")
    prefix = marker_prefix(token)
    if not line.startswith(prefix):
        return None
    payload = _payload(line[len(prefix) :])
    if payload is None:
        return None
    event = payload.pop("event")
    return Marker(event=event, data=MappingProxyType(payload))


def runs_the_runner(buildspec: str | None) -> bool:
    """Whether a build with this buildspec runs cbdeploy's runner (None: not known, say yes).

    A project's own buildspec (``codebuild.buildspec``) does not, unless it runs
    the plan itself: then no line of its log is a marker, whatever it prints
    first. A build of a workspace's batch names its buildspec by path: cbdeploy
    writes a service's runner buildspec under ``.cbdeploy/services/``, while a
    service's own buildspec stays in its folder.
    """
    from cbdeploy.client.config.statedir import NAME, PLAN_PATH

    if buildspec is None or PLAN_PATH in buildspec:
        return True
    return "\n" not in buildspec and buildspec.startswith(f"{NAME}/services/")


class MarkerReader:
    """Reads one build's log in order and tells the runner's markers from every other line.

    ``runner=False`` (a build without cbdeploy's runner): no line is a marker.
    """

    def __init__(self, *, runner: bool = True) -> None:
        self.token: str | None = None
        self.runner = runner

    def read(self, message: str) -> Marker | None:
        """The runner's marker in ``message`` (its announcement as event ``runner``), else None."""
        if not self.runner or not message.startswith("::cbdeploy:"):
            return None  # (nearly every line: no parsing)
        if self.token is None:
            token = parse_announcement(message)
            if token is None:
                return None
            self.token = token
            return Marker(event=ANNOUNCEMENT_EVENT, data=MappingProxyType({}))
        return parse_marker(message, self.token)
