"""The AWS door's CodeBuild and Logs methods against the emulator over loopback.

The endpoint comes from the standard ``AWS_ENDPOINT_URL`` variable, as a user
would point cbdeploy at LocalStack or the emulator.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws.client import AwsClient, open_aws
from cbdeploy.client.errors import BuildConflictError, CredentialsError, NotFoundError
from cbdeploy.client.target import Target


@pytest.fixture
def aws(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> AwsClient:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    return AwsClient(boto3.session.Session(region_name="ca-central-1"), "ca-central-1")


def create_sleeping_project(
    aws: AwsClient, name: str, role_arn: str, seconds: int, **extra: Any
) -> None:
    """A NO_SOURCE project whose build sleeps, created through the door under test."""
    aws.create_project(
        name=name,
        source={
            "type": "NO_SOURCE",
            "buildspec": f"version: 0.2\nphases:\n  build:\n    commands: [sleep {seconds}]\n",
        },
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=role_arn,
        **extra,
    )


def test_project_lifecycle_and_builds(aws: AwsClient, codebuild_role: str) -> None:
    name = "cbdeploy-awsclient-dev"
    assert aws.get_project(name) is None
    create_sleeping_project(aws, name, codebuild_role, 5)
    project = aws.get_project(name)
    assert project is not None and project["name"] == name

    first = aws.start_build(projectName=name)
    second = aws.start_build(projectName=name)
    assert first.project == name and not first.complete
    assert aws.list_build_ids(name) == [second.id, first.id]
    assert aws.list_build_ids(name, limit=1) == [second.id]
    assert [b.id for b in aws.get_builds([first.id, second.id])] == [first.id, second.id]
    assert aws.get_build(first.id).id == first.id
    for build in (first, second):
        aws.stop_build(build.id)
    deadline = time.monotonic() + 20
    while not all(b.complete for b in aws.get_builds([first.id, second.id])):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert {b.status for b in aws.get_builds([first.id, second.id])} == {"STOPPED"}

    with pytest.raises(NotFoundError):
        aws.get_build(f"{name}:00000000-0000-0000-0000-000000000000")
    aws.delete_project(name)
    assert aws.get_project(name) is None


def test_log_events_page_forward(aws: AwsClient, boto_client: Callable[..., Any]) -> None:
    logs = boto_client("logs", region="ca-central-1")
    with pytest.raises(NotFoundError):
        aws.get_log_events("/cbdeploy/awsclient", "dev/1", None)
    aws.create_log_group("/cbdeploy/awsclient")
    logs.create_log_stream(logGroupName="/cbdeploy/awsclient", logStreamName="dev/1")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName="/cbdeploy/awsclient",
        logStreamName="dev/1",
        logEvents=[{"timestamp": now, "message": f"line {i}"} for i in range(3)],
    )
    page = aws.get_log_events("/cbdeploy/awsclient", "dev/1", None)
    assert [e.message for e in page.events] == ["line 0", "line 1", "line 2"]
    assert {e.timestamp for e in page.events} == {now}
    again = aws.get_log_events("/cbdeploy/awsclient", "dev/1", page.next_token)
    assert again.events == [] and again.next_token == page.next_token


def test_unknown_profile_is_a_credentials_error(aws_env: None) -> None:
    target = Target("dev", "us-east-1", "nope", None, False, "info")
    with pytest.raises(CredentialsError) as info, open_aws(target):
        pass
    assert "nope" in info.value.message


def test_no_credentials_is_a_credentials_error(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    target = Target("dev", "us-east-1", None, None, False, "info")
    with open_aws(target) as aws, pytest.raises(CredentialsError) as info:
        aws.account_id()
    assert "aws sso login" in (info.value.hint or "")


def test_local_runs_the_emulator_with_dummy_credentials(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PROFILE", "only-on-the-users-laptop")  # irrelevant to --local
    target = Target("dev", "eu-north-1", None, None, True, "info")
    with open_aws(target) as aws:
        assert aws.endpoint_url is not None and aws.endpoint_url.startswith("http://127.0.0.1:")
        assert aws.account_id() == "123456789012"
        # The emulator's own botocore (moto) must not trip over the profile either.
        aws.create_bucket("cbdeploy-123456789012-eu-north-1")
        assert aws.bucket_exists("cbdeploy-123456789012-eu-north-1")
        assert aws.get_project("cbdeploy-none-dev") is None
        assert aws.get_log_group("/cbdeploy/none") is None
    assert os.environ["AWS_PROFILE"] == "only-on-the-users-laptop"  # given back afterwards


def test_second_build_of_a_stage_names_the_running_one(aws: AwsClient, codebuild_role: str) -> None:
    """concurrentBuildLimit 1: CodeBuild answers AccountLimitExceededException."""
    name = "cbdeploy-conflict-dev"
    create_sleeping_project(aws, name, codebuild_role, 30, concurrentBuildLimit=1)
    running = aws.start_build(projectName=name)
    try:
        with pytest.raises(BuildConflictError) as info:
            aws.start_build(projectName=name)
        assert info.value.running_build_id == running.id
        assert running.id in info.value.message
        assert f"cbdeploy stop {running.id}" in (info.value.hint or "")
    finally:
        aws.stop_build(running.id)


def test_creates_and_deletes_are_idempotent(aws: AwsClient) -> None:
    """A retry after a lost answer finds the work done; that is success, not an error."""
    trust = {"Version": "2012-10-17", "Statement": []}
    arn = aws.create_role("idempotent-test", trust, "test")
    assert aws.create_role("idempotent-test", trust, "test") == arn
    aws.delete_role("idempotent-test")
    aws.delete_role("idempotent-test")
    aws.create_log_group("/cbdeploy/idempotent")
    aws.create_log_group("/cbdeploy/idempotent")
    aws.delete_log_group("/cbdeploy/idempotent")
    aws.delete_log_group("/cbdeploy/idempotent")
    assert aws.get_role("idempotent-test") is None
    assert aws.get_log_group("/cbdeploy/idempotent") is None
