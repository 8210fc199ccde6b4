"""How AWS refusals are named (botocore Stubber: AWS's answers, no network).

Stubber stands in for AWS because neither moto nor the emulator refuses calls
for permissions or expired tokens; the CLI-level view of the same errors is in
``tests/functional/test_errors_known.py``.
"""

from __future__ import annotations

import boto3
import botocore.exceptions as bx
import pytest
from botocore.stub import Stubber

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.aws.errors import iam_action, translate_error
from cbdeploy.client.errors import (
    AccessDeniedError,
    BucketOwnershipError,
    CredentialsError,
    ExpiredCredentialsError,
)


def client() -> AwsClient:
    session = boto3.session.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    return AwsClient(session, "us-east-1", endpoint_url="http://127.0.0.1:9")


def refuse(aws: AwsClient, service: str, operation: str, code: str, status: int) -> Stubber:
    stubber = Stubber(aws.client(service))
    stubber.add_client_error(operation, service_error_code=code, http_status_code=status)
    stubber.activate()
    return stubber


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDeniedException", 400), ("AccessDenied", 403), ("UnauthorizedOperation", 403),
     ("", 403)],
)
def test_start_build_refusal_names_codebuild_start_build(code: str, status: int) -> None:
    aws = client()
    refuse(aws, "codebuild", "start_build", code, status)
    with pytest.raises(AccessDeniedError) as raised:
        aws.start_build(projectName="cbdeploy-app-dev")
    assert raised.value.action == "codebuild:StartBuild"
    assert raised.value.message.startswith("AWS denied codebuild:StartBuild to these credentials")
    assert "Allow codebuild:StartBuild" in (raised.value.hint or "")
    assert isinstance(raised.value, CredentialsError)  # so no retry loop tries it again


def test_logs_refusal_names_the_logs_action() -> None:
    aws = client()
    refuse(aws, "logs", "get_log_events", "AccessDeniedException", 400)
    with pytest.raises(AccessDeniedError) as raised:
        aws.get_log_events("/cbdeploy/app", "dev/x", None)
    assert raised.value.action == "logs:GetLogEvents"


@pytest.mark.parametrize(
    ("operation", "action"),
    [("UploadPart", "s3:PutObject"), ("HeadBucket", "s3:ListBucket"),
     ("HeadObject", "s3:GetObject"), ("PutObject", "s3:PutObject"),
     ("StartBuild", "s3:StartBuild")],
)
def test_s3_operations_map_to_their_iam_actions(operation: str, action: str) -> None:
    assert iam_action("s3", operation) == action


def test_s3_refusal_of_our_own_bucket_names_the_action() -> None:
    error = bx.ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
         "ResponseMetadata": {"HTTPStatusCode": 403}},
        "UploadPart",
    )
    translated = translate_error(
        error, "s3", "UploadPart", {"Bucket": "b", "ExpectedBucketOwner": "123456789012"}
    )
    assert isinstance(translated, BucketOwnershipError)
    assert "s3:PutObject" in translated.message


def test_request_expired_also_points_at_the_clock() -> None:
    aws = client()
    refuse(aws, "codebuild", "batch_get_builds", "RequestExpired", 400)
    with pytest.raises(ExpiredCredentialsError) as raised:
        aws.get_build("p:1")
    assert "clock" in raised.value.message


@pytest.mark.parametrize(
    "error",
    [bx.UnauthorizedSSOTokenError(), bx.SSOTokenLoadError(error_msg="Token for x does not exist"),
     bx.TokenRetrievalError(provider="sso", error_msg="Token has expired and refresh failed")],
)
def test_sso_errors_say_to_sign_in_again(error: Exception) -> None:
    named = translate_error(error, "codebuild", "StartBuild", {}, profile="work")
    assert isinstance(named, ExpiredCredentialsError)
    assert named.hint == "Sign in again with 'aws sso login --profile work', then run cbdeploy again."
    default = translate_error(error, "codebuild", "StartBuild", {}, profile="default")
    assert "'aws sso login'" in (default.hint or "")
