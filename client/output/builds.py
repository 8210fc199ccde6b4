"""What ``cbdeploy builds`` and ``cbdeploy stop`` print (re-exported by ``client.output.terminal``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from rich.console import Console
from rich.text import Text

from cbdeploy.client.aws.endpoint import Endpoint
from cbdeploy.client.aws.results import Build
from cbdeploy.client.output.text import clock_time, format_duration, status_style


def builds_table(console: Console, builds: Iterable[Build]) -> None:
    """``cbdeploy builds``: id, status, start, duration, git commit, initiator.

    Laid out by hand rather than with a rich Table: build ids are long and
    must print whole (people copy them) whatever the terminal's width.
    """
    rows: list[tuple[str, ...]] = [("BUILD", "STATUS", "STARTED", "DURATION", "COMMIT", "INITIATOR")]
    for build in builds:
        env = dict(build.environment)
        commit = env.get("CBDEPLOY_GIT_COMMIT", "")[:10]
        if env.get("CBDEPLOY_GIT_DIRTY") == "true" and commit:
            commit += "+"
        duration = None
        if build.start is not None:
            end = build.end or datetime.now(timezone.utc)
            duration = (end - build.start).total_seconds()
        started = clock_time(build.start) if build.start else "-"
        rows.append(
            (build.id, build.status, started, format_duration(duration), commit or "-",
             build.initiator or "-")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        line = Text()
        for i, cell in enumerate(row):
            style = "bold" if number == 0 else (status_style(cell) if i == 1 else "")
            line.append(cell.ljust(widths[i]) if i < len(row) - 1 else cell, style=style)
            if i < len(row) - 1:
                line.append("  ")
        console.print(line, soft_wrap=True)


def endpoint_header(console: Console, endpoint: Endpoint) -> None:
    """``Endpoint: <url>`` above a command's output when its calls do not go to AWS itself."""
    if endpoint.url is not None:
        console.print(Text.assemble(f"{'Endpoint:':<10}", (endpoint.label, "cyan")), soft_wrap=True)


def no_builds(console: Console, project: str, stage: str) -> None:
    console.print(Text(f"No builds of stage {stage} yet (CodeBuild project {project})."))


def stopped(console: Console, build: Build) -> None:
    if build.complete and build.status != "STOPPED":
        console.print(Text(f"Build {build.id} had already ended: {build.status}."))
    else:
        console.print(
            Text.assemble(("✓ ", "green"), f"Stopping build {build.id} ({build.status}).")
        )
