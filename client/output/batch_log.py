"""How a followed batch looks: every service's lines with its name in front, then a table.

Each service's build is shown as a single build is (``client.output.build_log``:
its phases, its step lines, its remote output), each line behind the
service's name padded to the longest (``api   │ ...``); at a terminal each
name has a colour of its own, in plain output the same prefix has none. Live
spinners stay off: the lines of several builds interleave. The last lines are
a table (service, status, duration, outputs), what failed first and why, and
the result (:func:`batch_outcome_lines`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text

from cbdeploy.client.output.build_log import BuildLog
from cbdeploy.client.output.lines import Lines
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.summary import failure_lines, interrupted_by
from cbdeploy.client.output.text import (
    compact,
    field_text,
    format_duration,
    plain_text,
    status_style,
    terminal_text,
)
from cbdeploy.client.watch import events as w
from cbdeploy.client.watch.batch_outcome import BatchOutcome, ServiceOutcome
from cbdeploy.client.watch.outcome import UNKNOWN

# Service colours, by the service's place in the graph (never green or red: those say
# how things went).
COLOURS = ("cyan", "magenta", "blue", "yellow", "bright_cyan", "bright_magenta",
           "bright_blue", "bright_yellow")
SEPARATOR = " │ "


class _NoLive:
    """A service's lines have no live display of their own (several builds interleave)."""

    active = False

    def spinner(self, label: str) -> None:
        pass

    def stop(self) -> None:
        pass


class PrefixedLines(Lines):
    """:class:`Lines` that put a service's label in front of every line they write."""

    def __init__(self, parent: Lines, label: Callable[[], Text]) -> None:
        self.console = parent.console
        self.live = _NoLive()  # type: ignore[assignment]
        self.parent = parent
        self.label = label

    @property
    def spinning(self) -> bool:
        return False  # (no spinner per service: a quiet one says so with a heartbeat line)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", True)
        self.parent.close()  # (a spinner of the client's own, if any)
        self.console.print(Text.assemble(self.label(), *objects), **kwargs)

    def remote(self, message: str, style: str | None = None) -> None:
        # As Lines.remote: no markup, no control sequence but SGR colours at a terminal.
        if not self.console.is_terminal:
            self.console.file.write(self.label().plain + plain_text(message) + "\n")
            self.console.file.flush()
            return
        text = terminal_text(message, colours=self.console.color_system is not None)
        shown = Text.from_ansi(text, style=style or "")
        self.console.print(Text.assemble(self.label(), shown), soft_wrap=True,
                           highlight=False)


class BatchLog:
    """The lines of one followed batch: one :class:`BuildLog` per service, each prefixed."""

    def __init__(self, out: Lines, *, debug: bool = False) -> None:
        self.out = out
        self.debug = debug
        self.names: tuple[str, ...] = ()
        self.logs: dict[str, BuildLog] = {}
        self.stopping = False

    def attached(self, e: w.BatchAttached, place: Place) -> None:
        batch = e.batch
        self.out.print(Text(f"cbdeploy: Batch {batch.id}", style="bold"))
        self.out.print()
        status = Text(batch.status or "UNKNOWN", style=status_style(batch.status))
        if batch.start is not None:
            status.append(f", started {batch.start.astimezone():%Y-%m-%d %H:%M:%S}", style="cyan")
        services = ", ".join(g.identifier for g in batch.groups if g.identifier != "DOWNLOAD_SOURCE")
        rows: list[tuple[str, str | Text]] = [
            ("Project", batch.project), ("Region", place.region or ""), ("Status", status)]
        if services:
            rows.append(("Services", services))
        self.out.rows(rows)
        if e.following:
            self.out.note("Ctrl-C leaves the batch running.")
        self.out.print()

    def started(self, e: w.ServiceStarted) -> None:
        self.names = tuple(dict.fromkeys(e.names + (e.service,)))
        self._log(e.service).out.print(Text(f"build {e.build.id}", style="dim"))

    def _log(self, service: str) -> BuildLog:
        log = self.logs.get(service)
        if log is None:
            log = self.logs[service] = BuildLog(self._lines(service), debug=self.debug)
            log.stopping = self.stopping
        return log

    def event(self, e: w.ServiceEvent) -> None:
        log = self._log(e.service)
        inner = e.event
        match inner:
            case w.PhaseChanged():
                if inner.phase.status == "STOPPED":
                    log.stopping = True  # (fast-fail or a stop: no failure of its own)
                log.phase(inner)
            case w.LogLine():
                log.line(inner)
            case w.MarkerEvent():
                log.marker(inner)
            case w.ContactLost():
                log.contact_lost(inner)
            case w.ContactRestored():
                log.contact_restored(inner)
            case w.StillRunning():
                log.still_running(inner)
            case w.Quiet():
                pass  # (no spinner per service: its heartbeat line says it)
            case w.BuildFinished():
                status = inner.build.status
                mark = {"SUCCEEDED": "✓", "STOPPED": "■"}.get(status, "✗")
                style = "yellow" if status == "STOPPED" else status_style(status)
                log.out.print(Text(f"{mark} {status}", style=style))
            case w.FollowLost():
                log.out.warn(f"lost track of build {inner.build.id}: {field_text(inner.reason)}")
            case _:
                w.assert_never(inner)

    def stop_requested(self) -> None:
        self.stopping = True
        for log in self.logs.values():
            log.stopping = True

    def _lines(self, service: str) -> PrefixedLines:
        def label() -> Text:
            width = max((len(n) for n in self.names), default=len(service))
            place = self.names.index(service) if service in self.names else len(self.names)
            return Text.assemble((f"{service:<{width}}", COLOURS[place % len(COLOURS)]),
                                 (SEPARATOR, "dim"))

        return PrefixedLines(self.out, label)


def batch_outcome_lines(
    out: Lines, outcome: BatchOutcome, place: Place, *, noun: str, log_hint: bool
) -> None:
    """The services' table, what failed first and why, and the result line."""
    out.close()
    if outcome.detached:
        return  # the Detached event said what to do
    if outcome.services:
        out.print()
        services_table(out, outcome.services)
    out.print()
    took = format_duration(outcome.duration)
    if outcome.status == UNKNOWN:
        where = f" --region {outcome.region}{place.flags}"
        out.print(Text(f"? Outcome unknown: batch {outcome.batch_id} was started, but cbdeploy "
                       f"lost contact with it ({outcome.lost}).", style="yellow bold"))
        out.note(f"Re-attach with 'cbdeploy logs {outcome.batch_id} --follow{where}'.")
        return
    if outcome.status == "IN_PROGRESS" and not outcome.interrupted:
        out.note(f"Batch {outcome.batch_id} is still running. Follow it with:")
        out.print(Text(f"  cbdeploy logs {outcome.batch_id} --follow --region {outcome.region}"
                       f"{place.flags}", style="cyan"))
        return
    if outcome.interrupted:
        out.warn(f"Interrupted{interrupted_by(outcome.signal)}. Batch {outcome.batch_id} ended "
                 f"{outcome.status} after {took}.")
        return
    if outcome.exit_code == 0:
        count = len(outcome.services)
        many = f" ({count} services)" if count != 1 else ""
        out.print(Text.assemble(("✓ ", "green bold"), (f"{noun} succeeded in {took}{many}", "bold")))
        return
    out.print(Text(f"✗ {noun} {(outcome.status or 'ended').lower()} after {took}",
                   style="red bold"))
    _why(out, outcome)
    if log_hint and place.region is not None and not place.ends_with_us:
        out.note(f"full log: cbdeploy logs {outcome.batch_id} --region {outcome.region}"
                 f"{place.flags}")


def _why(out: Lines, outcome: BatchOutcome) -> None:
    failed = [s for s in outcome.services if s.status in ("FAILED", "FAULT", "TIMED_OUT")]
    failed.sort(key=lambda s: s.service != outcome.first_failed)
    for s in failed:
        first = " first" if s.service == outcome.first_failed and len(outcome.services) > 1 else ""
        out.print(Text(f"  {s.service} failed{first}", style="red bold"))
        if s.outcome is not None:
            failure_lines(out, s.outcome)
    stopped = [s.service for s in outcome.services if s.stopped_by == "fast-fail"]
    if stopped:
        out.note(f"stopped by fast-fail when {outcome.first_failed} failed (not failures of "
                 f"their own): {', '.join(stopped)}")
    if not failed and outcome.failed_phase:
        message = f" - {field_text(outcome.failed_phase_message)}" if (
            outcome.failed_phase_message) else ""
        out.print(Text(f"  Batch phase {outcome.failed_phase}{message}", style="red"))


def services_table(out: Lines, services: tuple[ServiceOutcome, ...]) -> None:
    """SERVICE, STATUS, DURATION, OUTPUTS: one row per service, laid out by hand."""
    rows = [("SERVICE", "STATUS", "DURATION", "OUTPUTS")]
    for s in services:
        rows.append((field_text(s.service), _status_cell(s),
                     format_duration(s.outcome.duration) if s.outcome else "-", _outputs(s)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for number, row in enumerate(rows):
        line = Text("  ")
        for i, cell in enumerate(row):
            style = "bold" if number == 0 else (_cell_style(services[number - 1]) if i == 1
                                                else "")
            line.append(cell.ljust(widths[i]) + "  " if i < 3 else cell, style=style)
        out.print(line)


def _cell_style(s: ServiceOutcome) -> str:
    if s.status is None:
        return "dim"
    return "yellow" if s.stopped_by else status_style(s.status)


def _status_cell(s: ServiceOutcome) -> str:
    if s.status is None:
        return "not started"
    return f"{s.status} ({s.stopped_by})" if s.stopped_by else s.status


def _outputs(s: ServiceOutcome) -> str:
    if s.outcome is None or not s.outcome.outputs:
        return "-"
    return ", ".join(f"{field_text(str(k))}={field_text(v if isinstance(v, str) else compact(v))}"
                     for k, v in s.outcome.outputs.items())
