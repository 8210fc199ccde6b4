"""Text pieces of the terminal layer: durations, phase rows, commits, commands to copy."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from client.aws_results import Phase
from client.follow import phase_seconds
from client.plan import GitInfo

PHASE_WIDTH = len("UPLOAD_ARTIFACTS")  # the longest phase name: durations line up


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def reattach_commands(build_id: str, region: str) -> list[tuple[str, str]]:
    return [
        ("Re-attach", f"cbdeploy logs {build_id} --follow --region {region}"),
        ("Stop it", f"cbdeploy stop {build_id} --region {region}"),
    ]


def phase_row(phase: Phase) -> str:
    """``BUILD              25s`` (and the status when it did not succeed)."""
    row = f"{phase.name:<{PHASE_WIDTH}} {format_duration(phase_seconds(phase)):>6}"
    return row if phase.status == "SUCCEEDED" else f"{row}  {phase.status}"


def commit_text(git: GitInfo | None) -> Text:
    if git is None:
        return Text("none (not a git work tree)", style="yellow")
    if git.commit is None:
        shown = Text("no commit yet", style="yellow")
    else:
        shown = Text(git.commit[:10], style="cyan")
    if git.branch:
        shown.append(f" on {git.branch}", style="cyan")
    if git.dirty:
        shown.append(", with uncommitted changes", style="yellow bold")
    return shown


def compact(value: Any) -> str:
    """An output value that is not a string, as compact JSON."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def status_style(status: str | None) -> str:
    """The colour of a build status: green succeeded, cyan running, red anything else."""
    return {"SUCCEEDED": "green", "IN_PROGRESS": "cyan"}.get(status or "", "red")
