"""The AWS door's CodeBuild and Logs methods against moto in-process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from client import aws as aws_module
from client.aws import AwsClient
from client.errors import CredentialsError, NotFoundError
from client.options import Target


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClient]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield AwsClient(boto3.session.Session(region_name="us-east-1"), "us-east-1")


def _project(aws: AwsClient, name: str) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    aws.create_project(
        name=name,
        source={"type": "S3", "location": "bucket/sources/app.zip"},  # moto lacks NO_SOURCE
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=role["Arn"],
    )


def test_project_lifecycle_and_builds(aws: AwsClient) -> None:
    assert aws.get_project("cbdeploy-app-dev") is None
    _project(aws, "cbdeploy-app-dev")
    project = aws.get_project("cbdeploy-app-dev")
    assert project is not None and project["name"] == "cbdeploy-app-dev"

    first = aws.start_build(projectName="cbdeploy-app-dev")
    second = aws.start_build(projectName="cbdeploy-app-dev")
    assert first.project == "cbdeploy-app-dev"
    # moto ignores sortOrder; the newest-first order is checked against the emulator.
    assert set(aws.list_build_ids("cbdeploy-app-dev")) == {first.id, second.id}
    assert len(aws.list_build_ids("cbdeploy-app-dev", limit=1)) == 1
    assert [b.id for b in aws.get_builds([second.id, first.id])] == [second.id, first.id]
    assert aws.get_build(first.id).id == first.id
    stopped = aws.stop_build(first.id)
    assert stopped.id == first.id

    aws.delete_project("cbdeploy-app-dev")
    assert aws.get_project("cbdeploy-app-dev") is None


def test_log_events_page_forward(aws: AwsClient) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    with pytest.raises(NotFoundError):
        aws.get_log_events("/cbdeploy/app", "dev/1", None)
    aws.create_log_group("/cbdeploy/app")
    logs.create_log_stream(logGroupName="/cbdeploy/app", logStreamName="dev/1")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName="/cbdeploy/app",
        logStreamName="dev/1",
        logEvents=[{"timestamp": now + i, "message": f"line {i}"} for i in range(3)],
    )
    page = aws.get_log_events("/cbdeploy/app", "dev/1", None)
    assert [e.message for e in page.events] == ["line 0", "line 1", "line 2"]
    again = aws.get_log_events("/cbdeploy/app", "dev/1", page.next_token)
    assert again.events == [] and again.next_token == page.next_token


def test_unknown_profile_is_a_credentials_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    target = Target("dev", "us-east-1", "nope", None, False, "info")
    with pytest.raises(CredentialsError) as info, aws_module.open_aws(target):
        pass
    assert "nope" in info.value.message


def test_no_credentials_is_a_credentials_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    target = Target("dev", "us-east-1", None, None, False, "info")
    with aws_module.open_aws(target) as aws, pytest.raises(CredentialsError):
        aws.account_id()
