"""The ``--json`` object: what a deploy (or a followed build) came to, as data.

:class:`ReportCollector` watches the same events the renderer shows (the
deploy's and the follower's) and, with the final
:class:`~client.watch.outcome.BuildOutcome` or the error that ended the command,
builds one dict with stable camelCase keys. Every ending gives the same keys:
what is not known (no build started, no archive built) is ``None``.

The output session (``client.output.session``) owns one and writes its
object to stdout with ``--json``, however the command ends (success, failed
build, an error before anything started, Ctrl-C, even a bug).
``client.output.markdown`` gives the same object as Markdown, for a CI's step
summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cbdeploy.client.aws.links import batch_console_url, build_console_url
from cbdeploy.client.deploy import events as d
from cbdeploy.client.errors import BuildConflictError, CbdeployError
from cbdeploy.client.output.place import Place
from cbdeploy.client.watch import events as f
from cbdeploy.client.watch import events as w
from cbdeploy.client.watch.batch_outcome import BatchOutcome, batch_summary
from cbdeploy.client.watch.outcome import UNKNOWN, BuildOutcome, lost_message, summary
from cbdeploy.client.watch.signals import exit_code, signal_of

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
            "stage": None, "app": None, "project": None, "account": None, "config": None,
        }
        self._region: str | None = None
        self._local = False
        self._endpoint: str | None = None  # None: AWS itself
        self._flags = ""  # what a printed command needs to reach the endpoint (--local)
        self._archive: dict[str, Any] | None = None
        # A workspace deploy's services with their reasons; None: not a workspace deploy.
        self._selection: list[dict[str, Any]] | None = None
        self._since: list[dict[str, Any]] | None = None  # --affected: what changes count from
        self._upload: dict[str, Any] | None = None
        self._packaging_seconds: float | None = None
        self._upload_seconds: float | None = None
        self._build_id: str | None = None
        self._outcome: BuildOutcome | None = None
        self._batch: BatchOutcome | None = None
        self._launched: dict[str, Any] | None = None  # a workspace's batch: its id and services
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

    def name_build(self, build_id: str) -> None:
        """The build the command means, resolved after the AWS door opened."""
        self._build_id = build_id

    def locate(self, place: Place) -> None:
        """Where the build runs, once the AWS door is open."""
        self._region, self._local = place.region or self._region, place.local
        self._endpoint, self._flags = place.endpoint.url, place.flags

    def handle(self, event: d.Event) -> None:
        match event:
            case d.DeployStarting():
                self._target.update(stage=event.stage, app=event.app, project=event.project,
                                    account=event.account or None, config=event.config or None)
            case d.ServicesSelected():
                choice = event.choice
                self._selection = [{"service": p.service.name, "reasons": list(p.reasons)}
                                   for p in choice.picked]
                if choice.affected:
                    self._since = [{"since": label, "services": list(names)}
                                   for label, names in choice.since]
            case d.ArchiveBuilt():
                a = event.archive
                self._archive = {"sizeBytes": a.size, "sha256": a.sha256,
                                 "fileCount": a.file_count}
                self._packaging_seconds = event.seconds
            case d.UploadDone():
                r = event.result
                self._upload = {"skipped": r.skipped, "bucket": r.bucket, "key": r.key,
                                "seconds": _rounded(event.seconds), "kind": r.kind,
                                "bytes": event.size, "baseKey": r.base_key}
                self._upload_seconds = event.seconds
            case d.BuildStarted():
                self._build_id = event.build.id
            case d.BatchStarted():
                self._build_id = event.batch.id
                self._launched = {"batchId": event.batch.id, "fastFail": event.fast_fail,
                               "services": {s: {"identifier": i} for s, i in event.services}}
            case (w.Attached() | d.FilesSelected() | d.FilesHashed() | d.PackagingProgress()
                  | d.ConfirmationNeeded()
                  | d.DeployRecorded()
                  | d.BootstrapStep() | d.BootstrapDone() | d.UploadStarting()
                  | d.UploadProgress() | w.StopScheduled() | w.StopRequested() | w.StopFailed()
                  | w.Detached()):
                pass  # (the outcome and the timings say what the object needs of these)
            case (f.PhaseChanged() | f.LogLine() | f.MarkerEvent() | f.BuildFinished()
                  | f.ContactLost() | f.ContactRestored() | f.FollowLost() | f.StillRunning()
                  | f.Quiet()):
                pass  # (the follow's events reach the object through the outcome)
            case w.BatchAttached() | w.ServiceStarted() | w.ServiceEvent() | w.BatchFinished():
                pass  # (a batch's reach it through the batch's outcome)
            case _:
                w.assert_never(event)

    def tee(self, sink: d.EventSink) -> d.EventSink:
        """An event sink that feeds this collector, then ``sink`` (the renderer)."""

        def both(event: d.Event) -> None:
            self.handle(event)
            sink(event)

        return both

    def finish(self, outcome: BuildOutcome) -> None:
        """The command ran to its end: this is what the build came to."""
        self._outcome = outcome
        if outcome.build_id:
            self._build_id = outcome.build_id
        self._region = outcome.region or self._region

    def finish_batch(self, outcome: BatchOutcome) -> None:
        """The command ran to its end: this is what the batch came to."""
        self._batch = outcome
        # buildId is the batch's id too: a script that passes it to 'cbdeploy logs' or
        # 'cbdeploy stop' reaches the batch.
        self._outcome = BuildOutcome(
            outcome.batch_id, outcome.status, outcome.exit_code, duration=outcome.duration,
            interrupted=outcome.interrupted, detached=outcome.detached,
            region=outcome.region or self._region, signal=outcome.signal,
        )
        self._region = outcome.region or self._region

    def fail(self, error: BaseException) -> None:
        """The command ends with ``error`` (the first one counts; an ``Exit`` only says its code)."""
        if self._error is not None:
            return
        if isinstance(error, CbdeployError):
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
            data["selection"] = self._selection
            data["changesSince"] = self._since
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
        if self._launched is not None:
            data["batch"] = self._launched
        if "runningBuildId" in error:
            data["runningBuildId"] = error["runningBuildId"]
        if self._batch is not None:
            # A batch: its status and phases, and ``services`` with each build's object.
            data.update({k: v for k, v in batch_summary(self._batch).items()
                         if k not in ("exitCode", "interrupted", "signal", "detached")})
            if self._region and not self._local and self._endpoint is None:
                data["consoleUrl"] = batch_console_url(self._region, self._batch.batch_id)
            if self._batch.status == UNKNOWN and not error:
                data["error"] = f"Outcome unknown: lost contact with batch {self._batch.batch_id}."
                data["hint"] = (f"Re-attach with 'cbdeploy logs {self._batch.batch_id} "
                                f"--follow --region {self._region}{self._flags}'.")
        return data


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
