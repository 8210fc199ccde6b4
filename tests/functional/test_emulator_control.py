"""Controlling builds: timeout, StopBuild, concurrency, idempotency, projects and API errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import cbdeploy.emulator as emulator
from tests.conftest import EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY

CREDENTIALS = emulator.Credentials(EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY)

SLEEP_SPEC = """version: 0.2
phases:
  build:
    commands:
      - sleep 60 & echo $! > "$PID_FILE"
      - echo started
      - sleep 60
"""


@pytest.fixture
def codebuild(boto_client: Callable[..., Any]) -> Any:
    return boto_client("codebuild")


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_for_line(codebuild: Any, log_messages: Callable[..., list[str]], build_id: str, line: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        build = codebuild.batch_get_builds(ids=[build_id])["builds"][0]
        # The stream is named (and exists) once PROVISIONING has begun.
        if build["logs"].get("streamName") and line in log_messages(build):
            return
        time.sleep(0.05)
    raise AssertionError(f"{line!r} never appeared in the build's logs")


@pytest.mark.parametrize("prefix", ["", "trap '' TERM; "], ids=["plain", "ignoring-sigterm"])
def test_stop_build_kills_the_process_group_and_reports_stopped(codebuild, codebuild_project,
                                                                 log_messages, tmp_path, prefix):
    pid_file = tmp_path / "bg.pid"
    build = codebuild.start_build(
        projectName=codebuild_project(),
        buildspecOverride=SLEEP_SPEC.replace("- sleep 60 &", f"- {prefix}sleep 60 &"),
        environmentVariablesOverride=[{"name": "PID_FILE", "value": str(pid_file)}],
    )["build"]
    # A printed line is readable through GetLogEvents while the build still runs.
    wait_for_line(codebuild, log_messages, build["id"], "started")
    running = codebuild.batch_get_builds(ids=[build["id"]])["builds"][0]
    assert running["buildStatus"] == "IN_PROGRESS"
    assert running["currentPhase"] == "BUILD"
    assert running["buildComplete"] is False
    background = int(pid_file.read_text())

    stopped = codebuild.stop_build(id=build["id"])["build"]

    assert stopped["buildStatus"] == "STOPPED"
    assert stopped["buildComplete"] is True
    # As aws-cli's stop-build example shows: the stopped phase has no context and is
    # followed by COMPLETED directly, no FINALIZING.
    assert [(p["phaseType"], p.get("phaseStatus")) for p in stopped["phases"][-2:]] == [
        ("BUILD", "STOPPED"), ("COMPLETED", None)]
    assert "contexts" not in stopped["phases"][-2]
    assert stopped["currentPhase"] == "COMPLETED"
    assert not alive(background)


def test_build_times_out(boto_client, codebuild_role, tmp_path):
    """A "minute" lasts 0.4 s here (``minute_seconds``), so the 5-minute minimum is 2 s."""
    with emulator.running(minute_seconds=0.4, credentials=CREDENTIALS) as url:
        codebuild = boto3.client("codebuild", endpoint_url=url, region_name="us-east-1",
                                 aws_access_key_id=EMULATOR_ACCESS_KEY_ID, aws_secret_access_key=EMULATOR_SECRET_ACCESS_KEY)
        name = f"timeout-{uuid.uuid4().hex[:8]}"
        codebuild.create_project(
            name=name, source={"type": "NO_SOURCE", "buildspec": SLEEP_SPEC},
            artifacts={"type": "NO_ARTIFACTS"}, serviceRole=codebuild_role,
            environment={"type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL"},
            timeoutInMinutes=5,
        )
        pid_file = tmp_path / "bg.pid"
        build = codebuild.start_build(
            projectName=name, environmentVariablesOverride=[{"name": "PID_FILE", "value": str(pid_file)}]
        )["build"]
        deadline = time.monotonic() + 20
        while not build["buildComplete"] and time.monotonic() < deadline:
            time.sleep(0.1)
            build = codebuild.batch_get_builds(ids=[build["id"]])["builds"][0]

    assert build["buildStatus"] == "TIMED_OUT"
    phase = next(p for p in build["phases"] if p["phaseType"] == "BUILD")
    assert phase["phaseStatus"] == "TIMED_OUT"
    # As in aws-cli's codebuild examples: this context, then COMPLETED with no FINALIZING.
    assert phase["contexts"] == [{"statusCode": "BUILD_TIMED_OUT", "message": "Build has timed out. "}]
    assert [p["phaseType"] for p in build["phases"]][-2:] == ["BUILD", "COMPLETED"]
    assert not alive(int(pid_file.read_text()))


def test_concurrent_build_limit(codebuild, codebuild_project, tmp_path):
    project = codebuild_project(concurrentBuildLimit=1)
    first = codebuild.start_build(
        projectName=project, buildspecOverride=SLEEP_SPEC,
        environmentVariablesOverride=[{"name": "PID_FILE", "value": str(tmp_path / "pid")}],
    )["build"]
    try:
        with pytest.raises(ClientError) as info:
            codebuild.start_build(projectName=project)
        assert error_code(info) == "AccountLimitExceededException"
        assert info.value.response["Error"]["Message"] == "Cannot have more than 1 active builds for the project"
    finally:
        codebuild.stop_build(id=first["id"])
    # Once the running build has ended, the project accepts builds again.
    codebuild.stop_build(id=codebuild.start_build(projectName=project)["build"]["id"])


def test_several_builds_run_at_once(codebuild, codebuild_project, build_waiter):
    project = codebuild_project()
    spec = "version: 0.2\nphases:\n  build:\n    commands: [\"sleep 2\"]\n"
    ids = [codebuild.start_build(projectName=project, buildspecOverride=spec)["build"]["id"] for _ in range(3)]
    builds = [build_waiter(codebuild, i) for i in ids]

    assert [b["buildStatus"] for b in builds] == ["SUCCEEDED"] * 3
    spans = [next((p["startTime"], p["endTime"]) for p in b["phases"] if p["phaseType"] == "BUILD") for b in builds]
    # Every BUILD phase overlaps the others: they ran side by side, not one after another.
    assert max(start for start, _ in spans) < min(end for _, end in spans)


def test_idempotency_token_returns_the_same_build(codebuild, codebuild_project, build_waiter):
    project = codebuild_project()
    first = codebuild.start_build(projectName=project, idempotencyToken="tok-1")["build"]
    again = codebuild.start_build(projectName=project, idempotencyToken="tok-1")["build"]
    other = codebuild.start_build(projectName=project, idempotencyToken="tok-2")["build"]

    assert again["id"] == first["id"]
    assert other["id"] != first["id"]
    with pytest.raises(ClientError) as info:
        codebuild.start_build(projectName=project, idempotencyToken="tok-1", sourceVersion="changed")
    assert error_code(info) == "InvalidInputException"
    for build_id in (first["id"], other["id"]):
        build_waiter(codebuild, build_id)


def test_unknown_projects_and_builds(codebuild, codebuild_project):
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as info:
        codebuild.start_build(projectName=missing)
    assert error_code(info) == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as info:
        codebuild.stop_build(id=f"{missing}:{uuid.uuid4()}")
    assert error_code(info) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        codebuild.list_builds_for_project(projectName=missing)
    assert error_code(info) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        codebuild.update_project(name=missing, description="x")
    assert error_code(info) == "ResourceNotFoundException"
    unknown = f"{missing}:{uuid.uuid4()}"
    found = codebuild.batch_get_builds(ids=[unknown])
    assert found["builds"] == [] and found["buildsNotFound"] == [unknown]
    projects = codebuild.batch_get_projects(names=[missing])
    assert projects["projects"] == [] and projects["projectsNotFound"] == [missing]


def test_project_lifecycle(codebuild, codebuild_project, codebuild_role):
    name = codebuild_project(
        concurrentBuildLimit=1,
        logsConfig={"cloudWatchLogs": {"status": "ENABLED", "groupName": "/cbdeploy/x", "streamName": "dev"}},
    )
    with pytest.raises(ClientError) as info:
        codebuild_project(name=name)
    assert error_code(info) == "ResourceAlreadyExistsException"

    project = codebuild.batch_get_projects(names=[name])["projects"][0]
    assert project["arn"] == f"arn:aws:codebuild:us-east-1:123456789012:project/{name}"
    assert project["concurrentBuildLimit"] == 1
    assert project["timeoutInMinutes"] == 60
    assert project["logsConfig"]["cloudWatchLogs"]["streamName"] == "dev"

    updated = codebuild.update_project(name=name, timeoutInMinutes=30, description="updated")["project"]
    assert updated["timeoutInMinutes"] == 30 and updated["concurrentBuildLimit"] == 1
    unlimited = codebuild.update_project(name=name, concurrentBuildLimit=-1)["project"]
    assert "concurrentBuildLimit" not in unlimited
    assert name in codebuild.list_projects()["projects"]

    codebuild.delete_project(name=name)
    assert codebuild.batch_get_projects(names=[name])["projectsNotFound"] == [name]
    assert name not in codebuild.list_projects()["projects"]


def test_create_project_checks_its_input(codebuild, codebuild_project):
    with pytest.raises(ClientError) as info:
        codebuild_project(serviceRole="arn:aws:iam::123456789012:role/does-not-exist")
    assert error_code(info) == "InvalidInputException"
    with pytest.raises(ClientError) as info:
        codebuild_project(source={"type": "NO_SOURCE"})
    assert error_code(info) == "InvalidInputException"
    with pytest.raises(ClientError) as info:
        codebuild_project(environment={
            "type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [{"name": "CODEBUILD_X", "value": "reserved"}],
        })
    assert error_code(info) == "InvalidInputException"


def test_projects_are_per_region(boto_client, codebuild_project):
    name = codebuild_project()
    west = boto_client("codebuild", region="eu-west-1")
    assert west.batch_get_projects(names=[name])["projectsNotFound"] == [name]


def test_logs_keep_flowing_when_the_log_group_is_deleted_mid_build(boto_client, codebuild, codebuild_project,
                                                                    build_waiter, log_messages, tmp_path):
    go = tmp_path / "go"
    spec = """version: 0.2
phases:
  build:
    commands:
      - echo first
      - while [ ! -e "$GO" ]; do sleep 0.02; done
      - echo second
"""
    build = codebuild.start_build(
        projectName=codebuild_project(), buildspecOverride=spec,
        environmentVariablesOverride=[{"name": "GO", "value": str(go)}],
    )["build"]
    wait_for_line(codebuild, log_messages, build["id"], "first")
    boto_client("logs").delete_log_group(logGroupName=f"/aws/codebuild/{build['projectName']}")
    go.touch()

    build = build_waiter(codebuild, build["id"])
    assert build["buildStatus"] == "SUCCEEDED"
    assert "second" in log_messages(build)


def test_builds_and_projects_by_arn_and_paginated(codebuild, codebuild_project, build_waiter):
    project = codebuild_project()
    arn = codebuild.batch_get_projects(names=[project])["projects"][0]["arn"]
    assert codebuild.batch_get_projects(names=[arn])["projects"][0]["name"] == project
    build = codebuild.start_build(projectName=project)["build"]
    assert codebuild.batch_get_builds(ids=[build["arn"]])["builds"][0]["id"] == build["id"]
    build_waiter(codebuild, build["id"])


def test_list_projects_pages(codebuild_role):
    """On an endpoint of its own, so the shared one does not fill up with projects."""
    with emulator.running(credentials=CREDENTIALS) as url:
        codebuild = boto3.client("codebuild", endpoint_url=url, region_name="us-east-1",
                                 aws_access_key_id=EMULATOR_ACCESS_KEY_ID, aws_secret_access_key=EMULATOR_SECRET_ACCESS_KEY)
        created = [f"page-{i:03d}" for i in range(130)]
        for name in created:
            codebuild.create_project(
                name=name, source={"type": "NO_SOURCE", "buildspec": "version: 0.2\n"},
                artifacts={"type": "NO_ARTIFACTS"}, serviceRole=codebuild_role,
                environment={"type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL"},
            )
        pages = list(codebuild.get_paginator("list_projects").paginate())
        descending = codebuild.list_projects(sortOrder="DESCENDING")["projects"]
    assert [len(page["projects"]) for page in pages] == [100, 30]
    assert [name for page in pages for name in page["projects"]] == created
    assert descending[0] == "page-129"


def test_start_build_refuses_what_the_emulator_cannot_do(codebuild, codebuild_project):
    project = codebuild_project()
    for overrides in (
        {"artifactsOverride": {"type": "S3", "location": "bucket"}},
        {"serviceRoleOverride": "arn:aws:iam::123456789012:role/no-such-role"},
        {"sourceTypeOverride": "GITHUB", "sourceLocationOverride": "https://github.com/x/y"},
        {"sourceTypeOverride": "S3", "sourceLocationOverride": "no-key"},
    ):
        with pytest.raises(ClientError) as info:
            codebuild.start_build(projectName=project, **overrides)
        assert error_code(info) == "InvalidInputException", overrides
    assert codebuild.list_builds_for_project(projectName=project)["ids"] == []
