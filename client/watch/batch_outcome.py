"""What a followed batch came to: each service's outcome, the batch's status, one exit code.

:class:`BatchTracker` feeds each service's events to that service's own
:class:`~cbdeploy.client.watch.outcome.OutcomeTracker` (the single build's, as
it is) and ends with a :class:`BatchOutcome`. A service is a build-graph task;
its name is its build's ``CBDEPLOY_SERVICE`` variable, else the task's
identifier, so following a batch needs nothing kept on this machine.

With CodeBuild's fast-fail one failed build stops the others: the outcome
names the service that failed first (:attr:`BatchOutcome.first_failed`) and
marks the others ``stopped_by="fast-fail"``, not as failures of their own.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cbdeploy.client.watch.events import (
    BatchAttached,
    BatchEvent,
    BatchFinished,
    ServiceEvent,
    ServiceStarted,
    assert_never,
)
from cbdeploy.client.watch.outcome import (
    EXIT_FAILED,
    EXIT_SUCCEEDED,
    EXIT_UNKNOWN,
    UNKNOWN,
    BuildOutcome,
    OutcomeTracker,
    summary,
)
from cbdeploy.client.watch.phases import phase_seconds
from cbdeploy.client.watch.signals import exit_code as signal_exit_code
from cbdeploy.client.watch.signals import signal_name

if TYPE_CHECKING:
    from cbdeploy.client.aws.results import Build, BuildBatch, Phase

SOURCE_GROUP = "DOWNLOAD_SOURCE"  # CodeBuild's first group: reads the batch section, no service
SERVICE_VARIABLE = "CBDEPLOY_SERVICE"
FAILURES = frozenset({"FAILED", "FAULT", "TIMED_OUT"})
# A batch's last phase is named after its outcome and never ends.
ENDS = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "TIMED_OUT", "FAULT"})


def service_name(build: Build, identifier: str) -> str:
    """The service a build of the batch deploys: ``CBDEPLOY_SERVICE``, else its task's id."""
    return dict(build.environment).get(SERVICE_VARIABLE) or identifier


@dataclass(frozen=True)
class ServiceOutcome:
    """One service of the batch: its build's outcome, or None when its build never started."""

    service: str
    identifier: str
    outcome: BuildOutcome | None
    status: str | None  # the build's; None: never started (a dependency failed, a stop)
    # Why a STOPPED build stopped, when it was not its own doing: "fast-fail" (another
    # service failed and CodeBuild stopped the rest) or "stop" (the batch was stopped).
    stopped_by: str | None = None


@dataclass(frozen=True)
class BatchOutcome:
    """The end of one followed batch, as data."""

    batch_id: str
    status: str | None  # the batch's: SUCCEEDED, FAILED, STOPPED ...; UNKNOWN: lost
    exit_code: int
    services: tuple[ServiceOutcome, ...] = ()
    first_failed: str | None = None  # the service whose failure failed the batch
    duration: float | None = None
    region: str | None = None
    phases: tuple[Phase, ...] = ()  # the batch's own phases
    failed_phase: str | None = None
    failed_phase_message: str | None = None
    interrupted: bool = False
    detached: bool = False
    signal: int | None = None
    lost: str | None = None  # why the follow gave up (status UNKNOWN)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


class BatchTracker:
    """Feed it every batch event; ask for :meth:`outcome` at the end."""

    def __init__(self, batch: BuildBatch, region: str | None = None) -> None:
        self.batch = batch  # as last seen: the watch sets it on each poll
        self.region = region
        self.finished = False
        self._trackers: dict[str, OutcomeTracker] = {}  # by task identifier
        self._names: dict[str, str] = {}  # task identifier -> service

    def add(self, event: BatchEvent) -> None:
        match event:
            case BatchAttached():
                self.batch = event.batch
            case ServiceStarted():
                self._names[event.identifier] = event.service
                self._trackers.setdefault(
                    event.identifier, OutcomeTracker(event.build, self.region))
            case ServiceEvent():
                identifier = self.identifier(event.service)
                if identifier in self._trackers:
                    self._trackers[identifier].add(event.event)
            case BatchFinished():
                self.batch = event.batch
                self.finished = True
            case _:
                assert_never(event)

    def identifier(self, service: str) -> str:
        return next((i for i, s in self._names.items() if s == service), service)

    def outcome(
        self, *, interrupted: bool = False, detached: bool = False, signum: int | None = None,
        lost: str | None = None, stop_sent: bool = False,
    ) -> BatchOutcome:
        batch = self.batch
        services = [self._service(g.identifier, g.build_status, interrupted, detached, signum)
                    for g in batch.groups if g.identifier != SOURCE_GROUP]
        first = self._first_failed(services)
        services = [_stopped_by(s, first, stop_sent) for s in services]
        statuses = [s.status for s in services]
        unknown = lost is not None and not batch.complete
        status = UNKNOWN if unknown else batch.status or None
        if interrupted:
            code = signal_exit_code(signal.SIGINT if signum is None else signum)
        elif detached:
            code = EXIT_SUCCEEDED
        elif any(s in FAILURES for s in statuses) or (batch.complete and not self._all_ok(statuses)):
            code = EXIT_FAILED
        elif unknown or UNKNOWN in statuses:
            code = EXIT_UNKNOWN
        else:
            code = EXIT_SUCCEEDED if batch.complete and self._all_ok(statuses) else EXIT_FAILED
        # The batch's own failed phase says something only when no service failed.
        failed = None if first is not None or not batch.complete else _failed_phase(batch.phases)
        duration = None
        if batch.start is not None and batch.end is not None:
            duration = (batch.end - batch.start).total_seconds()
        return BatchOutcome(
            batch_id=batch.id, status=status, exit_code=code, services=tuple(services),
            first_failed=first, duration=duration, region=self.region, phases=batch.phases,
            failed_phase=failed[0] if failed else None,
            failed_phase_message=failed[1] if failed else None,
            interrupted=interrupted, detached=detached,
            signal=(signal.SIGINT if signum is None else signum) if interrupted else None,
            lost=lost if unknown else None,
        )

    def _all_ok(self, statuses: list[str | None]) -> bool:
        return self.batch.status == "SUCCEEDED" and all(s == "SUCCEEDED" for s in statuses)

    def _service(self, identifier: str, seen: str | None, interrupted: bool, detached: bool,
                 signum: int | None) -> ServiceOutcome:
        name = self._names.get(identifier, identifier)
        tracker = self._trackers.get(identifier)
        if tracker is None:
            return ServiceOutcome(name, identifier, None, seen)
        running = not tracker.build.complete
        outcome = tracker.outcome(interrupted=interrupted and running,
                                  detached=detached and running, signum=signum)
        return ServiceOutcome(name, identifier, outcome, outcome.status)

    def _first_failed(self, services: list[ServiceOutcome]) -> str | None:
        """The service that failed first (by its build's end), of those that failed."""
        never = datetime.max.replace(tzinfo=timezone.utc)

        def ended(s: ServiceOutcome) -> datetime:
            tracker = self._trackers.get(s.identifier)
            end = tracker.build.end if tracker is not None else None
            return end if end is not None else never

        failed = [s for s in services if s.status in FAILURES]
        return min(failed, key=ended).service if failed else None


def _stopped_by(s: ServiceOutcome, first: str | None, stop_sent: bool) -> ServiceOutcome:
    if s.status != "STOPPED":
        return s
    cause = "stop" if stop_sent else "fast-fail" if first is not None else None
    return ServiceOutcome(s.service, s.identifier, s.outcome, s.status, cause)


def _failed_phase(phases: tuple[Phase, ...]) -> tuple[str, str | None] | None:
    for phase in phases:
        if phase.status not in (None, "SUCCEEDED"):
            messages = [m for _, m in phase.contexts if m]
            return phase.name, "; ".join(messages) or None
    return None


def batch_summary(outcome: BatchOutcome) -> dict[str, Any]:
    """The batch's part of the ``--json`` object: ``services`` holds each service's build
    object (today's single-build keys, plus ``identifier``, ``started`` and ``stoppedBy``)."""
    services: dict[str, Any] = {}
    for s in outcome.services:
        build = s.outcome or BuildOutcome(None, s.status, EXIT_FAILED, region=outcome.region)
        services[s.service] = summary(build, identifier=s.identifier,
                                      started=s.outcome is not None, stoppedBy=s.stopped_by)
    return {
        "batchId": outcome.batch_id,
        "status": outcome.status,
        "exitCode": outcome.exit_code,
        "durationSeconds": outcome.duration,
        "firstFailedService": outcome.first_failed,
        "failedPhase": outcome.failed_phase,
        "failedPhaseMessage": outcome.failed_phase_message,
        "interrupted": outcome.interrupted,
        "signal": signal_name(outcome.signal),
        "detached": outcome.detached,
        "region": outcome.region,
        "phases": [
            {"name": p.name, "status": p.status, "durationSeconds": phase_seconds(p)}
            for p in outcome.phases
            if p.status is not None or p.name not in ENDS  # (the end, not a phase)
        ],
        "services": services,
    }
