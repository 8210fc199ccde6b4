"""What a followed build came to: status, exit code, failing phase and step, outputs.

:class:`OutcomeTracker` watches the follower's events and builds the
:class:`BuildOutcome` that the renderer prints and ``--json`` serialises.
Shared by ``deploy`` and ``logs --follow``.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cbdeploy.client.aws.results import Phase
from cbdeploy.client.watch.events import (
    BuildFinished,
    ContactLost,
    ContactRestored,
    FollowEvent,
    FollowLost,
    LogLine,
    MarkerEvent,
    PhaseChanged,
    Quiet,
    StillRunning,
    assert_never,
)
from cbdeploy.client.watch.phases import phase_seconds
from cbdeploy.client.watch.signals import exit_code as signal_exit_code
from cbdeploy.client.watch.signals import signal_name

if TYPE_CHECKING:
    from cbdeploy.client.aws.results import Build

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_UNKNOWN = 3  # the follow lost the build: it was started, its outcome is not known
EXIT_INTERRUPTED = 130  # Ctrl-C; any signal's status is client.watch.signals.exit_code
UNKNOWN = "UNKNOWN"  # the status of a build whose follow was lost
# What docker prints when no daemon answers: on CodeBuild, a project without privileged mode.
NO_DOCKER_DAEMON = "Cannot connect to the Docker daemon"
NO_DOCKER_HINT = (
    "The build could not reach a Docker daemon: declare the image in cbdeploy.toml "
    "([images.<name>], which cbdeploy builds and pushes) or set codebuild.privilegedMode = true."
)


@dataclass(frozen=True)
class StepResult:
    """One pipeline step as the runner's markers told it."""

    name: str
    # "ok", "failed", "stopped" (the build was stopped while it ran), or
    # "running" (no step-end seen: cut off)
    status: str
    duration: float | None = None  # seconds, the runner's own measure
    exit_code: int | None = None
    index: int | None = None  # 1-based position in the pipeline
    total: int | None = None


@dataclass(frozen=True)
class BuildOutcome:
    """The end of one deploy or follow, as data."""

    build_id: str | None
    # SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED, IN_PROGRESS; UNKNOWN: the follow
    # lost the build (see ``lost``); None: no build.
    status: str | None
    exit_code: int
    duration: float | None = None  # seconds, from the build's own start and end
    outputs: Mapping[str, Any] = field(default_factory=dict)
    failed_phase: str | None = None
    failed_phase_status: str | None = None
    failed_phase_message: str | None = None
    failed_step: str | None = None
    failed_step_exit: int | None = None
    interrupted: bool = False  # a signal: the build was asked to stop, or left running
    detached: bool = False  # we left without waiting for the end
    region: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    phases: tuple[Phase, ...] = ()  # CodeBuild's phases as last seen, durations included
    steps: tuple[StepResult, ...] = ()  # pipeline steps in the order they started
    lost: str | None = None  # why the follow gave up (status UNKNOWN)
    vanished: bool = False  # ... because the endpoint no longer knows the build
    signal: int | None = None  # the signal that interrupted (SIGINT for Ctrl-C)
    hint: str | None = None  # what to do about a failure the log explains (no Docker daemon)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def failed_phase(build: Build) -> tuple[str, str, str | None] | None:
    """(phase, status, context message) of the first phase that did not succeed."""
    for phase in build.phases:
        if phase.status not in (None, "SUCCEEDED"):
            messages = [m for _, m in phase.contexts if m]
            return phase.name, phase.status, "; ".join(messages) or None
    return None


def exit_code_for(status: str | None) -> int:
    return EXIT_SUCCEEDED if status == "SUCCEEDED" else EXIT_FAILED


class OutcomeTracker:
    """Feed it every follow event; ask for :meth:`outcome` at the end."""

    def __init__(self, build: Build, region: str | None = None) -> None:
        self.build = build
        self.region = region
        self.outputs: dict[str, Any] = {}
        self.failed_step: str | None = None
        self.failed_step_exit: int | None = None
        self.finished = False
        self.lost: FollowLost | None = None
        self._steps: dict[str, StepResult] = {}  # by name, in start order
        self._no_docker = False

    def add(self, event: FollowEvent) -> None:
        match event:
            case BuildFinished():
                self.build = event.build
                self.finished = True
            case PhaseChanged():
                self.build = event.build
            case FollowLost():
                self.build = event.build
                self.lost = event
            case LogLine():
                if NO_DOCKER_DAEMON in event.message:
                    self._no_docker = True
            case MarkerEvent():
                self._marker(event.marker.event, event.marker.data)
            case ContactLost() | ContactRestored() | StillRunning() | Quiet():
                pass  # (the follow goes on: nothing about the build itself)
            case _:
                assert_never(event)

    def _marker(self, name: str, data: Mapping[str, Any]) -> None:
        if name == "outputs" and isinstance(data.get("outputs"), Mapping):
            self.outputs = dict(data["outputs"])
        elif name == "step-start":
            step = str(data.get("step"))
            self._steps[step] = StepResult(
                step, "running", index=_int(data.get("index")), total=_int(data.get("total"))
            )
        elif name == "step-end":
            step = str(data.get("step"))
            began = self._steps.get(step)
            self._steps[step] = StepResult(
                step,
                str(data.get("status") or "failed"),
                duration=_float(data.get("duration")),
                exit_code=_int(data.get("exitCode")),
                index=began.index if began else None,
                total=began.total if began else None,
            )
            if data.get("status") == "failed":
                self.failed_step = step
                self.failed_step_exit = _int(data.get("exitCode"))
        elif name == "pipeline-end" and data.get("failedStep"):
            self.failed_step = str(data["failedStep"])
            self.failed_step_exit = _int(data.get("exitCode"))

    def outcome(
        self, *, interrupted: bool = False, detached: bool = False, signum: int | None = None
    ) -> BuildOutcome:
        """``signum``: the signal behind ``interrupted`` (None: SIGINT, a Ctrl-C)."""
        build = self.build
        failed = failed_phase(build) if build.complete else None
        # Lost before the end: whatever the last poll said, the outcome is unknown.
        unknown = self.lost is not None and not build.complete and not detached
        status = UNKNOWN if unknown else build.status or None
        if interrupted:
            signum = signal.SIGINT if signum is None else signum
            code = signal_exit_code(signum)
        elif detached:
            code = EXIT_SUCCEEDED
        elif unknown:
            code = EXIT_UNKNOWN
        else:
            code = exit_code_for(build.status)
        duration = None
        if build.start is not None and build.end is not None:
            duration = (build.end - build.start).total_seconds()
        return BuildOutcome(
            build_id=build.id,
            status=status,
            exit_code=code,
            duration=duration,
            outputs=self.outputs,
            failed_phase=failed[0] if failed else None,
            failed_phase_status=failed[1] if failed else None,
            failed_phase_message=failed[2] if failed else None,
            failed_step=self.failed_step if status != "SUCCEEDED" else None,
            failed_step_exit=self.failed_step_exit if status != "SUCCEEDED" else None,
            interrupted=interrupted,
            detached=detached,
            region=self.region,
            log_group=build.log_group,
            log_stream=build.log_stream,
            phases=build.phases,
            steps=self._final_steps(build.status),
            lost=self.lost.reason if unknown and self.lost is not None else None,
            vanished=unknown and self.lost is not None and self.lost.vanished,
            signal=signum if interrupted else None,
            hint=NO_DOCKER_HINT if self._no_docker and status != "SUCCEEDED" else None,
        )

    def _final_steps(self, status: str | None) -> tuple[StepResult, ...]:
        steps = tuple(self._steps.values())
        if status != "STOPPED":
            return steps
        # A build stopped with no word from the runner on its step (the
        # container went first): that step was stopped, not cut off.
        return tuple(
            StepResult(s.name, "stopped", s.duration, s.exit_code, s.index, s.total)
            if s.status == "running" else s
            for s in steps
        )


def summary(outcome: BuildOutcome, **extra: Any) -> dict[str, Any]:
    """The build's part of the ``--json`` object: stable camelCase keys, None where unknown.

    ``phases`` are CodeBuild's as last seen (``durationSeconds`` from their
    start and end times, else CodeBuild's whole seconds); ``steps`` are the
    pipeline's, in the order they started.
    ``client.output.report`` adds what the deploy itself knows (archive, upload, timings).
    """
    data: dict[str, Any] = {
        "buildId": outcome.build_id,
        "status": outcome.status,
        "exitCode": outcome.exit_code,
        "durationSeconds": outcome.duration,
        "outputs": dict(outcome.outputs),
        "failedPhase": outcome.failed_phase,
        "failedPhaseStatus": outcome.failed_phase_status,
        "failedPhaseMessage": outcome.failed_phase_message,
        "failedStep": outcome.failed_step,
        "failedStepExitCode": outcome.failed_step_exit,
        "interrupted": outcome.interrupted,
        "signal": signal_name(outcome.signal),
        "detached": outcome.detached,
        "region": outcome.region,
        "logGroup": outcome.log_group,
        "logStream": outcome.log_stream,
        "hint": outcome.hint,
        "phases": [
            {"name": p.name, "status": p.status, "durationSeconds": _rounded(phase_seconds(p))}
            for p in outcome.phases
        ],
        "steps": [
            {"name": s.name, "status": s.status, "durationSeconds": s.duration,
             "exitCode": s.exit_code}
            for s in outcome.steps
        ],
    }
    data.update(extra)
    return data


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def lost_message(outcome: BuildOutcome, flags: str = "") -> tuple[str, str | None]:
    """(message, hint) for a build whose follow was lost (status UNKNOWN): exit 3.

    ``flags``: what the printed commands need to reach the endpoint again (`` --local``).
    """
    build_id, region = outcome.build_id, outcome.region
    if outcome.vanished:
        return (
            f"Outcome unknown: build {build_id} was started, but the endpoint does not "
            "know it any more, so what became of it cannot be told.",
            "An emulator forgets its builds when it restarts; deploy again to run a new build.",
        )
    where = (f" --region {region}" if region else "") + flags
    return (
        f"Outcome unknown: build {build_id} was started, but cbdeploy lost contact with it "
        f"({outcome.lost}).",
        f"Re-attach with 'cbdeploy logs {build_id} --follow{where}', or stop it with "
        f"'cbdeploy stop {build_id}{where}'.",
    )
