"""The CodeBuild emulator runs builds for real; driven with plain boto3 over loopback."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_SMALL",
}


@pytest.fixture
def codebuild(boto_client: Callable[..., Any]) -> Any:
    return boto_client("codebuild")


@pytest.fixture
def logs(boto_client: Callable[..., Any]) -> Any:
    return boto_client("logs")


@pytest.fixture
def project(codebuild: Any, codebuild_role: str) -> str:
    name = f"emu-{uuid.uuid4().hex[:10]}"
    codebuild.create_project(
        name=name,
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases:\n  build:\n    commands: [true]\n"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment=ENVIRONMENT,
        serviceRole=codebuild_role,
    )
    return name


def run(codebuild: Any, waiter: Callable[..., dict[str, Any]], project: str, spec: str,
        **overrides: Any) -> dict[str, Any]:
    build = codebuild.start_build(projectName=project, buildspecOverride=spec, **overrides)["build"]
    return waiter(codebuild, build["id"])


def messages(logs: Any, build: dict[str, Any]) -> list[str]:
    events = logs.get_log_events(
        logGroupName=build["logs"]["groupName"],
        logStreamName=build["logs"]["streamName"],
        startFromHead=True,
    )["events"]
    return [e["message"].rstrip("\n") for e in events]


def phases(build: dict[str, Any]) -> dict[str, str | None]:
    return {p["phaseType"]: p.get("phaseStatus") for p in build["phases"]}


def test_passing_build_reports_every_phase_and_logs_output(codebuild, logs, project, build_waiter):
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hello from $CODEBUILD_BUILD_NUMBER\n"
    build = run(codebuild, build_waiter, project, spec)

    assert build["buildStatus"] == "SUCCEEDED"
    assert build["currentPhase"] == "COMPLETED"
    assert [p["phaseType"] for p in build["phases"]] == [
        "SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD",
        "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED",
    ]
    assert all(p.get("phaseStatus") in ("SUCCEEDED", None) for p in build["phases"])
    assert build["id"].startswith(f"{project}:") and build["buildNumber"] == 1
    assert build["logs"]["groupName"] == f"/aws/codebuild/{project}"
    assert build["logs"]["streamName"] == build["id"].split(":", 1)[1]
    lines = messages(logs, build)
    assert "hello from 1" in lines
    assert any(line.endswith("Entering phase BUILD") and line.startswith("[Container] ") for line in lines)
    assert any(line.endswith("Phase complete: BUILD State: SUCCEEDED") for line in lines)


def test_failing_build_still_runs_post_build_with_succeeding_zero(codebuild, logs, project, build_waiter):
    spec = """version: 0.2
phases:
  build:
    commands:
      - echo before
      - exit 3
      - echo never
  post_build:
    commands:
      - echo "post succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"""
    build = run(codebuild, build_waiter, project, spec)

    assert build["buildStatus"] == "FAILED"
    assert phases(build)["BUILD"] == "FAILED"
    assert phases(build)["POST_BUILD"] == "SUCCEEDED"
    build_phase = next(p for p in build["phases"] if p["phaseType"] == "BUILD")
    assert build_phase["contexts"] == [{
        "statusCode": "COMMAND_EXECUTION_ERROR",
        "message": "Error while executing command: exit 3. Reason: exit status 3",
    }]
    lines = messages(logs, build)
    assert "never" not in lines
    assert "post succeeding=0" in lines
    assert any(line.endswith("Command did not exit successfully exit 3 exit status 3") for line in lines)
