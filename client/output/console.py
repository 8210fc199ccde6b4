"""How cbdeploy's human output is written: one place decides terminal or plain.

Three output modes, from the environment and the stream, never from a flag:

* **terminal**: a TTY (or ``FORCE_COLOR`` / ``TTY_COMPATIBLE=1``): colours,
  and live progress bars where the stream is also interactive.
* **plain**: anything else (a pipe, a file, a CI log): plain lines, no ANSI
  codes, no spinners, no redraws. ``NO_COLOR`` drops colour in either mode.
* **GitHub Actions** (``GITHUB_ACTIONS=true``) is plain plus workflow
  commands; see ``client.output.github``.

``FORCE_COLOR`` asks for colour, not for a live display: a CI log that keeps
colours still gets no redraws (:func:`live_ok`).
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console

# What makes rich take a stream for a terminal (or a notebook's) whatever its isatty says.
RICH_TERMINAL_VARIABLES = (
    "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES",
)


def make_console(
    *,
    stderr: bool = False,
    file: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    width: int | None = None,
    live: bool = True,
) -> Console:
    """The console for one command's human output (stdout, or stderr with ``--json``).

    ``live=False`` (``--json``): never a redraw (bar, spinner), even on a TTY.

    Highlighting is off everywhere: remote text must come out as it went in.
    Rich itself honours ``NO_COLOR``, ``FORCE_COLOR``, ``TTY_COMPATIBLE`` and
    ``TERM=dumb``; ``environ`` is for tests.
    """
    from rich.console import Console  # (imported when a command draws: not for plain_stream)

    env = dict(os.environ if environ is None else environ)
    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    interactive = live and live_ok(stream, env)
    return Console(
        file=stream,
        highlight=False,
        width=width,
        force_interactive=interactive,
        _environ=env,
    )


def plain_stream(
    *, stderr: bool = False, environ: Mapping[str, str] | None = None
) -> TextIO | None:
    """stdout (or stderr) when a console made for it would write its text and nothing
    else: no colour, no redraw (not a terminal, nothing in the environment that makes
    rich take it for one, no notebook). None where only :func:`make_console` knows.

    A line with nothing to style away, wrap or sanitise can then go straight to
    the stream, the same bytes without loading rich.
    """
    env = os.environ if environ is None else environ
    stream = sys.stderr if stderr else sys.stdout
    if (sys.platform == "win32" or "get_ipython" in vars(builtins)
            or any(name in env for name in RICH_TERMINAL_VARIABLES)):
        return None
    isatty = getattr(stream, "isatty", None)
    try:
        return None if isatty is None or isatty() else stream
    except ValueError:  # closed
        return None


def live_ok(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether progress bars may redraw: a real TTY, not dumb, not in GitHub Actions."""
    if environ.get("GITHUB_ACTIONS") == "true" or environ.get("TERM", "") in ("dumb", "unknown"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def github_actions(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"
