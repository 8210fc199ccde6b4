"""The deploy service's plan and its start-and-follow loop, with a fake AwsClient.

Ctrl-C is a real SIGINT (``signal.raise_signal``) delivered to this process
while the fake is answering, so the installed handler does the counting as it
would for a user; no wall-clock waits (the clock and sleep are fakes).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from client.aws import Build, LogEvent, LogPage
from client.deploy import DeployOptions, DeployPlan, DeployService, start_request
from client.deploy_events import BuildStarted, Detached, StopRequested
from client.errors import AwsError
from client.follow import BuildFinished, LogLine
from client.options import Target
from client.upload import UploadResult

TARGET = Target(stage="dev", region="eu-west-1", profile=None, config_path=None, local=False,
                log_level="info")
BUILD_ID = "cbdeploy-app-dev:7"


def plan(**changes: Any) -> DeployPlan:
    base = DeployPlan(
        app="app", stage="dev", region="eu-west-1", project="cbdeploy-app-dev",
        invocation_id="3f1c-token", needs_confirmation=False, buildspec="version: 0.2\n",
        environment=({"name": "STAGE", "value": "dev", "type": "PLAINTEXT"},
                     {"name": "DB", "value": "/app/db", "type": "PARAMETER_STORE"}),
        compute_type="BUILD_GENERAL1_MEDIUM", image="aws/codebuild/standard:7.0",
        privileged_mode=True, timeout_in_minutes=30, no_cache=False, entries={},
    )
    return replace(base, **changes)


UPLOAD = UploadResult(bucket="cbdeploy-1-eu-west-1", key="sources/app/abc.zip", skipped=False)


def test_start_request_overrides_source_buildspec_environment_and_settings() -> None:
    assert start_request(plan(), UPLOAD) == {
        "projectName": "cbdeploy-app-dev",
        "sourceTypeOverride": "S3",
        "sourceLocationOverride": "cbdeploy-1-eu-west-1/sources/app/abc.zip",
        "buildspecOverride": "version: 0.2\n",
        "environmentVariablesOverride": [
            {"name": "STAGE", "value": "dev", "type": "PLAINTEXT"},
            {"name": "DB", "value": "/app/db", "type": "PARAMETER_STORE"},
        ],
        "computeTypeOverride": "BUILD_GENERAL1_MEDIUM",
        "imageOverride": "aws/codebuild/standard:7.0",
        "privilegedModeOverride": True,
        "timeoutInMinutesOverride": 30,
        "idempotencyToken": "3f1c-token",
    }


def test_no_cache_overrides_the_project_cache() -> None:
    assert start_request(plan(no_cache=True), UPLOAD)["cacheOverride"] == {"type": "NO_CACHE"}


# ----------------------------------------------------------------------------- start and follow


def build(status: str) -> Build:
    return Build(
        id=BUILD_ID, arn="arn", number=7, project="cbdeploy-app-dev", status=status,
        current_phase="BUILD", complete=status != "IN_PROGRESS", start=None, end=None,
        phases=(), log_group="/cbdeploy/app", log_stream="dev/7", initiator=None,
        source_version=None, environment=(), compute_type=None, image=None, exported=(),
    )


@dataclass
class Clock:
    now: float = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeAws:
    """A build that prints a line per second and succeeds at ``ends_at`` unless stopped."""

    clock: Clock
    ends_at: float = 10.0
    region: str = "eu-west-1"
    on_log_call: Callable[[int], None] = lambda n: None
    start_failures: list[Exception] = field(default_factory=list)
    start_requests: list[dict[str, Any]] = field(default_factory=list)
    stops: list[str] = field(default_factory=list)
    stopped_at: float | None = None
    log_calls: int = 0

    def start_build(self, **request: Any) -> Build:
        self.start_requests.append(request)
        if self.start_failures:
            raise self.start_failures.pop(0)
        return build("IN_PROGRESS")

    def stop_build(self, build_id: str) -> Build:
        self.stops.append(build_id)
        self.stopped_at = self.clock.now + 1.0  # CodeBuild takes a moment to stop
        return build("IN_PROGRESS")

    def get_build(self, build_id: str) -> Build:
        if self.stopped_at is not None and self.clock.now >= self.stopped_at:
            return build("STOPPED")
        return build("SUCCEEDED" if self.clock.now >= self.ends_at else "IN_PROGRESS")

    def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
        self.log_calls += 1
        self.on_log_call(self.log_calls)
        end = self.stopped_at if self.stopped_at is not None else self.ends_at
        count = int(min(self.clock.now, end)) + 1
        start = int(token[2:]) if token else 0
        events = [LogEvent(i, f"line {i}", i) for i in range(start, count)]
        return LogPage(events, f"f/{count}")


def run(aws: FakeAws, options: DeployOptions | None = None) -> tuple[Any, list[object]]:
    options = options or DeployOptions()
    events: list[object] = []
    service = DeployService(
        TARGET, options, project_root=Path("."), on_event=events.append,
        confirm=lambda q: True, clock=aws.clock, sleep=aws.clock.sleep,
    )
    outcome = service._start_and_follow(aws, {"projectName": "cbdeploy-app-dev",  # type: ignore[arg-type]
                                              "idempotencyToken": "tok"})
    return outcome, events


def lines(events: list[object]) -> list[str]:
    return [e.message for e in events if isinstance(e, LogLine)]


def test_successful_build_exits_zero_with_every_line() -> None:
    aws = FakeAws(Clock())
    outcome, events = run(aws)
    assert outcome.exit_code == 0 and outcome.status == "SUCCEEDED"
    assert lines(events) == [f"line {i}" for i in range(11)]
    assert isinstance(events[0], BuildStarted)
    assert isinstance(events[-1], BuildFinished)


def test_first_ctrl_c_stops_the_build_and_follows_until_stopped() -> None:
    aws = FakeAws(Clock(), ends_at=100.0)
    aws.on_log_call = lambda n: signal.raise_signal(signal.SIGINT) if n == 5 else None
    outcome, events = run(aws)
    assert aws.stops == [BUILD_ID]
    assert any(isinstance(e, StopRequested) for e in events)
    assert outcome.status == "STOPPED"
    assert outcome.exit_code == 130 and outcome.interrupted and not outcome.detached
    # It kept following after the stop: lines up to the stop are all there.
    assert lines(events) == [f"line {i}" for i in range(len(lines(events)))]
    assert aws.clock.now < 100.0


def test_second_ctrl_c_detaches_at_once_leaving_the_build_running() -> None:
    aws = FakeAws(Clock(), ends_at=100.0)
    aws.on_log_call = lambda n: signal.raise_signal(signal.SIGINT) if n in (3, 4) else None
    outcome, events = run(aws)
    detached = [e for e in events if isinstance(e, Detached)]
    assert len(detached) == 1 and detached[0].build_id == BUILD_ID and detached[0].interrupted
    assert outcome.exit_code == 130 and outcome.detached
    assert aws.stops == [BUILD_ID]  # the first Ctrl-C asked to stop; the second left
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_detach_option_starts_and_leaves() -> None:
    aws = FakeAws(Clock())
    outcome, events = run(aws, DeployOptions(detach=True))
    assert outcome.exit_code == 0 and outcome.detached
    assert [type(e).__name__ for e in events] == ["BuildStarted", "Detached"]
    assert aws.log_calls == 0


def test_start_is_retried_with_the_same_idempotency_token() -> None:
    aws = FakeAws(Clock(), ends_at=1.0)
    aws.start_failures = [AwsError("Rate exceeded", code="ThrottlingException"),
                          AwsError("Could not reach AWS")]
    outcome, _ = run(aws)
    assert outcome.exit_code == 0
    assert [r["idempotencyToken"] for r in aws.start_requests] == ["tok", "tok", "tok"]


def test_start_refusal_is_not_retried() -> None:
    aws = FakeAws(Clock())
    aws.start_failures = [AwsError("bad image", code="InvalidInputException")]
    with pytest.raises(AwsError, match="bad image"):
        run(aws)
    assert len(aws.start_requests) == 1


def test_a_follow_that_gives_up_names_the_build_that_goes_on() -> None:
    aws = FakeAws(Clock(), ends_at=1000.0)

    def fail(n: int) -> None:
        if n > 3:
            raise AwsError("Could not connect to the endpoint", "Check your network.")

    aws.on_log_call = fail
    with pytest.raises(AwsError) as info:
        run(aws)
    error = info.value
    assert error.message == f"Lost track of build {BUILD_ID}: Could not connect to the endpoint"
    assert error.hint is not None and error.hint.startswith("Check your network.\n")
    assert f"cbdeploy logs {BUILD_ID} --follow --region eu-west-1" in error.hint
    assert aws.stops == []  # nobody asked to stop it
