"""The ``--json`` object: what a deploy (or a followed build) came to, as data.

:class:`ReportCollector` watches the same events the renderer shows (the
deploy's and the follower's) and, with the final
:class:`~client.outcome.BuildOutcome` or the error that ended the command,
builds one dict with stable camelCase keys. Every ending gives the same keys:
what is not known (no build started, no archive built) is ``None``.

:func:`json_result` is the CLI edge of ``--json``: it wraps a command so that
exactly one object reaches stdout however the command ends (success, failed
build, an error before anything started, Ctrl-C, even a bug).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from client import deploy_events as d
from client.errors import BuildConflictError, CbdeployError
from client.links import build_console_url
from client.outcome import EXIT_INTERRUPTED, BuildOutcome, summary

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
                local: bool = False) -> None:
        """What the command line said, known before any event (and kept if none comes)."""
        if stage:
            self._target["stage"] = stage
        self._region = region or self._region
        self._local = local

    def handle(self, event: object) -> None:
        if isinstance(event, d.DeployStarting):
            self._target.update(stage=event.stage, app=event.app, project=event.project,
                                account=getattr(event, "account", None) or None)
            self._region, self._local = event.region, event.local
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
        elif isinstance(error, KeyboardInterrupt):
            self._error = {"error": INTERRUPTED_BEFORE_START if self._build_id is None
                           else "Interrupted.", "hint": None, "exitCode": EXIT_INTERRUPTED,
                           "interrupted": True}
        elif isinstance(error, SystemExit):
            self.exited(error.code if isinstance(error.code, int) else 1)
        else:  # a bug: the CLI reports it the same way
            self._error = {"error": f"internal error: {type(error).__name__}: {error}",
                           "hint": None, "exitCode": 1}

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
        )
        data = summary(outcome)
        # The process's status: an error's, else the one the command exited with.
        if "exitCode" in error:
            data["exitCode"] = error["exitCode"]
        elif self._exit_code is not None:
            data["exitCode"] = self._exit_code
        data["consoleUrl"] = (
            build_console_url(outcome.region, outcome.build_id)
            if outcome.build_id and outcome.region and not self._local
            else None
        )
        data["local"] = self._local
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
        data["hint"] = error.get("hint")
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
