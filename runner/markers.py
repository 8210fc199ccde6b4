"""Marker lines the client recognises, signed with a token only this process knows.

The first marker line of a build is the announcement
``::cbdeploy:: {"event":"runner","token":"<32 hex>"}`` (:func:`announce`,
called by ``runner.__main__`` before it reads the plan or runs anything);
every later one is ``::cbdeploy:<token>:: {compact JSON}``. The client
(``client/watch/markers.py``, where the format is written down too; the client never
imports the runner) takes the first announcement of the log and ignores any
marker without its token, so a step that prints marker lines forges nothing.

Why the runner makes the token and not the client: whatever the client hands
the build travels in its environment (where every process of the build, and
the emulator's session files on disk, can read it) or in a file or a command
line. A token made here lives only in this process's memory; the steps'
environment is copied from ``os.environ``, which never holds it, and the
process makes itself non-dumpable (Linux ``PR_SET_DUMPABLE``) so that a step
running as the same user cannot read it through ``/proc/<pid>/mem``,
``environ`` or ``fd``. Steps start only after the announcement, so they cannot
announce first.

Every marker is one whole line on stdout, flushed at once, so it is never
mixed into a step's output.
"""

from __future__ import annotations

import json
import secrets
import sys
from typing import Any, TextIO

ANNOUNCEMENT_PREFIX = "::cbdeploy:: "
PR_SET_DUMPABLE = 4

_token: str | None = None


def _no_dumps() -> None:
    """Keep other processes of this user out of this one's memory (best effort, Linux)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # no libc or no prctl: nothing more to do
        pass


def announce(stream: TextIO | None = None) -> str:
    """Make this build's token and print the announcement; once per process."""
    global _token
    if _token is None:
        _no_dumps()
        _token = secrets.token_hex(16)
        out = stream if stream is not None else sys.stdout
        payload = json.dumps({"event": "runner", "token": _token}, separators=(",", ":"))
        out.write(ANNOUNCEMENT_PREFIX + payload + "\n")
        out.flush()
    return _token


def format_marker(event: str, token: str, **fields: Any) -> str:
    payload = {"event": event}
    payload.update(fields)
    return f"::cbdeploy:{token}:: " + json.dumps(payload, separators=(",", ":"), sort_keys=True)


def emit(event: str, stream: TextIO | None = None, **fields: Any) -> None:
    """One marker line (announcing the token first if nothing has yet)."""
    out = stream if stream is not None else sys.stdout
    token = announce(out)
    out.write(format_marker(event, token, **fields) + "\n")
    out.flush()


def say(message: str, stream: TextIO | None = None) -> None:
    """A plain human line from the runner itself, prefixed ``cbdeploy:``."""
    out = stream if stream is not None else sys.stdout
    out.write("cbdeploy: " + message + "\n")
    out.flush()
