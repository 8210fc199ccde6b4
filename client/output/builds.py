"""What ``cbdeploy builds`` and ``cbdeploy stop`` print (re-exported by ``client.output.terminal``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from rich.console import Console
from rich.text import Text

from cbdeploy.client.aws.endpoint import Endpoint
from cbdeploy.client.aws.results import Build, BuildBatch
from cbdeploy.client.output.text import clock_time, format_duration, status_style


def builds_table(console: Console, builds: Iterable[Build],
                 batches: Iterable[BuildBatch] = ()) -> None:
    """``cbdeploy builds``: id, status, start, duration, git commit, initiator.

    Batches (a deploy of several services) are rows of their own, newest first
    among the builds, with a KIND column naming their services.
    Laid out by hand rather than with a rich Table: build ids are long and
    must print whole (people copy them) whatever the terminal's width.
    """
    header: tuple[str, ...] = ("BUILD", "STATUS", "STARTED", "DURATION", "COMMIT", "INITIATOR")
    entries: list[tuple[datetime | None, tuple[str, ...]]] = []
    for build in builds:
        entries.append((build.start, _row(build.id, build.status, build.start, build.end,
                                          dict(build.environment), build.initiator)))
    batches = list(batches)
    for batch in batches:
        services = ", ".join(g.identifier for g in batch.groups
                             if g.identifier != "DOWNLOAD_SOURCE")
        row = _row(batch.id, batch.status, batch.start, batch.end, dict(batch.environment),
                   batch.initiator)
        entries.append((batch.start, row + (f"batch: {services}" if services else "batch",)))
    if batches:
        header += ("KIND",)
        entries = [(start, row if len(row) == len(header) else row + ("build",))
                   for start, row in entries]
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    entries.sort(key=lambda entry: entry[0] or oldest, reverse=True)
    rows = [header] + [row for _, row in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for number, row in enumerate(rows):
        line = Text()
        for i, cell in enumerate(row):
            style = "bold" if number == 0 else (status_style(cell) if i == 1 else "")
            line.append(cell.ljust(widths[i]) if i < len(row) - 1 else cell, style=style)
            if i < len(row) - 1:
                line.append("  ")
        console.print(line, soft_wrap=True)


def _row(some_id: str, status: str, start: datetime | None, end: datetime | None,
         env: dict[str, str], initiator: str | None) -> tuple[str, ...]:
    commit = env.get("CBDEPLOY_GIT_COMMIT", "")[:10]
    if env.get("CBDEPLOY_GIT_DIRTY") == "true" and commit:
        commit += "+"
    duration = None
    if start is not None:
        duration = ((end or datetime.now(timezone.utc)) - start).total_seconds()
    started = clock_time(start) if start else "-"
    return (some_id, status, started, format_duration(duration), commit or "-", initiator or "-")


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


def stopped_batch(console: Console, batch: BuildBatch, *, was: BuildBatch) -> None:
    if was.complete:
        console.print(Text(f"Batch {batch.id} had already ended: {batch.status}."),
                      soft_wrap=True)
    else:
        console.print(Text.assemble(
            ("✓ ", "green"), f"Stopping batch {batch.id} and its builds ({batch.status})."),
            soft_wrap=True)
