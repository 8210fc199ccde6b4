"""Error translation and result parsing of the AWS door (botocore Stubber, no network)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.aws.results import build_from_response
from cbdeploy.client.errors import (
    AwsError,
    BucketOwnershipError,
    BuildConflictError,
    CredentialsError,
    NotFoundError,
)


@pytest.fixture
def aws() -> AwsClient:
    session = boto3.session.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    return AwsClient(session, "us-east-1", endpoint_url="http://127.0.0.1:9")


def stub(aws: AwsClient, service: str) -> Stubber:
    stubber = Stubber(aws.client(service))
    stubber.activate()
    return stubber


BUILD: dict[str, Any] = {
    "id": "cbdeploy-app-dev:1",
    "arn": "arn:aws:codebuild:us-east-1:123456789012:build/cbdeploy-app-dev:1",
    "buildNumber": 7,
    "projectName": "cbdeploy-app-dev",
    "buildStatus": "FAILED",
    "currentPhase": "COMPLETED",
    "buildComplete": True,
    "startTime": datetime(2026, 1, 1, tzinfo=timezone.utc),
    "phases": [
        {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "durationInSeconds": 0},
        {
            "phaseType": "BUILD",
            "phaseStatus": "FAILED",
            "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "exit 1"}],
        },
    ],
    "logs": {"groupName": "/cbdeploy/app", "streamName": "dev/abc", "deepLink": "https://x"},
    "environment": {
        "type": "LINUX_CONTAINER",
        "image": "aws/codebuild/standard:7.0",
        "computeType": "BUILD_GENERAL1_SMALL",
        "environmentVariables": [
            {"name": "STAGE", "value": "dev", "type": "PLAINTEXT"},
            {"name": "DB", "value": "/app/db", "type": "PARAMETER_STORE"},
        ],
    },
    "initiator": "me",
    "sourceVersion": "arn:aws:s3:::b/sources/app/x.zip",
    "exportedEnvironmentVariables": [{"name": "URL", "value": "http://site"}],
}


def test_build_parsing_keeps_plaintext_variables_only() -> None:
    build = build_from_response(BUILD)
    assert build.number == 7 and build.complete and build.status == "FAILED"
    assert [p.name for p in build.phases] == ["SUBMITTED", "BUILD"]
    assert build.phases[1].contexts == (("COMMAND_EXECUTION_ERROR", "exit 1"),)
    assert build.environment == (("STAGE", "dev"),)
    assert (build.log_group, build.log_stream) == ("/cbdeploy/app", "dev/abc")
    assert build.exported == (("URL", "http://site"),)
    assert build.compute_type == "BUILD_GENERAL1_SMALL"


def test_unknown_build_is_not_found(aws: AwsClient) -> None:
    stubber = stub(aws, "codebuild")
    stubber.add_response("batch_get_builds", {"builds": [], "buildsNotFound": ["p:1"]})
    with pytest.raises(NotFoundError):
        aws.get_build("p:1")


@pytest.mark.parametrize(
    "code", ["UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken"]
)
def test_rejected_credentials_become_credentials_error(aws: AwsClient, code: str) -> None:
    stubber = stub(aws, "codebuild")
    stubber.add_client_error("batch_get_projects", service_error_code=code, http_status_code=400)
    with pytest.raises(CredentialsError) as info:
        aws.get_project("x")
    assert "aws sso login" in (info.value.hint or "")


def test_missing_log_stream_is_not_found(aws: AwsClient) -> None:
    stubber = stub(aws, "logs")
    stubber.add_client_error(
        "get_log_events", service_error_code="ResourceNotFoundException", http_status_code=400
    )
    with pytest.raises(NotFoundError):
        aws.get_log_events("/cbdeploy/app", "dev/x", None)


def test_log_page_carries_forward_token(aws: AwsClient) -> None:
    stubber = stub(aws, "logs")
    stubber.add_response(
        "get_log_events",
        {
            "events": [{"timestamp": 5, "message": "hi\n", "ingestionTime": 6}],
            "nextForwardToken": "f/2",
            "nextBackwardToken": "b/1",
        },
        {"logGroupName": "g", "logStreamName": "s", "startFromHead": True, "nextToken": "f/1"},
    )
    page = aws.get_log_events("g", "s", "f/1")
    assert page.next_token == "f/2"
    assert [(e.timestamp, e.message, e.ingestion_time) for e in page.events] == [(5, "hi\n", 6)]


def test_start_build_conflict_names_the_running_build(aws: AwsClient) -> None:
    stubber = stub(aws, "codebuild")
    stubber.add_client_error(
        "start_build", service_error_code="AccountLimitExceededException", http_status_code=400
    )
    stubber.add_response(
        "list_builds_for_project", {"ids": ["cbdeploy-app-dev:2", "cbdeploy-app-dev:1"]}
    )
    running = dict(BUILD, id="cbdeploy-app-dev:2", buildComplete=False, buildStatus="IN_PROGRESS")
    stubber.add_response("batch_get_builds", {"builds": [running, BUILD]})
    with pytest.raises(BuildConflictError) as info:
        aws.start_build(projectName="cbdeploy-app-dev")
    assert info.value.running_build_id == "cbdeploy-app-dev:2"
    assert "cbdeploy-app-dev:2" in info.value.message


def test_other_errors_keep_their_code(aws: AwsClient) -> None:
    stubber = stub(aws, "codebuild")
    stubber.add_client_error("delete_project", service_error_code="InvalidInputException")
    with pytest.raises(AwsError) as info:
        aws.delete_project("x")
    assert info.value.code == "InvalidInputException"
    assert type(info.value) is AwsError


def test_s3_403_with_expected_owner_is_ownership_error(aws: AwsClient) -> None:
    sts = stub(aws, "sts")
    sts.add_response(
        "get_caller_identity",
        {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/me", "UserId": "u"},
    )
    s3 = stub(aws, "s3")
    s3.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
    with pytest.raises(BucketOwnershipError):
        aws.bucket_exists("cbdeploy-123456789012-us-east-1")


def test_missing_bucket_is_false(aws: AwsClient) -> None:
    sts = stub(aws, "sts")
    sts.add_response(
        "get_caller_identity",
        {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/me", "UserId": "u"},
    )
    s3 = stub(aws, "s3")
    s3.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
    assert aws.bucket_exists("cbdeploy-123456789012-us-east-1") is False


def test_a_poller_retries_our_aws_errors_and_botocores_own_only() -> None:
    """``is_transient``: what the follower may take as a passing failure (a dropped
    connection that slipped past the door, a translated AWS error), nothing else."""
    import botocore.exceptions as bx

    from cbdeploy.client.aws.errors import is_transient

    assert is_transient(AwsError("throttled", code="ThrottlingException"))
    assert is_transient(NotFoundError("gone"))
    assert is_transient(bx.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert is_transient(bx.ReadTimeoutError(endpoint_url="http://127.0.0.1:9"))
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(KeyError("Builds"))
