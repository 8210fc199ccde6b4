"""GitHub Actions output: the plain lines plus workflow commands and a step summary.

:class:`GithubRenderer` wraps the normal :class:`~client.output.terminal.Renderer`
(plain mode: ``client.output.console.live_ok`` is False in Actions) and adds:

* each CodeBuild phase inside ``::group::<PHASE>`` / ``::endgroup::``, from
  its first line (a phase with nothing to show gets no empty group) to its end;
* an ``::error title=...::`` annotation naming the failing phase and step and
  CodeBuild's message, when the build fails or the command cannot start it;
* a Markdown summary (phases, steps, outputs, the build and its console link)
  appended to the file named by ``GITHUB_STEP_SUMMARY``.

Build logs are untrusted: a remote line such as ``::add-mask::`` or
``##[set-output ...]`` must not become a workflow command. The runner stops
reading commands after ``::stop-commands::<token>`` until it sees
``::<token>::``; the token is random per run and never leaves this process, so
no remote line can guess it. Commands stay stopped for the whole run and are
resumed only for the instant of writing one of ours (:meth:`_command`).

The command's output session (``client.output.session``) makes one when it
runs in Actions, and ends it (annotation of an error, step summary) however
the command ends.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from signal import SIGINT
from typing import Protocol

from rich.console import Console

from cbdeploy.client.deploy import events as d
from cbdeploy.client.errors import CbdeployError
from cbdeploy.client.output.markdown import markdown_summary
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.report import ReportCollector
from cbdeploy.client.watch import events as f
from cbdeploy.client.watch import events as w
from cbdeploy.client.watch.batch_outcome import BatchOutcome
from cbdeploy.client.watch.outcome import UNKNOWN, BuildOutcome, lost_message
from cbdeploy.client.watch.signals import signal_name

# CodeBuild's phases in the order a build passes them. A phase start that
# arrives after a later phase's (BatchGetBuilds is polled at its own pace)
# must not reopen a group over the later phase's lines.
PHASE_ORDER = (
    "SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD",
    "POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED",
)
END_PHASE = "COMPLETED"  # not a phase with lines: the build's end


class RendererLike(Protocol):
    """What the commands call on a renderer (``client.output.terminal.Renderer`` has all of it)."""

    def locate(self, place: Place) -> None: ...
    def handle(self, event: d.Event) -> None: ...
    def close(self) -> None: ...
    def outcome(self, outcome: BuildOutcome) -> None: ...
    def batch_outcome(self, outcome: BatchOutcome) -> None: ...
    def still_running(self, outcome: BuildOutcome) -> None: ...
    def interrupted_before_start(self) -> None: ...


def escape_data(value: str) -> str:
    """A workflow command's message, as the runner unescapes it."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A workflow command's property value (``title=...``), as the runner unescapes it."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def error_command(title: str, message: str) -> str:
    """The ``::error::`` workflow command for an annotation."""
    return f"::error title={escape_property(title)}::{escape_data(message)}"


def _order(name: str) -> int:
    # Unknown phase names (a newer CodeBuild) count as later than the current one.
    return PHASE_ORDER.index(name) if name in PHASE_ORDER else len(PHASE_ORDER)


class GithubRenderer:
    """The plain renderer's lines, grouped per phase, with commands kept out of remote text.

    ``annotate_failure=False`` (``logs`` without ``--follow``) shows a failed
    build without an error annotation: looking at an old build is not a
    failure of the job. An error of the command itself is always annotated.
    """

    def __init__(
        self,
        inner: RendererLike,
        console: Console,
        *,
        token: str | None = None,
        annotate_failure: bool = True,
        noun: str = "Deploy",
        command: str = "deploy",
    ) -> None:
        self.inner = inner
        self.console = console
        self.token = token or secrets.token_hex(16)
        self.annotate_failure = annotate_failure
        self.noun = noun
        self.command = command
        self._group: str | None = None  # the phase whose group is open
        self._phase: str | None = None  # the phase running, its group open or not yet
        self._stopped = False
        self._annotated = False

    # ------------------------------------------------------------------ workflow commands

    def _line(self, text: str) -> None:
        self.console.out(text, highlight=False, style=None)

    def stop_commands(self) -> None:
        """From here on the runner reads no workflow command but ours."""
        if not self._stopped:
            self._line(f"::stop-commands::{self.token}")
            self._stopped = True

    def resume_commands(self) -> None:
        if self._stopped:
            self._line(f"::{self.token}::")
            self._stopped = False

    def _command(self, *commands: str) -> None:
        stopped = self._stopped
        self.resume_commands()
        for command in commands:
            self._line(command)
        if stopped:
            self.stop_commands()

    def _open_group(self, name: str) -> None:
        opening = f"::group::{escape_data(name)}"
        self._command(*(["::endgroup::"] if self._group is not None else []), opening)
        self._group = name

    def _close_group(self) -> None:
        if self._group is not None:
            self._command("::endgroup::")
            self._group = None

    # ------------------------------------------------------------------ events

    def handle(self, event: d.Event) -> None:
        self.stop_commands()
        match event:
            case f.PhaseChanged():
                self._phase_changed(event)
            case f.BuildFinished():
                self._close_group()
            case f.LogLine() | f.MarkerEvent() if self._phase is not None and self._shows(event):
                if self._group != self._phase:
                    # Opened by the phase's first visible line: a phase with nothing
                    # to show (SUBMITTED, QUEUED ...) gets no empty group.
                    self._open_group(self._phase)
            case (f.LogLine() | f.MarkerEvent() | f.ContactLost() | f.ContactRestored()
                  | f.FollowLost() | f.StillRunning() | f.Quiet()):
                pass  # (no group to open: no phase runs, or the line is not shown)
            case (d.DeployStarting() | d.ServicesSelected() | d.DeployRecorded()
                  | d.FilesSelected() | d.FilesHashed() | d.PackagingProgress()
                  | d.ArchiveBuilt() | d.ConfirmationNeeded() | d.BootstrapStep()
                  | d.BootstrapDone() | d.UploadStarting() | d.UploadProgress() | d.UploadDone()
                  | d.BuildStarted() | d.BatchStarted() | w.Attached() | w.StopScheduled() | w.StopRequested()
                  | w.StopFailed() | w.Detached()):
                pass  # (the client's own steps: plain lines, before or outside the phases)
            case w.BatchAttached() | w.ServiceStarted() | w.ServiceEvent() | w.BatchFinished():
                # A batch's builds interleave, each line behind its service's name: no
                # phase groups (a group would hold the lines of every service).
                pass
            case _:
                w.assert_never(event)
        self.inner.handle(event)

    def _phase_changed(self, event: f.PhaseChanged) -> None:
        name = event.phase.name
        if event.phase.status is None:
            if self._phase is None or _order(name) > _order(self._phase):
                if self._group is not None and self._group != name:
                    self._close_group()
                self._phase = None if name == END_PHASE else name
        elif name == self._phase:
            # Closed before the phase's own line, which then stays in sight.
            self._close_group()
            self._phase = None

    def _shows(self, event: f.LogLine | f.MarkerEvent) -> bool:
        """Whether the inner renderer prints ``event`` as a line of the running phase."""
        if isinstance(event, f.LogLine):
            return bool(getattr(self.inner, "debug", False)) or not event.message.startswith(
                "[Container] "
            )
        return event.marker.event in ("step-start", "step-end")

    def locate(self, place: Place) -> None:
        self.inner.locate(place)

    def close(self) -> None:
        self.inner.close()

    def outcome(self, outcome: BuildOutcome) -> None:
        self._close_group()
        self.inner.outcome(outcome)
        if self.annotate_failure and not outcome.succeeded and not outcome.detached:
            title, message = failure_annotation(outcome, self.noun)
            self.annotation(title, message)

    def batch_outcome(self, outcome: BatchOutcome) -> None:
        """The table and result, then an annotation for each service that failed of its own."""
        self._close_group()
        self.inner.batch_outcome(outcome)
        if not self.annotate_failure or outcome.exit_code == 0 or outcome.detached:
            return
        failed = [s for s in outcome.services
                  if s.outcome is not None and s.status not in ("SUCCEEDED", "STOPPED")]
        failed.sort(key=lambda s: s.service != outcome.first_failed)
        for s in failed:
            assert s.outcome is not None
            title, message = failure_annotation(s.outcome, f"Service {s.service}:")
            first = " (the first to fail)" if s.service == outcome.first_failed else ""
            self._command(error_command(title + first, message))
            self._annotated = True
        if not self._annotated:
            status = (outcome.status or "ended").lower()
            detail = f"{outcome.failed_phase}: {outcome.failed_phase_message or ''}".strip(": ")
            self.annotation(f"{self.noun} {status}", f"Batch {outcome.batch_id} {status}."
                            + (f"\n{detail}" if outcome.failed_phase else ""))

    def still_running(self, outcome: BuildOutcome) -> None:
        self._close_group()
        self.inner.still_running(outcome)

    def interrupted_before_start(self) -> None:
        self.inner.interrupted_before_start()

    def error(self, error: CbdeployError) -> None:
        """The command ends with an error: one annotation with its message and hint."""
        message = error.message + (f"\n{error.hint}" if error.hint else "")
        self.annotation(f"cbdeploy {self.command} failed", message)
        self._close_group()

    def annotation(self, title: str, message: str) -> None:
        """One ``::error::`` per run (the first says what went wrong), outside any group."""
        if self._annotated:
            return
        self._annotated = True
        commands = ["::endgroup::"] if self._group is not None else []
        self._group = None
        self._command(*commands, error_command(title, message))

    def finish(self) -> None:
        """Close what is open and give the runner its commands back."""
        self._close_group()
        self.resume_commands()


def failure_annotation(outcome: BuildOutcome, noun: str = "Deploy") -> tuple[str, str]:
    """(title, message) of the ``::error::`` for a build that did not succeed."""
    if outcome.status == UNKNOWN:
        message, hint = lost_message(outcome)
        return f"{noun} outcome unknown", message + (f"\n{hint}" if hint else "")
    status = (outcome.status or "ended").lower()
    where = []
    if outcome.failed_phase:
        where.append(f"phase {outcome.failed_phase}")
    if outcome.failed_step:
        where.append(f"step {outcome.failed_step}")
    title = f"{noun} {status}" + (f" in {', '.join(where)}" if where else "")
    parts = []
    if outcome.failed_step:
        code = outcome.failed_step_exit
        parts.append(f"Step {outcome.failed_step} failed" + (f" (exit {code})." if code is not None
                                                            else "."))
    if outcome.failed_phase:
        line = f"Phase {outcome.failed_phase}: {outcome.failed_phase_status}"
        # With a failed step named, CodeBuild's message only quotes the runner's
        # command line (as in the terminal's summary).
        if outcome.failed_phase_message and not outcome.failed_step:
            line += f": {outcome.failed_phase_message}"
        parts.append(line)
    if outcome.interrupted:
        if outcome.signal in (None, SIGINT):
            parts.append("Interrupted with Ctrl-C.")
        else:
            parts.append(f"Interrupted by {signal_name(outcome.signal)}.")
    parts.append(f"Build {outcome.build_id} {outcome.status or 'ended'}.")
    return title, "\n".join(parts)


def append_summary(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(text)


def write_step_summary(
    report: ReportCollector, console: Console, environ: Mapping[str, str], command: str
) -> None:
    """Append the run's Markdown summary to ``$GITHUB_STEP_SUMMARY`` (if the runner named one)."""
    summary_file = environ.get("GITHUB_STEP_SUMMARY")
    if not summary_file:
        return
    try:
        append_summary(Path(summary_file), markdown_summary(report.report(), command=command))
    except OSError as error:
        # A summary we cannot write must not change how the command ended.
        console.print(f"! Could not write the step summary to {summary_file}: "
                      f"{error.strerror or error}", markup=False, highlight=False, soft_wrap=True)
