"""The follower through the real AwsClient, with CloudWatch Logs and CodeBuild answered by
botocore Stubbers: sustained throttling, as AWS answers it (moto never throttles, and the
emulator's fault injection is random, never minutes of it in a row).

The clock is fake, so minutes of back-off take no time. The clients have
botocore's own retries off so that each stubbed answer is one call.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.stub import Stubber

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.watch.events import BuildFinished, ContactLost, ContactRestored, LogLine
from cbdeploy.client.watch.follow import ERROR_CAP, QUIET_CAP, Follower

BUILD_ID = "cbdeploy-app-dev:1"
GROUP, STREAM = "/aws/codebuild/cbdeploy-app-dev", "1"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def build(status: str) -> dict[str, Any]:
    return {
        "id": BUILD_ID, "arn": "arn:aws:codebuild:us-east-1:123456789012:build/" + BUILD_ID,
        "buildStatus": status, "currentPhase": "BUILD", "buildComplete": status != "IN_PROGRESS",
        "projectName": "cbdeploy-app-dev", "startTime": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "logs": {"groupName": GROUP, "streamName": STREAM},
    }


def page(first: int, count: int, token: str) -> dict[str, Any]:
    events = [{"timestamp": 1_700_000_000_000 + i, "message": f"line {i}\n", "ingestionTime": 1}
              for i in range(first, first + count)]
    return {"events": events, "nextForwardToken": token, "nextBackwardToken": "b"}


def stubbed_aws() -> tuple[AwsClient, Stubber, Stubber]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    aws = AwsClient(session, "us-east-1")
    once = Config(retries={"mode": "standard", "max_attempts": 1})
    aws._clients["logs"] = session.client("logs", region_name="us-east-1", config=once)
    aws._clients["codebuild"] = session.client("codebuild", region_name="us-east-1", config=once)
    return aws, Stubber(aws._clients["logs"]), Stubber(aws._clients["codebuild"])


def test_minutes_of_throttling_lose_and_repeat_no_line() -> None:
    """100 throttled GetLogEvents in a row (the follower used to give up after 30)."""
    aws, logs, codebuild = stubbed_aws()
    log_params = {"logGroupName": GROUP, "logStreamName": STREAM, "startFromHead": True}
    logs.add_response("get_log_events", page(0, 3, "f/3"), log_params)
    for _ in range(100):
        logs.add_client_error("get_log_events", "ThrottlingException", "Rate exceeded", 400)
    logs.add_response("get_log_events", page(3, 4, "f/7"), {**log_params, "nextToken": "f/3"})
    logs.add_response("get_log_events", page(7, 0, "f/7"), {**log_params, "nextToken": "f/7"})
    logs.add_response("get_log_events", page(7, 0, "f/7"), {**log_params, "nextToken": "f/7"})
    for _ in range(10):  # (BatchGetBuilds is throttled too, and then tells the end)
        codebuild.add_client_error("batch_get_builds", "ThrottlingException", "Rate exceeded", 400)
    codebuild.add_response("batch_get_builds", {"builds": [build("SUCCEEDED")]})

    clock = Clock()
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5)
    with logs, codebuild:
        events = list(follower.follow(BUILD_ID, known=_typed(build("IN_PROGRESS"))))
        logs.assert_no_pending_responses()
    assert [e.message for e in events if isinstance(e, LogLine)] == [f"line {i}" for i in range(7)]
    assert isinstance(events[-1], BuildFinished) and events[-1].build.status == "SUCCEEDED"
    assert [type(e) for e in events if isinstance(e, (ContactLost, ContactRestored))] == [
        ContactLost, ContactRestored,
    ]
    assert max(clock.sleeps) <= ERROR_CAP
    assert max(clock.sleeps) >= ERROR_CAP * 0.75  # it did back off, to the cap (with jitter)
    assert clock.sleeps[-1] <= QUIET_CAP  # and came back down once answers came


def _typed(data: dict[str, Any]) -> Any:
    from cbdeploy.client.aws.results import build_from_response

    return build_from_response(data)
