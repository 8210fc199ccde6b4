"""How a followed build looks: its phases, its log lines, the runner's steps, the contact.

The follower's events (``client.watch.events``) but the end: each CodeBuild
phase as it ends with its duration (a phase's name goes above its lines only
when it has some), the pipeline steps from the runner's markers, the remote
output as it is. CodeBuild's own ``[Container]`` lines are hidden unless
``--log-level debug`` (those that report an error stay visible).
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

from cbdeploy.client.output.lines import Lines
from cbdeploy.client.output.text import field_text, format_duration, phase_row
from cbdeploy.client.watch.events import (
    ContactLost,
    ContactRestored,
    LogLine,
    MarkerEvent,
    PhaseChanged,
    Quiet,
    StillRunning,
)
from cbdeploy.client.watch.phases import PHASE_COMPLETE

QUIET_PHASES = frozenset({"SUBMITTED", "COMPLETED"})
CONTAINER_ERROR = re.compile(r"error|fail|did not exit successfully", re.IGNORECASE)
PHASE_CONTEXT = re.compile(r"^\[Container\] \S+ \S+ Phase context status code: ")


class BuildLog:
    """The lines of one followed build (the renderer hands it the follow events)."""

    def __init__(self, out: Lines, *, debug: bool = False) -> None:
        self.out = out
        self.debug = debug
        self.stopping = False  # we asked CodeBuild to stop the build
        self._runner_seen = False
        self._pipeline_ended = False  # the runner said pipeline-end
        self._failed_phases: set[str] = set()  # phases whose failure line is shown
        self.shown: set[str] = set()  # phases whose end line is shown
        self._phase: str | None = None  # the phase running, its name not shown yet
        self._running_phase = "build"  # what the heartbeat names: the phase running ...
        self._running_step: str | None = None  # ... or the pipeline step running

    def phase(self, e: PhaseChanged) -> None:
        phase = e.phase
        self.out.close()
        if phase.status is None:
            self._running_phase = phase.name
            # Its name goes up only above lines of its own (_enter_phase): a
            # phase with nothing to show is just its end line. On a live
            # terminal a spinner says which phase is running meanwhile.
            self._phase = None if phase.name in QUIET_PHASES else phase.name
            if self._phase is not None:
                self.out.live.spinner(self._phase)
            return
        if self._phase == phase.name:
            self._phase = None
        self.shown.add(phase.name)
        if phase.status == "SUCCEEDED":
            self.out.print(Text.assemble(("✓ ", "green"), phase_row(phase)))
        elif phase.name not in self._failed_phases:
            self._failed_phases.add(phase.name)
            if self.stopping and phase.status == "STOPPED":
                self.out.print(Text("■ " + phase_row(phase), style="yellow"))
            else:
                self.out.print(Text("✗ " + phase_row(phase), style="red"))

    def _enter_phase(self) -> None:
        """Before a line: the spinner goes, and the running phase's name goes above its first."""
        self.out.close()
        if self._phase is not None:
            self.out.print(Text.assemble(("· ", "dim"), (self._phase, "bold")))
            self._phase = None

    def line(self, e: LogLine) -> None:
        if e.message.startswith("[Container] "):
            if self.debug:
                self._enter_phase()
                self.out.remote(e.message, style="dim")
            elif not self._runner_seen and not self._pipeline_ended and _reports_error(e.message):
                # Without our runner (a custom buildspec) these are the only
                # words on what failed; with it, its step lines say it better.
                self._enter_phase()
                self.out.remote(e.message, style="red")
            return
        self._enter_phase()
        self.out.remote(e.message)

    def marker(self, e: MarkerEvent) -> None:
        self._runner_seen = True
        if e.marker.event in ("step-start", "step-end"):
            self._enter_phase()
        data = e.marker.data
        step = field_text(str(data.get("step", "?")))
        if e.marker.event == "pipeline-end":
            self._pipeline_ended = True
        elif e.marker.event == "step-start":
            self._running_step = step
            where = (
                f" ({data['index']}/{data['total']})" if "index" in data and "total" in data else ""
            )
            self.out.print(Text.assemble(("▸ ", "bold blue"), (step, "bold"), where))
        elif e.marker.event == "step-end":
            self._running_step = None
            took = format_duration(_float(data.get("duration")))
            if data.get("status") == "ok":
                self.out.ok(f"{step} ({took})")
            elif data.get("status") == "stopped" or self.stopping:
                # Killed by our own stop request: not a failure of the step.
                self.out.print(Text(f"■ {step} stopped after {took}", style="yellow"))
            else:
                code = data.get("exitCode")
                self.out.print(
                    Text(f"✗ {step} failed (exit {code}) after {took}", style="red bold")
                )

    def quiet(self, e: Quiet) -> None:
        """A live terminal only: a spinner with the running step and its time, until a line comes.

        Its line is transient: once output resumes or the step ends, nothing of it stays.
        """
        if not self.out.live.active:  # (a phase's own spinner may already say it)
            self.out.live.spinner(self._running_step or self._running_phase, e.running)

    def still_running(self, e: StillRunning) -> None:
        """Plain output only: a heartbeat line, so a CI job that kills a silent step does not.

        At a live terminal the spinner already shows that the build runs (a
        CI log in colour, FORCE_COLOR, has no spinner: it gets the line).
        """
        if self.out.spinning:
            return
        name = self._running_step or self._running_phase
        self.out.print(Text(f"… still running: {name} ({format_duration(e.running)})", style="dim"))

    def contact_lost(self, e: ContactLost) -> None:
        self.out.close()
        if e.throttled:
            self.out.warn(f"AWS is throttling cbdeploy's calls: {field_text(e.error)}")
            self.out.note("Following more slowly until it stops; no line will be lost.")
            return
        self.out.warn(f"Lost contact with the build: {field_text(e.error)}")
        self.out.note(
            f"Still trying; cbdeploy gives up after {format_duration(e.retrying_for)} "
            "without an answer."
        )

    def contact_restored(self, e: ContactRestored) -> None:
        self.out.ok(f"Back in contact after {format_duration(e.seconds)}; no line was missed.")


def _reports_error(container_line: str) -> bool:
    # A phase's end and its context are not: they come as the phase's own
    # line and in the outcome, once each.
    return (
        PHASE_COMPLETE.match(container_line) is None
        and PHASE_CONTEXT.match(container_line) is None
        and CONTAINER_ERROR.search(container_line) is not None
    )


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
