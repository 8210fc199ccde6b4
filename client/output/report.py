"""The ``--json`` object: what a deploy (or a followed build) came to, as data.

:class:`ReportCollector` watches the same events the renderer shows (the
deploy's and the follower's) and, with the final
:class:`~client.watch.outcome.BuildOutcome` or the error that ended the command,
builds one dict with stable camelCase keys. Every ending gives the same keys:
what is not known (no build started, no archive built) is ``None``.

:func:`json_result` is the CLI edge of ``--json``: it wraps a command so that
exactly one object reaches stdout however the command ends (success, failed
build, an error before anything started, Ctrl-C, even a bug).

:func:`markdown_summary` gives the same object as Markdown, for a CI's step
summary.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from cbdeploy.client.aws.links import build_console_url
from cbdeploy.client.deploy import events as d
from cbdeploy.client.errors import BuildConflictError, CbdeployError
from cbdeploy.client.output.text import compact
from cbdeploy.client.output.text import format_duration as duration
from cbdeploy.client.watch.outcome import UNKNOWN, BuildOutcome, lost_message, summary
from cbdeploy.client.watch.signals import exit_code, signal_of

F = TypeVar("F", bound=Callable[..., Any])

INTERRUPTED_BEFORE_START = "Interrupted before the build started; nothing was deployed."


class ReportCollector:
    """Feed it every event (``handle``), then the end (``finish`` or ``fail``); ask ``report()``.

    ``deploy=False`` (``logs``) leaves out what only a deploy has: the target,
    the archive and the upload. ``clock`` times the whole command.
    """

    def __init__(self, *, deploy: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self._deploy = deploy
        self._clock = clock
        self._began = clock()
        self._target: dict[str, Any] = {
            "stage": None, "app": None, "project": None, "account": None,
        }
        self._region: str | None = None
        self._local = False
        self._endpoint: str | None = None  # None: AWS itself
        self._flags = ""  # what a printed command needs to reach the endpoint (--local)
        self._archive: dict[str, Any] | None = None
        self._upload: dict[str, Any] | None = None
        self._packaging_seconds: float | None = None
        self._upload_seconds: float | None = None
        self._build_id: str | None = None
        self._outcome: BuildOutcome | None = None
        self._error: dict[str, Any] | None = None
        self._exit_code: int | None = None  # the process's, once the command ended

    # ------------------------------------------------------------------ input

    def context(self, *, stage: str | None = None, region: str | None = None,
                local: bool = False, build_id: str | None = None) -> None:
        """What the command line said, known before any event (and kept if none comes)."""
        if stage:
            self._target["stage"] = stage
        self._build_id = build_id or self._build_id
        self._region = region or self._region
        self._local = local

    def handle(self, event: object) -> None:
        if isinstance(event, d.DeployStarting):
            self._target.update(stage=event.stage, app=event.app, project=event.project,
                                account=event.account or None)
            self._region, self._local = event.region, event.local
            self._endpoint, self._flags = event.endpoint.url, event.endpoint.flags
        elif isinstance(event, d.Attached):
            self._region, self._local = event.region, event.local
            self._endpoint, self._flags = event.endpoint.url, event.endpoint.flags
        elif isinstance(event, d.ArchiveBuilt):
            a = event.archive
            self._archive = {"sizeBytes": a.size, "sha256": a.sha256, "fileCount": a.file_count}
            self._packaging_seconds = event.seconds
        elif isinstance(event, d.UploadDone):
            r = event.result
            self._upload = {"skipped": r.skipped, "bucket": r.bucket, "key": r.key,
                            "seconds": _rounded(event.seconds)}
            self._upload_seconds = event.seconds
        elif isinstance(event, d.BuildStarted):
            self._build_id = event.build.id
            self._region, self._local = event.region, event.local

    def tee(self, sink: Callable[[object], None]) -> Callable[[object], None]:
        """An event sink that feeds this collector, then ``sink`` (the renderer)."""

        def both(event: object) -> None:
            self.handle(event)
            sink(event)

        return both

    def finish(self, outcome: BuildOutcome) -> None:
        """The command ran to its end: this is what the build came to."""
        self._outcome = outcome
        if outcome.build_id:
            self._build_id = outcome.build_id
        self._region = outcome.region or self._region

    def fail(self, error: BaseException) -> None:
        """The command ends with ``error`` (the first one counts; an ``Exit`` only says its code)."""
        if self._error is not None:
            return
        if isinstance(error, click.exceptions.Exit):
            self.exited(error.exit_code)
        elif isinstance(error, CbdeployError):
            self._error = {"error": error.message, "hint": error.hint,
                           "exitCode": error.exit_code}
            if isinstance(error, BuildConflictError) and error.running_build_id:
                self._error["runningBuildId"] = error.running_build_id
        elif isinstance(error, KeyboardInterrupt):  # (Ctrl-C, or another signal: its number)
            self._error = {"error": INTERRUPTED_BEFORE_START if self._build_id is None
                           else "Interrupted.", "hint": None,
                           "exitCode": exit_code(signal_of(error)), "interrupted": True,
                           "signal": signal_of(error)}
        elif isinstance(error, SystemExit):
            self.exited(error.code if isinstance(error.code, int) else 1)
        else:  # a bug: the CLI reports it the same way
            self._error = {"error": f"internal error: {type(error).__name__}: {error}",
                           "hint": None, "exitCode": 1}

    @property
    def failed(self) -> bool:
        """Whether an error (not a plain exit) has been recorded."""
        return self._error is not None

    def exited(self, code: int) -> None:
        """The process's exit status, where the command chose it (``logs`` of a failed build: 0)."""
        self._exit_code = code

    # ------------------------------------------------------------------ output

    def report(self) -> dict[str, Any]:
        """The ``--json`` object, as of now."""
        error = self._error or {}
        outcome = self._outcome or BuildOutcome(
            build_id=self._build_id,
            status=None,
            exit_code=self._exit_code if self._exit_code is not None else 1,
            interrupted=bool(error.get("interrupted")),
            region=self._region,
            signal=error.get("signal"),
        )
        data = summary(outcome)
        # The process's status: an error's, else the one the command exited with.
        if "exitCode" in error:
            data["exitCode"] = error["exitCode"]
        elif self._exit_code is not None:
            data["exitCode"] = self._exit_code
        data["consoleUrl"] = (
            build_console_url(outcome.region, outcome.build_id)
            if outcome.build_id and outcome.region and not self._local and self._endpoint is None
            else None
        )
        data["local"] = self._local
        data["endpoint"] = self._endpoint
        timings: dict[str, Any] = {}
        if self._deploy:
            data.update(self._target)
            data["archive"] = self._archive
            data["upload"] = self._upload
            timings["packagingSeconds"] = _rounded(self._packaging_seconds)
            timings["uploadSeconds"] = _rounded(self._upload_seconds)
        timings["totalSeconds"] = _rounded(self._clock() - self._began)
        data["timings"] = timings
        data["error"] = error.get("error")
        data["hint"] = error.get("hint") or data.get("hint")  # an error's, else the build's
        if outcome.status == UNKNOWN and not error:
            # The follow lost the build (exit 3): say why, and how to find it again.
            data["error"], data["hint"] = lost_message(outcome, self._flags)
        if "runningBuildId" in error:
            data["runningBuildId"] = error["runningBuildId"]
        return data


def json_result(*, deploy: bool = True) -> Callable[[F], F]:
    """Give a click command a ``report: ReportCollector`` and, with ``--json``, its one object.

    Put it above ``aws_options()`` so that a bad ``--stage`` or ``--region``
    also ends in an object. The command's ``as_json`` parameter says whether
    ``--json`` was given; the command feeds the collector its events and its
    outcome, and this writes the object when the command ends, however it ends.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            report = ReportCollector(deploy=deploy)
            kwargs["report"] = report
            if not kwargs.get("as_json"):
                return func(*args, **kwargs)
            try:
                result = func(*args, **kwargs)
                report.exited(0)
                return result
            except BaseException as error:
                report.fail(error)
                raise
            finally:
                click.echo(json.dumps(report.report()))

        return wrapper  # type: ignore[return-value]

    return decorate


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


# ---------------------------------------------------------------------- as Markdown

# Marks that start inline Markdown (emphasis, code, links, images, tables, HTML,
# strikethrough); a backslash makes each literal. "#", "-", "+" and "1." only
# matter at the start of a line.
_MD_INLINE = frozenset("\\`*_[]|!~")
_MD_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_MD_LINE_START = re.compile(r"^(\d*)([#+=.)-])")


def md(value: Any) -> str:
    """Untrusted text as literal Markdown on one line (outputs, messages, step names)."""
    text = value if isinstance(value, str) else compact(value)
    text = " ".join(text.splitlines())
    escaped = "".join(
        _MD_HTML.get(char) or ("\\" + char if char in _MD_INLINE else char) for char in text
    )
    return _MD_LINE_START.sub(r"\1\\\2", escaped, count=1)


def _status_icon(status: str | None) -> str:
    if status in ("SUCCEEDED", "ok"):
        return "✅ "
    if status is None or status in ("IN_PROGRESS", "running"):
        return "⏳ "
    return "❌ "


def markdown_summary(report: Mapping[str, Any], *, command: str = "deploy") -> str:
    """The object as Markdown, for a CI's step summary: headline, build, phases, steps, outputs.

    ``report`` is :meth:`ReportCollector.report`'s; every text the build or the
    user wrote goes through :func:`md`.
    """
    lines: list[str] = []
    status = report.get("status")
    if report.get("error") and not status:
        lines.append(f"### ❌ cbdeploy {command}: error")
        lines += ["", md(report["error"])]
        if report.get("hint"):
            lines += ["", md(report["hint"])]
    else:
        took = duration(report.get("durationSeconds"))
        headline = (status or "ended").lower().replace("_", " ")
        icon = _status_icon(status).strip()
        lines.append(f"### {icon} cbdeploy {command} {headline} ({took})")
    about = []
    if report.get("buildId"):
        build = md(report["buildId"])
        if report.get("consoleUrl"):
            about.append(f"Build [{build}]({report['consoleUrl']})")
        elif report.get("local"):
            about.append(f"Build {build} (local emulator)")
        elif report.get("endpoint"):
            about.append(f"Build {build} (endpoint {md(report['endpoint'])})")
        else:
            about.append(f"Build {build}")
    for key in ("stage", "region"):
        if report.get(key):
            about.append(f"{key} {md(report[key])}")
    if about:
        lines += ["", " · ".join(about)]
    if report.get("failedStep") or report.get("failedPhase"):
        what = []
        if report.get("failedPhase"):
            what.append(f"phase {md(report['failedPhase'])}")
        if report.get("failedStep"):
            code = report.get("failedStepExitCode")
            what.append(f"step {md(report['failedStep'])}"
                        + (f" (exit {code})" if code is not None else ""))
        failed = "Failed in " + ", ".join(what)
        if report.get("failedPhaseMessage") and not report.get("failedStep"):
            failed += ": " + md(report["failedPhaseMessage"])
        lines += ["", failed]
    if report.get("phases"):
        lines += ["", "| Phase | Status | Duration |", "| --- | --- | --- |"]
        for phase in report["phases"]:
            if phase["name"] == "COMPLETED":
                continue  # the build's end, not a phase with a duration
            lines.append(
                f"| {md(phase['name'])} | {_status_icon(phase['status'])}"
                f"{md(phase['status'] or 'IN_PROGRESS')} | "
                f"{duration(phase['durationSeconds'])} |"
            )
    if report.get("steps"):
        lines += ["", "| Step | Status | Duration | Exit code |", "| --- | --- | --- | --- |"]
        for step in report["steps"]:
            code = step["exitCode"]
            lines.append(
                f"| {md(step['name'])} | {_status_icon(step['status'])}{md(step['status'])} | "
                f"{duration(step['durationSeconds'])} | "
                f"{'' if code is None else code} |"
            )
    if report.get("outputs"):
        lines += ["", "| Output | Value |", "| --- | --- |"]
        for key, value in report["outputs"].items():
            lines.append(f"| {md(str(key))} | {md(value)} |")
    return "\n".join(lines) + "\n\n"
