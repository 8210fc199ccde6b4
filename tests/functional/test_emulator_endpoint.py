"""The endpoint layer: moto behind it, fault injection, S3 checks moto lacks, the CLI command."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from click.testing import CliRunner

import cbdeploy.emulator as emulator
from cbdeploy.client.cli.commands.emulator import _is_loopback
from cbdeploy.client.cli.main import main
from cbdeploy.emulator import Endpoint
from cbdeploy.emulator.faults import FaultInjector
from tests.conftest import EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY

CREDENTIALS = emulator.Credentials(EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY)


def client(url: str, service: str, retries: int) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=EMULATOR_ACCESS_KEY_ID, aws_secret_access_key=EMULATOR_SECRET_ACCESS_KEY,
        config=Config(retries={"mode": "standard", "max_attempts": retries}),
    )


def test_moto_services_share_state_with_builds(boto_client, codebuild_project, build_waiter, log_messages):
    """A build's own AWS calls land on the same endpoint: it reads what the test wrote."""
    s3 = boto_client("s3")
    bucket = f"emu-shared-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"from the test")
    codebuild = boto_client("codebuild")
    spec = (
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        f"      - python3 -c \"import boto3; print(boto3.client('s3').get_object(Bucket='{bucket}', "
        "Key='hello.txt')['Body'].read().decode())\"\n"
    )
    build = codebuild.start_build(projectName=codebuild_project(), buildspecOverride=spec)["build"]
    build = build_waiter(codebuild, build["id"])
    assert "from the test" in log_messages(build)


def test_faults_are_survived_by_botocore_retries(codebuild_role):
    """With 30 % of requests failing, standard retries still complete a whole workflow."""
    with emulator.running(fault_rate=0.3, fault_seed=11, credentials=CREDENTIALS) as url:
        s3, logs = client(url, "s3", 10), client(url, "logs", 10)
        codebuild, sts = client(url, "codebuild", 10), client(url, "sts", 10)
        bucket = f"emu-faults-{uuid.uuid4().hex[:8]}"
        responses = [
            s3.create_bucket(Bucket=bucket),
            s3.put_object(Bucket=bucket, Key="k", Body=b"v"),
            logs.create_log_group(logGroupName=f"/emu/faults/{bucket}"),
            sts.get_caller_identity(),
            codebuild.list_projects(),
        ]
        for _ in range(10):
            responses.append(s3.get_object(Bucket=bucket, Key="k"))
            assert responses[-1]["Body"].read() == b"v"
            responses.append(codebuild.list_builds())
    assert sum(r["ResponseMetadata"]["RetryAttempts"] for r in responses) > 0


def test_each_kind_of_fault_reaches_the_client():
    """Without retries, a client sees throttles, 500s, 503s and dropped connections."""
    seen: set[str] = set()
    with emulator.running(fault_rate=1.0, fault_seed=3, credentials=CREDENTIALS) as url:
        codebuild, s3 = client(url, "codebuild", 1), client(url, "s3", 1)
        for _ in range(25):
            try:
                codebuild.list_projects()
            except ClientError as error:
                seen.add(f"{error.response['ResponseMetadata']['HTTPStatusCode']} {error.response['Error']['Code']}")
            except (ConnectionClosedError, EndpointConnectionError):
                seen.add("dropped")
        with pytest.raises(ClientError) as info:
            for _ in range(25):
                try:
                    s3.list_buckets()
                except ClientError as error:
                    if error.response["Error"]["Code"] == "SlowDown":
                        raise
                except (ConnectionClosedError, EndpointConnectionError):
                    pass
    assert seen == {"400 ThrottlingException", "500 InternalFailure", "503 ServiceUnavailable", "dropped"}
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_expected_bucket_owner_is_enforced(boto_client):
    """moto ignores x-amz-expected-bucket-owner; the endpoint answers 403 as S3 does."""
    creds = boto_client("sts").assume_role(
        RoleArn="arn:aws:iam::111111111111:role/other", RoleSessionName="other"
    )["Credentials"]
    other = boto_client(
        "s3", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    foreign = f"emu-foreign-{uuid.uuid4().hex[:8]}"
    other.create_bucket(Bucket=foreign)
    s3 = boto_client("s3")
    own = f"emu-own-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=own)

    with pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=foreign, ExpectedBucketOwner="123456789012")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=foreign, Key="k", Body=b"x", ExpectedBucketOwner="123456789012")
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    s3.put_object(Bucket=own, Key="k", Body=b"x", ExpectedBucketOwner="123456789012")
    assert s3.get_object(Bucket=own, Key="k", ExpectedBucketOwner="123456789012")["Body"].read() == b"x"


def test_checksum_sha256_is_verified(boto_client):
    """moto 5.2.5 stores an object whose x-amz-checksum-sha256 does not match its body (and
    echoes the wrong checksum back); the endpoint answers 400 BadDigest as S3 does."""
    s3 = boto_client("s3")
    bucket = f"emu-checksum-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def sha256(data: bytes) -> str:
        return base64.b64encode(hashlib.sha256(data).digest()).decode()

    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumSHA256=sha256(b"other"))
    assert info.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")
    s3.put_object(Bucket=bucket, Key="good", Body=b"data", ChecksumSHA256=sha256(b"data"))
    assert s3.get_object(Bucket=bucket, Key="good")["Body"].read() == b"data"

    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi", ChecksumAlgorithm="SHA256")
    with pytest.raises(ClientError) as info:
        s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload["UploadId"], PartNumber=1,
                       Body=b"part", ChecksumSHA256=sha256(b"not the part"))
    assert info.value.response["Error"]["Code"] == "BadDigest"
    part = s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload["UploadId"], PartNumber=1,
                          Body=b"part", ChecksumSHA256=sha256(b"part"))
    assert part["ETag"]


def test_emulator_command_without_moto_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cbdeploy.emulator", None)  # what a missing moto looks like
    result = CliRunner().invoke(main, ["emulator", "--port", "0"])
    assert result.exit_code == 2
    assert "pip install 'cbdeploy[local]'" in result.output
    assert "Traceback" not in result.output


def test_emulator_command_with_a_busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["emulator", "--port", str(port)])
    assert result.exit_code == 2
    assert f"127.0.0.1:{port}" in result.output
    assert "--port" in result.output


def test_emulator_command_warns_before_listening_beyond_loopback():
    """192.0.2.1 (TEST-NET-1) is not on this machine: the warning shows, then binding fails,
    so nothing is ever exposed by this test."""
    result = CliRunner().invoke(main, ["emulator", "--host", "192.0.2.1", "--port", "0"])
    assert "Warning: listening on 192.0.2.1" in result.output
    assert "not a sandbox" in result.output
    assert result.exit_code == 2


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("192.168.1.5", False),
])
def test_non_loopback_hosts_are_recognised(host, loopback):
    assert _is_loopback(host) is loopback


def test_emulator_command_serves_until_interrupted(tmp_path):
    env = {**os.environ, "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-c", "from client.cli.main import main; main()", "emulator", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert process.stdout is not None
        exports = dict(
            process.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(5)
        )
        url = exports["AWS_ENDPOINT_URL"]
        assert url.startswith("http://127.0.0.1:")
        assert exports["AWS_REGION"] == exports["AWS_DEFAULT_REGION"] == "us-east-1"
        sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"])
        assert sts.get_caller_identity()["Account"] == "123456789012"
        with pytest.raises(ClientError):  # the banner's keys are this emulator's own, not a default
            client(url, "sts", 1).get_caller_identity()
        process.send_signal(signal.SIGTERM)  # stops like Ctrl-C: builds stopped, not orphaned
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "Warning" not in stderr
    assert f"listening on {url}" in stderr


class ScriptedFaults(FaultInjector):
    """Injects the given faults in order, then none."""

    def __init__(self, kinds: list[str]) -> None:
        super().__init__()
        self.kinds = kinds

    def decide(self) -> str | None:
        return self.kinds.pop(0) if self.kinds else None


def test_lost_start_build_answer_is_retried_into_the_same_build(codebuild_role):
    """The first StartBuild takes effect but its answer is lost; botocore's retry carries
    the same idempotency token and gets the same build, not a second one."""
    endpoint = Endpoint(credentials=CREDENTIALS)
    endpoint.start()
    try:
        codebuild = client(endpoint.url, "codebuild", 3)
        name = f"lost-{uuid.uuid4().hex[:8]}"
        codebuild.create_project(
            name=name, source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {}\n"},
            artifacts={"type": "NO_ARTIFACTS"}, serviceRole=codebuild_role,
            environment={"type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL"},
        )
        endpoint.app.faults = ScriptedFaults(["drop-after"])
        response = codebuild.start_build(projectName=name, idempotencyToken=str(uuid.uuid4()))
        ids = codebuild.list_builds_for_project(projectName=name)["ids"]
    finally:
        endpoint.stop()
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert ids == [response["build"]["id"]]
