"""The terminal layer: how deploy, follow and build events look. Only ``client.output`` prints.

Everything goes through a rich ``Console`` passed in (tests hand one writing
to a ``StringIO``). Remote log lines are untrusted text (``client.output.lines``).

What a deploy looks like: a header (stage, region, account, project), one
line per step of the client's work (packaged, infrastructure, uploaded,
started with the build's console link), then the build
(``client.output.build_log``); and a summary (``client.output.summary``): time
per phase, the result with the total time, what failed, the outputs.

:meth:`Renderer.handle` dispatches on the closed union of events with
``match`` and ends with ``assert_never``: an event without a case fails mypy.
Where the build runs (region, endpoint, ``--local``) comes once, through
:meth:`Renderer.locate`, from the output session.

Progress bars (packaging, upload) only where ``console.is_interactive`` (a
real terminal, see ``client.output.console``); elsewhere each gives its one summary
line and nothing else, so a CI log holds plain lines only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TextIO

from rich.console import Console
from rich.filesize import decimal
from rich.text import Text

from cbdeploy.client.aws.links import build_console_url
from cbdeploy.client.deploy import events as d
from cbdeploy.client.errors import UsageError
from cbdeploy.client.output.batch_log import BatchLog, batch_outcome_lines
from cbdeploy.client.output.build_log import BuildLog
from cbdeploy.client.output.lines import Lines
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.selection import selection_lines
from cbdeploy.client.output.summary import outcome_lines
from cbdeploy.client.output.text import (
    clock_time,
    commit_text,
    format_duration,
    reattach_commands,
    status_style,
)
from cbdeploy.client.tty import stdin_is_terminal
from cbdeploy.client.watch import events as f
from cbdeploy.client.watch import events as w
from cbdeploy.client.watch.batch_outcome import BatchOutcome
from cbdeploy.client.watch.outcome import BuildOutcome


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
        place: Place | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.now = now  # "started ... (2m 10s ago)" in the logs header
        self.debug = debug
        self.noun = noun
        self.log_hint = log_hint  # end a failure with the 'cbdeploy logs' command
        self.place = place or Place()  # where the build runs
        self.out = Lines(console, clock)  # (clock: a spinner's time)
        self.log = BuildLog(self.out, debug=debug)
        self.batch = BatchLog(self.out, debug=debug)

    def locate(self, place: Place) -> None:
        """Where the build runs: told once by the session, before any event."""
        self.place = place

    def close(self) -> None:
        """Take down a live progress bar or spinner (also on an error or a Ctrl-C)."""
        self.out.close()

    # ------------------------------------------------------------------ dispatch

    def handle(self, event: d.Event) -> None:  # noqa: C901 (one case per event)
        match event:
            case d.DeployStarting():
                self._deploy_starting(event)
            case d.ServicesSelected() | d.DeployRecorded():
                selection_lines(self.out, event)
            case d.FilesSelected():
                self._files_selected(event)
            case d.PackagingProgress():
                self.out.live.packaging(event.done, event.total)
            case d.FilesHashed():
                self._files_hashed(event)
            case d.ArchiveBuilt():
                self._archive_built(event)
            case d.ConfirmationNeeded():
                self._confirmation_needed(event)
            case d.BootstrapStep():
                self.out.note(event.what)
            case d.BootstrapDone():
                self._bootstrap_done(event)
            case d.UploadStarting():
                self.out.live.upload(event.size)
            case d.UploadProgress():
                self.out.live.uploaded(event.done, event.total)
            case d.UploadDone():
                self._upload_done(event)
            case d.BuildStarted():
                self._build_started(event)
            case w.Attached():
                self._attached(event)
            case w.StopScheduled():
                self._stop_scheduled(event)
            case w.StopRequested():
                self._stop_requested(event)
            case w.StopFailed():
                self._stop_failed(event)
            case w.Detached():
                self._detached(event)
            case f.PhaseChanged():
                self.log.phase(event)
            case f.LogLine():
                self.log.line(event)
            case f.MarkerEvent():
                self.log.marker(event)
            case f.ContactLost():
                self.log.contact_lost(event)
            case f.ContactRestored():
                self.log.contact_restored(event)
            case f.StillRunning():
                self.log.still_running(event)
            case f.Quiet():
                self.log.quiet(event)
            case f.BuildFinished() | f.FollowLost() | w.BatchFinished():
                self.close()  # the outcome says it all (or what is known)
            case d.BatchStarted() | w.BatchAttached() | w.ServiceStarted() | w.ServiceEvent():
                self._batch_event(event)
            case _:
                w.assert_never(event)

    def _batch_event(
        self, event: d.BatchStarted | w.BatchAttached | w.ServiceStarted | w.ServiceEvent
    ) -> None:
        match event:
            case d.BatchStarted():
                self._batch_started(event)
            case w.BatchAttached():
                self.batch.attached(event, self.place)
            case w.ServiceStarted():
                self.batch.started(event)
            case w.ServiceEvent():
                self.batch.event(event)
            case _:
                w.assert_never(event)

    # ------------------------------------------------------------------ the deploy's steps

    def _deploy_starting(self, e: d.DeployStarting) -> None:
        self.out.print(Text("cbdeploy: Deploy", style="bold"))
        self.out.print()
        rows = [("Stage", e.stage), ("Region", self.place.region or "")]
        if e.account:
            rows.append(("Account", e.account))
        rows.append(("Project", f"{e.app} ({e.project})"))
        if e.config:
            rows.append(("Config", e.config))
        endpoint = self._endpoint_row()
        if endpoint is not None:
            rows.append(endpoint)
        self.out.rows(rows)
        self.out.print()

    def _endpoint_row(self) -> tuple[str, str] | None:
        label = self.place.endpoint_label
        return None if label is None else ("Endpoint", label)

    def _files_selected(self, e: d.FilesSelected) -> None:
        selection = e.selection
        for repo in selection.skipped_repos:
            self.out.warn(
                f"Skipped nested repository {repo}/ (set package.includeSubmodules = true to ship it)"
            )
        if selection.secrets:
            count = len(selection.secrets)
            what = "file looks like a secret" if count == 1 else "files look like secrets"
            self.out.warn(f"{count} {what} and will be uploaded: " + ", ".join(selection.secrets))
            self.out.note(
                "Keep them out with .cbdeployignore; use [secrets] for values the build needs."
            )

    def _files_hashed(self, e: d.FilesHashed) -> None:
        self.close()
        files = "file" if e.file_count == 1 else "files"
        self.out.ok(f"Hashed {e.file_count} {files} ({decimal(e.raw_size)}) "
                    f"in {format_duration(e.seconds)}")

    def _archive_built(self, e: d.ArchiveBuilt) -> None:
        if e.after_start:  # (a delta went: the full archive is the next deploy's cache)
            return
        self.close()
        a = e.archive
        files = "file" if a.file_count == 1 else "files"
        self.out.ok(
            f"Packaged {a.file_count} {files} ({decimal(a.raw_size)}, zip {decimal(a.size)}) "
            f"in {format_duration(e.seconds)}"
        )
        if e.kept_in is not None:
            self.out.note(f"archive, buildspec and plan kept in {e.kept_in}")

    def _confirmation_needed(self, e: d.ConfirmationNeeded) -> None:
        a = e.archive
        files = "file" if a.file_count == 1 else "files"
        self.out.print()
        self.out.print(
            Text(f"Stage {e.stage} asks before deploying. About to deploy:", style="bold")
        )
        self.out.rows(
            [
                ("Stage", e.stage),
                ("Region", e.region),
                ("Account", e.account),
                ("Archive", f"{decimal(a.size)} ({a.file_count} {files})"),
                ("Commit", commit_text(e.git)),
            ]
        )

    def _bootstrap_done(self, e: d.BootstrapDone) -> None:
        if e.infra.changes:
            count = len(e.infra.changes)
            self.out.ok(f"Infrastructure updated ({count} {'change' if count == 1 else 'changes'})")
        else:
            self.out.ok("Infrastructure up to date")

    def _upload_done(self, e: d.UploadDone) -> None:
        self.close()
        if e.result.skipped:
            self.out.ok(f"Archive already uploaded, skipping ({e.result.key})")
            return
        line = f"Uploaded {decimal(e.size)} in {format_duration(e.seconds)}"
        if e.result.kind == "delta":
            line = (f"Uploaded a delta of {decimal(e.size)} against {e.result.base_key} "
                    f"in {format_duration(e.seconds)}")
        if e.seconds >= 1.0 and e.result.sent_bytes:  # (a blink has no useful rate)
            # The rate stays when the bar goes (and a CI log never had one).
            line += f" ({decimal(int(e.result.sent_bytes / e.seconds))}/s)"
        if e.result.reused_parts:
            parts = "part" if e.result.reused_parts == 1 else "parts"
            line += f", resumed: {e.result.reused_parts} {parts} were already there"
        self.out.ok(line)

    def _build_started(self, e: d.BuildStarted) -> None:
        self.out.ok(f"Started build {e.build.id}")
        if self.place.local:
            self.out.note("Console: none, the build runs in the local emulator")
        elif self.place.endpoint.url is not None:
            self.out.note(f"Console: none, the build runs at {self.place.endpoint.url}")
        else:
            self.out.note(f"Console: {build_console_url(self.place.region or '', e.build.id)}")
        if e.following and e.at_terminal:
            self.out.note("Ctrl-C stops the build; press it twice to leave the build running.")
        elif e.following:
            self.out.note("A cancel (SIGINT, SIGTERM) stops the build.")

    def _batch_started(self, e: d.BatchStarted) -> None:
        self.out.ok(f"Started batch build {e.batch.id}")
        for service, identifier in e.services:
            named = service if service == identifier else f"{service} ({identifier})"
            self.out.note(f"  {named}")
        if not e.fast_fail:
            self.out.note("--keep-going: a failed service lets the independent ones finish.")

    def _attached(self, e: w.Attached) -> None:
        build = e.build
        self.out.print(Text(f"cbdeploy: Build {build.id}", style="bold"))
        self.out.print()
        status = Text(build.status or "UNKNOWN", style=status_style(build.status))
        if build.start is not None:
            started = clock_time(build.start)
            if build.complete and build.end is not None:
                took = format_duration((build.end - build.start).total_seconds())
                status.append(f", started {started}, took {took}", style="cyan")
            else:
                ago = format_duration((self.now() - build.start).total_seconds())
                status.append(f", started {started} ({ago} ago)", style="cyan")
        env = dict(build.environment)
        region = self.place.region or ""
        rows: list[tuple[str, str | Text]] = [
            ("Project", build.project), ("Region", region), ("Status", status)
        ]
        if env.get("CBDEPLOY_GIT_COMMIT"):
            commit = Text(env["CBDEPLOY_GIT_COMMIT"][:10], style="cyan")
            if env.get("CBDEPLOY_GIT_DIRTY") == "true":
                commit.append(", with uncommitted changes", style="yellow")
            rows.append(("Commit", commit))
        endpoint = self._endpoint_row()
        if endpoint is not None:
            rows.append(endpoint)
        if self.place.on_aws:
            rows.append(("Console", build_console_url(region, build.id)))
        self.out.rows(rows)
        if e.following:
            self.out.note("Ctrl-C leaves the build running.")
        self.out.print()

    def _stop_scheduled(self, e: w.StopScheduled) -> None:
        self.close()
        self.out.print()  # (off the line the terminal's "^C" is on)
        self.out.warn(
            f"{_noun(e.batch)} {e.build_id} will be stopped in {e.seconds:g} seconds. "
            "Press Ctrl-C again to leave it running."
        )

    def _stop_requested(self, e: w.StopRequested) -> None:
        self.log.stopping = True
        self.batch.stop_requested()
        what = _noun(e.batch).lower()
        if e.signal is None:
            self.out.warn(f"Stopping {what} {e.build_id}… (Ctrl-C again to leave it running)")
            return
        waiting = f", waiting up to {format_duration(e.wait_seconds)} for it to end" if (
            e.wait_seconds is not None) else ""
        self.out.warn(f"{e.signal}: stopping {what} {e.build_id}{waiting}…")

    def _stop_failed(self, e: w.StopFailed) -> None:
        what = "batch" if e.batch else "build"
        self.out.print(Text(f"✗ Could not stop {what} {e.build_id}: {e.message}", style="red"))

    def _detached(self, e: w.Detached) -> None:
        self.close()
        region, flags = self.place.region or "", self.place.flags
        if e.build_id is None:
            self.out.warn("Interrupted while starting the build; its id is not known.")
            self.out.note(f"See 'cbdeploy builds --region {region}{flags}' "
                          "and stop it if it runs.")
            return
        noun = _noun(e.batch)
        if e.stop_requested and e.waited is not None:
            self.out.warn(
                f"{noun} {e.build_id} was asked to stop and had not ended after "
                f"{format_duration(e.waited)}; it may still be running."
            )
        elif e.stop_requested:
            self.out.warn(
                f"Detached. {noun} {e.build_id} was asked to stop and may still be running."
            )
        elif e.interrupted:
            self.out.warn(f"Detached. {noun} {e.build_id} keeps running.")
        else:
            self.out.ok(f"{noun} {e.build_id} is running (detached)")
        if self.place.ends_with_us:
            # No command can reach it later: it ends with this process.
            self.out.note(
                "With --local the emulator lives in this process: the build ends with it. "
                "Start 'cbdeploy emulator' in another terminal to keep builds running."
            )
            return
        for label, command in reattach_commands(e.build_id, region, flags):
            self.out.print(Text.assemble(f"  {label + ':':<11}", (command, "cyan")))

    # ------------------------------------------------------------------ the end

    def outcome(self, outcome: BuildOutcome) -> None:
        """The last lines: result, duration, and on failure what failed and why.

        At a live terminal the phases' lines are on the screen just above: the
        "Phases:" block lists only those that were not. A log (plain, CI, a
        file) keeps the whole block: its end is what a reader looks at first.
        """
        shown = self.log.shown if self.console.is_interactive else ()
        outcome_lines(self.out, outcome, self.place, noun=self.noun, log_hint=self.log_hint,
                      shown=shown)

    def batch_outcome(self, outcome: BatchOutcome) -> None:
        """A batch's last lines: the services' table, what failed first, the result."""
        batch_outcome_lines(self.out, outcome, self.place, noun=self.noun,
                            log_hint=self.log_hint)

    def still_running(self, outcome: BuildOutcome) -> None:
        self.close()
        self.out.print()
        self.out.note(f"Build {outcome.build_id} is still running. Follow it with:")
        self.out.print(
            Text(
                f"  cbdeploy logs {outcome.build_id} --follow --region {outcome.region}"
                f"{self.place.flags}",
                style="cyan",
            )
        )

    def interrupted_before_start(self) -> None:
        self.out.print()
        self.out.warn("Interrupted before the build started; nothing was deployed.")


def _noun(batch: bool) -> str:
    return "Batch" if batch else "Build"


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
