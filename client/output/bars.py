"""The live display's bars and spinner, as rich ``Progress`` objects.

Loaded only when a live terminal shows one (``client.output.live``): ``rich.progress``
is not needed by a deploy in CI, with ``--json``, or before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from cbdeploy.client.output.text import format_duration


class RunningForColumn(ProgressColumn):
    """How long the thing has been running (``4m 10s``, as step lines and the heartbeat say)."""

    def render(self, task: Task) -> Text:
        since = float(task.fields.get("since", 0.0))
        return Text(format_duration(since + (task.elapsed or 0.0)), style="progress.elapsed")


def progress(kind: str, label: str, console: Console, clock: Callable[[], float]) -> Progress:
    """A transient display of ``kind``: "packaging" (bytes), "upload" (bytes, rate, time
    left) or "spinner" (``label`` and how long it has run)."""
    columns: tuple[ProgressColumn, ...]
    if kind == "packaging":
        columns = (TextColumn("  Packaging"), BarColumn(), DownloadColumn())
    elif kind == "upload":
        columns = (TextColumn("  Uploading"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn())
    else:
        columns = (SpinnerColumn(), TextColumn(label, markup=False), RunningForColumn())
    # No redirection of sys.stdout/sys.stderr: with --json stdout is the
    # JSON's alone, and text meant for stderr must stay on stderr.
    return Progress(*columns, console=console, transient=True, redirect_stdout=False,
                    redirect_stderr=False, get_time=clock)
