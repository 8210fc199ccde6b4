"""The terminal layer: how deploy, follow and build events look. Only this module prints.

Everything goes through a rich ``Console`` passed in (tests hand one writing
to a ``StringIO``). Remote log lines are untrusted text: they are written
with markup and highlighting off, so ``[/x]`` neither crashes rich nor
``[bold]`` disappears, and without the control sequences that could act on
the terminal (``client.output.text``: SGR colours only at a terminal, where a
carriage return starts a new line; none in plain output, where carriage
returns stay). CodeBuild's own ``[Container]`` lines are hidden
unless ``--log-level debug`` (those that report an error stay visible).

What a deploy looks like: a header (stage, region, account, project), one
line per step of the client's work (packaged, infrastructure, uploaded,
started with the build's console link), then the build: each CodeBuild phase
as it ends with its duration (a phase's name goes above its lines only when
it has some), the pipeline steps from the runner's markers, the remote output
as it is; and a summary: time per phase, the result with the total time, what
failed, the outputs.

Progress bars (packaging, upload) only where ``console.is_interactive`` (a
real terminal, see ``client.output.console``); elsewhere each gives its one summary
line and nothing else, so a CI log holds plain lines only.
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, TextIO

from rich.console import Console
from rich.filesize import decimal
from rich.text import Text

from cbdeploy.client.aws.endpoint import AWS, Endpoint
from cbdeploy.client.aws.links import build_console_url
from cbdeploy.client.deploy import events as d
from cbdeploy.client.errors import UsageError
from cbdeploy.client.output.builds import builds_table, endpoint_header, no_builds, stopped
from cbdeploy.client.output.console import stdin_is_terminal
from cbdeploy.client.output.live import LiveDisplay
from cbdeploy.client.output.text import (
    commit_text,
    compact,
    field_text,
    format_duration,
    phase_row,
    plain_text,
    reattach_commands,
    status_style,
    terminal_text,
)
from cbdeploy.client.watch.follow import (
    PHASE_COMPLETE,
    BuildFinished,
    ContactLost,
    ContactRestored,
    FollowLost,
    LogLine,
    MarkerEvent,
    PhaseChanged,
)
from cbdeploy.client.watch.outcome import UNKNOWN, BuildOutcome, lost_message
from cbdeploy.client.watch.signals import signal_name

__all__ = [  # (the other commands import these from here)
    "Renderer", "builds_table", "confirm", "endpoint_header", "format_duration", "no_builds",
    "reattach_commands", "stopped",
]

QUIET_PHASES = frozenset({"SUBMITTED", "COMPLETED"})
CONTAINER_ERROR = re.compile(r"error|fail|did not exit successfully", re.IGNORECASE)
PHASE_CONTEXT = re.compile(r"^\[Container\] \S+ \S+ Phase context status code: ")


class Renderer:
    """Turns events into lines. ``handle`` accepts every deploy and follow event."""

    def __init__(
        self,
        console: Console,
        *,
        debug: bool = False,
        noun: str = "Deploy",
        log_hint: bool = True,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.console = console
        self.now = now  # "started ... (2m 10s ago)" in the logs header
        self.debug = debug
        self.noun = noun
        self.log_hint = log_hint  # end a failure with the 'cbdeploy logs' command
        self._runner_seen = False
        self._pipeline_ended = False  # the runner said pipeline-end
        self._failed_phases: set[str] = set()  # phases whose failure line is shown
        self._local = False  # --local
        self._endpoint: Endpoint = AWS  # where the build runs, when not on AWS
        self._stopping = False  # we asked CodeBuild to stop the build
        self._live = LiveDisplay(console)  # bars and spinners, on a live terminal only
        self._phase: str | None = None  # the phase running, its name not shown yet

    # ------------------------------------------------------------------ small helpers

    def _print(self, *objects: Any, **kwargs: Any) -> None:
        # Never hard-wrap: ids and commands must stay copyable; the terminal wraps.
        kwargs.setdefault("soft_wrap", True)
        self.console.print(*objects, **kwargs)

    def _ok(self, text: str) -> None:
        self._print(Text.assemble(("✓ ", "green"), text))

    def _warn(self, text: str) -> None:
        self._print(Text.assemble(("! ", "yellow bold"), (text, "yellow")))

    def _note(self, text: str) -> None:
        self._print(Text("  " + text, style="dim"))

    def _remote(self, message: str, style: str | None = None) -> None:
        # No markup, no highlighting, no wrapping, and no control sequence that
        # could act on the terminal (client.output.text): at a terminal SGR
        # colours stay and a carriage return starts a new line; in plain output
        # (--json's stderr, a pipe, a CI log) no sequence stays and carriage
        # returns are kept, so the text is the build's, byte for byte otherwise.
        terminal = self.console.is_terminal
        if terminal:
            text = terminal_text(message, colours=self.console.color_system is not None)
        else:
            text = plain_text(message)
        if not terminal or (style is None and not self._live.active):
            # The common case, in bursts of thousands: written as it is (rich
            # would drop carriage returns and turn tabs into spaces).
            self.console.file.write(text + "\n")
            self.console.file.flush()
            return
        self.console.out(text, style=style, highlight=False)

    # ------------------------------------------------------------------ dispatch

    def handle(self, event: object) -> None:
        method = getattr(self, "_on_" + type(event).__name__, None)
        if method is not None:
            method(event)

    def _on_DeployStarting(self, e: d.DeployStarting) -> None:
        self._print(Text("cbdeploy: Deploy", style="bold"))
        self._print()
        rows = [("Stage", e.stage), ("Region", e.region)]
        if e.account:
            rows.append(("Account", e.account))
        rows.append(("Project", f"{e.app} ({e.project})"))
        self._local, self._endpoint = e.local, e.endpoint
        endpoint = self._endpoint_row()
        if endpoint is not None:
            rows.append(endpoint)
        self._rows(rows)
        self._print()

    def _endpoint_row(self) -> tuple[str, str] | None:
        if self._endpoint.url is not None:
            return ("Endpoint", self._endpoint.label)
        return ("Endpoint", "local emulator (--local)") if self._local else None

    @property
    def _on_aws(self) -> bool:
        """Whether the build runs on AWS itself (it has a console page)."""
        return not self._local and self._endpoint.url is None

    @property
    def _ends_with_us(self) -> bool:
        """Whether the build runs in an emulator in this process (no command can find it later)."""
        return self._local and not self._endpoint.standing

    def _rows(self, rows: Iterable[tuple[str, str | Text]]) -> None:
        for label, value in rows:
            shown = value if isinstance(value, Text) else Text(value, style="cyan")
            self._print(Text.assemble(f"  {label + ':':<10}", shown))

    def _on_FilesSelected(self, e: d.FilesSelected) -> None:
        selection = e.selection
        for repo in selection.skipped_repos:
            self._warn(
                f"Skipped nested repository {repo}/ (set package.includeSubmodules = true to ship it)"
            )
        if selection.secrets:
            count = len(selection.secrets)
            what = "file looks like a secret" if count == 1 else "files look like secrets"
            self._warn(f"{count} {what} and will be uploaded: " + ", ".join(selection.secrets))
            self._note(
                "Keep them out with .cbdeployignore; use [secrets] for values the build needs."
            )

    def _on_PackagingProgress(self, e: d.PackagingProgress) -> None:
        self._live.packaging(e.done, e.total)

    def _on_ArchiveBuilt(self, e: d.ArchiveBuilt) -> None:
        self.close()
        a = e.archive
        files = "file" if a.file_count == 1 else "files"
        self._ok(
            f"Packaged {a.file_count} {files} ({decimal(a.raw_size)}, zip {decimal(a.size)}) "
            f"in {format_duration(e.seconds)}"
        )
        if e.kept_in is not None:
            self._note(f"archive, buildspec and plan kept in {e.kept_in}")

    def _on_ConfirmationNeeded(self, e: d.ConfirmationNeeded) -> None:
        a = e.archive
        files = "file" if a.file_count == 1 else "files"
        self._print()
        self._print(Text(f"Stage {e.stage} asks before deploying. About to deploy:", style="bold"))
        self._rows(
            [
                ("Stage", e.stage),
                ("Region", e.region),
                ("Account", e.account),
                ("Archive", f"{decimal(a.size)} ({a.file_count} {files})"),
                ("Commit", commit_text(e.git)),
            ]
        )

    def _on_BootstrapStep(self, e: d.BootstrapStep) -> None:
        self._note(e.what)

    def _on_BootstrapDone(self, e: d.BootstrapDone) -> None:
        if e.infra.changes:
            count = len(e.infra.changes)
            self._ok(f"Infrastructure updated ({count} {'change' if count == 1 else 'changes'})")
        else:
            self._ok("Infrastructure up to date")

    def _on_UploadStarting(self, e: d.UploadStarting) -> None:
        self._live.upload(e.size)

    def _on_UploadProgress(self, e: d.UploadProgress) -> None:
        self._live.uploaded(e.done, e.total)

    def close(self) -> None:
        """Take down a live progress bar or spinner (also on an error or a Ctrl-C)."""
        self._live.stop()

    def _on_UploadDone(self, e: d.UploadDone) -> None:
        self.close()
        if e.result.skipped:
            self._ok(f"Archive already uploaded, skipping ({e.result.key})")
            return
        line = f"Uploaded {decimal(e.size)} in {format_duration(e.seconds)}"
        if e.seconds >= 1.0 and e.result.sent_bytes:  # (a blink has no useful rate)
            # The rate stays when the bar goes (and a CI log never had one).
            line += f" ({decimal(int(e.result.sent_bytes / e.seconds))}/s)"
        if e.result.reused_parts:
            parts = "part" if e.result.reused_parts == 1 else "parts"
            line += f", resumed: {e.result.reused_parts} {parts} were already there"
        self._ok(line)

    def _on_BuildStarted(self, e: d.BuildStarted) -> None:
        self._ok(f"Started build {e.build.id}")
        if e.local:
            self._note("Console: none, the build runs in the local emulator")
        elif self._endpoint.url is not None:
            self._note(f"Console: none, the build runs at {self._endpoint.url}")
        else:
            self._note(f"Console: {build_console_url(e.region, e.build.id)}")
        if e.following and e.at_terminal:
            self._note("Ctrl-C stops the build; press it twice to leave the build running.")
        elif e.following:
            self._note("A cancel (SIGINT, SIGTERM) stops the build.")

    def _on_Attached(self, e: d.Attached) -> None:
        build = e.build
        self._local, self._endpoint = e.local, e.endpoint
        self._print(Text(f"cbdeploy: Build {build.id}", style="bold"))
        self._print()
        status = Text(build.status or "UNKNOWN", style=status_style(build.status))
        if build.start is not None:
            started = build.start.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            if build.complete and build.end is not None:
                took = format_duration((build.end - build.start).total_seconds())
                status.append(f", started {started}, took {took}", style="cyan")
            else:
                ago = format_duration((self.now() - build.start).total_seconds())
                status.append(f", started {started} ({ago} ago)", style="cyan")
        env = dict(build.environment)
        rows: list[tuple[str, str | Text]] = [
            ("Project", build.project), ("Region", e.region), ("Status", status)
        ]
        if env.get("CBDEPLOY_GIT_COMMIT"):
            commit = Text(env["CBDEPLOY_GIT_COMMIT"][:10], style="cyan")
            if env.get("CBDEPLOY_GIT_DIRTY") == "true":
                commit.append(", with uncommitted changes", style="yellow")
            rows.append(("Commit", commit))
        endpoint = self._endpoint_row()
        if endpoint is not None:
            rows.append(endpoint)
        if self._on_aws:
            rows.append(("Console", build_console_url(e.region, build.id)))
        self._rows(rows)
        if e.following:
            self._note("Ctrl-C leaves the build running.")
        self._print()

    def _on_StopScheduled(self, e: d.StopScheduled) -> None:
        self.close()
        self._print()  # (off the line the terminal's "^C" is on)
        self._warn(
            f"Build {e.build_id} will be stopped in {e.seconds:g} seconds. "
            "Press Ctrl-C again to leave it running."
        )

    def _on_StopRequested(self, e: d.StopRequested) -> None:
        self._stopping = True
        if e.signal is None:
            self._warn(f"Stopping build {e.build_id}… (Ctrl-C again to leave it running)")
            return
        waiting = f", waiting up to {format_duration(e.wait_seconds)} for it to end" if (
            e.wait_seconds is not None) else ""
        self._warn(f"{e.signal}: stopping build {e.build_id}{waiting}…")

    def _on_StopFailed(self, e: d.StopFailed) -> None:
        self._print(Text(f"✗ Could not stop build {e.build_id}: {e.message}", style="red"))

    def _on_Detached(self, e: d.Detached) -> None:
        self.close()
        if e.build_id is None:
            self._warn("Interrupted while starting the build; its id is not known.")
            self._note(f"See 'cbdeploy builds --region {e.region}{self._endpoint.flags}' "
                       "and stop it if it runs.")
            return
        if e.stop_requested and e.waited is not None:
            self._warn(
                f"Build {e.build_id} was asked to stop and had not ended after "
                f"{format_duration(e.waited)}; it may still be running."
            )
        elif e.stop_requested:
            self._warn(f"Detached. Build {e.build_id} was asked to stop and may still be running.")
        elif e.interrupted:
            self._warn(f"Detached. Build {e.build_id} keeps running.")
        else:
            self._ok(f"Build {e.build_id} is running (detached)")
        if e.local and not self._endpoint.standing:
            # No command can reach it later: it ends with this process.
            self._note("With --local the emulator lives in this process: the build ends with it. "
                       "Start 'cbdeploy emulator' in another terminal to keep builds running.")
            return
        for label, command in reattach_commands(e.build_id, e.region, self._endpoint.flags):
            self._print(Text.assemble(f"  {label + ':':<11}", (command, "cyan")))

    # ------------------------------------------------------------------ follow events

    def _on_PhaseChanged(self, e: PhaseChanged) -> None:
        phase = e.phase
        self.close()
        if phase.status is None:
            # Its name goes up only above lines of its own (_enter_phase): a
            # phase with nothing to show is just its end line. On a live
            # terminal a spinner says which phase is running meanwhile.
            self._phase = None if phase.name in QUIET_PHASES else phase.name
            if self._phase is not None:
                self._live.spinner(self._phase)
            return
        if self._phase == phase.name:
            self._phase = None
        if phase.status == "SUCCEEDED":
            self._print(Text.assemble(("✓ ", "green"), phase_row(phase)))
        elif phase.name not in self._failed_phases:
            self._failed_phases.add(phase.name)
            if self._stopping and phase.status == "STOPPED":
                self._print(Text("■ " + phase_row(phase), style="yellow"))
            else:
                self._print(Text("✗ " + phase_row(phase), style="red"))

    def _enter_phase(self) -> None:
        """Name the running phase above its first line shown (its lines replace the spinner)."""
        if self._phase is not None:
            self.close()
            self._print(Text.assemble(("· ", "dim"), (self._phase, "bold")))
            self._phase = None

    def _on_LogLine(self, e: LogLine) -> None:
        if e.message.startswith("[Container] "):
            if self.debug:
                self._enter_phase()
                self._remote(e.message, style="dim")
            elif not self._runner_seen and not self._pipeline_ended and _reports_error(e.message):
                # Without our runner (a custom buildspec) these are the only
                # words on what failed; with it, its step lines say it better.
                self._enter_phase()
                self._remote(e.message, style="red")
            return
        self._enter_phase()
        self._remote(e.message)

    def _on_MarkerEvent(self, e: MarkerEvent) -> None:
        self._runner_seen = True
        if e.marker.event in ("step-start", "step-end"):
            self._enter_phase()
        data = e.marker.data
        step = field_text(str(data.get("step", "?")))
        if e.marker.event == "pipeline-end":
            self._pipeline_ended = True
        elif e.marker.event == "step-start":
            where = (
                f" ({data['index']}/{data['total']})" if "index" in data and "total" in data else ""
            )
            self._print(Text.assemble(("▸ ", "bold blue"), (step, "bold"), where))
        elif e.marker.event == "step-end":
            took = format_duration(_float(data.get("duration")))
            if data.get("status") == "ok":
                self._ok(f"{step} ({took})")
            elif data.get("status") == "stopped" or self._stopping:
                # Killed by our own stop request: not a failure of the step.
                self._print(Text(f"■ {step} stopped after {took}", style="yellow"))
            else:
                code = data.get("exitCode")
                self._print(
                    Text(f"✗ {step} failed (exit {code}) after {took}", style="red bold")
                )

    def _on_BuildFinished(self, e: BuildFinished) -> None:
        self.close()  # the outcome says it all

    def _on_ContactLost(self, e: ContactLost) -> None:
        self.close()
        if e.throttled:
            self._warn(f"AWS is throttling cbdeploy's calls: {field_text(e.error)}")
            self._note("Following more slowly until it stops; no line will be lost.")
            return
        self._warn(f"Lost contact with the build: {field_text(e.error)}")
        self._note(
            f"Still trying; cbdeploy gives up after {format_duration(e.retrying_for)} "
            "without an answer."
        )

    def _on_ContactRestored(self, e: ContactRestored) -> None:
        self._ok(f"Back in contact after {format_duration(e.seconds)}; no line was missed.")

    def _on_FollowLost(self, e: FollowLost) -> None:
        self.close()  # the outcome says what is known

    # ------------------------------------------------------------------ the end

    def outcome(self, outcome: BuildOutcome) -> None:
        """The last lines: result, duration, and on failure what failed and why."""
        self.close()
        if outcome.detached:
            return  # the Detached event said what to do
        took = format_duration(outcome.duration)
        ended = [p for p in outcome.phases if p.status is not None]
        if ended:
            self._print()
            self._print(Text("Phases:", style="bold"))
            for phase in ended:
                style = "" if phase.status == "SUCCEEDED" else "red"
                self._print(Text("  " + phase_row(phase), style=style))
        self._print()
        if outcome.status == UNKNOWN:
            message, hint = lost_message(outcome, self._endpoint.flags)
            self._print(Text("? " + message, style="yellow bold"))
            if hint:
                self._note(hint)
        elif outcome.interrupted:
            by = interrupted_by(outcome.signal)
            self._warn(
                f"Interrupted{by}. Build {outcome.build_id} ended {outcome.status} after {took}."
            )
        elif outcome.succeeded:
            self._print(
                Text.assemble(("✓ ", "green bold"), (f"{self.noun} succeeded in {took}", "bold"))
            )
        else:
            self._print(
                Text(
                    f"✗ {self.noun} {(outcome.status or 'ended').lower()} after {took}",
                    style="red bold",
                )
            )
            if outcome.failed_step:
                code = outcome.failed_step_exit
                exit_part = f" (exit {code})" if code is not None else ""
                self._print(
                    Text(f"  Step {field_text(outcome.failed_step)} failed{exit_part}",
                         style="red")
                )
            if outcome.failed_phase:
                line = f"  Phase {outcome.failed_phase}: {outcome.failed_phase_status}"
                # With a failed step named, CodeBuild's context only quotes the
                # runner's command line; the step line above is the real reason.
                if outcome.failed_phase_message and not outcome.failed_step:
                    line += f" - {field_text(outcome.failed_phase_message)}"
                self._print(Text(line, style="red"))
            if outcome.hint:
                self._note(outcome.hint)
            if outcome.build_id and outcome.region and self.log_hint and not self._ends_with_us:
                # (With an in-process emulator the build is gone once this process ends.)
                self._note(f"full log: cbdeploy logs {outcome.build_id} --region {outcome.region}"
                           f"{self._endpoint.flags}")
        if outcome.outputs:
            self._print()
            self._print(Text("Outputs:", style="bold"))
            width = max(len(str(k)) for k in outcome.outputs) + 1
            for key, value in outcome.outputs.items():
                shown = field_text(value if isinstance(value, str) else compact(value))
                label = field_text(str(key)) + ":"
                self._print(Text.assemble(f"  {label:<{width}} ", (shown, "cyan")))

    def still_running(self, outcome: BuildOutcome) -> None:
        self.close()
        self._print()
        self._note(f"Build {outcome.build_id} is still running. Follow it with:")
        self._print(
            Text(
                f"  cbdeploy logs {outcome.build_id} --follow --region {outcome.region}"
                f"{self._endpoint.flags}",
                style="cyan",
            )
        )

    def interrupted_before_start(self) -> None:
        self._print()
        self._warn("Interrupted before the build started; nothing was deployed.")


def confirm(console: Console, question: str, stdin: TextIO | None = None) -> bool:
    """Ask yes/no on the terminal; refuse (UsageError, exit 2) when there is none."""
    stream = stdin or sys.stdin
    if not stdin_is_terminal(stream):
        raise UsageError(
            "This stage asks for confirmation before deploying, and there is no terminal to ask.",
            "Pass --yes (--autoConfirmOperation) to deploy without being asked.",
        )
    from rich.prompt import Confirm

    return Confirm.ask(question, console=console, default=False, stream=stream)


def _reports_error(container_line: str) -> bool:
    # A phase's end and its context are not: they come as the phase's own
    # line and in the outcome, once each.
    return (
        PHASE_COMPLETE.match(container_line) is None
        and PHASE_CONTEXT.match(container_line) is None
        and CONTAINER_ERROR.search(container_line) is not None
    )


def interrupted_by(signum: int | None) -> str:
    """`` by SIGTERM`` after "Interrupted" for a signal that is not a Ctrl-C; else ``""``."""
    if signum is None or signum == signal.SIGINT:
        return ""
    return f" by {signal_name(signum)}"


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
