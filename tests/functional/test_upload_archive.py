"""Uploading archives: content-addressed skip, parallel checksummed parts, resume.

Against the emulator over loopback (moto behind it; the endpoint verifies the
SHA-256 checksums moto ignores). Failures are injected with a botocore
``before-call`` handler, which answers in place of the server (botocore does
not retry it, so the uploader's own retry is visible).
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.deploy.upload import Uploader, upload_archive
from cbdeploy.client.errors import AwsError
from cbdeploy.client.infra.model import Infrastructure

MiB = 1024 * 1024
PART = 5 * MiB  # S3's (and moto's) smallest part but the last
BUCKET = "cbdeploy-123456789012-us-east-1"
INFRA = Infrastructure(
    BUCKET, "arn:aws:iam::123456789012:role/r", "/cbdeploy/app/dev", "cbdeploy-app_dev",
    sources_prefix="sources/app/dev/",
)


@dataclass(frozen=True)
class FakeArchive:
    path: Path
    sha256: str
    size: int


BUCKET = f"upload-test-{uuid.uuid4().hex[:12]}"
INFRA = Infrastructure(
    BUCKET, "arn:aws:iam::123456789012:role/r", "/cbdeploy/app/dev", "cbdeploy-app_dev",
    sources_prefix="sources/app/dev/",
)


def archive(tmp_path: Path, size: int, seed: int = 1) -> FakeArchive:
    data = os.urandom(size)
    path = tmp_path / f"a{seed}-{size}.zip"
    path.write_bytes(data)
    return FakeArchive(path, hashlib.sha256(data).hexdigest(), size)


@pytest.fixture
def aws(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> AwsClient:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    client = AwsClient(boto3.session.Session(region_name="us-east-1"), "us-east-1")
    client.create_bucket(BUCKET)
    return client


class Calls:
    """Counts UploadPart calls; fails part N ``failures[N]`` times (injected 500)."""

    def __init__(self, aws: AwsClient, failures: dict[int, int] | None = None) -> None:
        self.parts: list[int] = []
        self.failures = dict(failures or {})
        self.puts = 0
        self.owners: dict[str, set[str | None]] = {}  # operation -> ExpectedBucketOwner values
        events = aws.client("s3").meta.events
        events.register("before-call.s3.UploadPart", self.on_part)
        events.register("before-call.s3.PutObject", self.on_put)
        events.register("provide-client-params.s3", self.on_params)

    def on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.owners.setdefault(model.name, set()).add(params.get("ExpectedBucketOwner"))

    def on_part(self, params: dict[str, Any], **_: Any) -> Any:
        number = int(params["query_string"]["partNumber"])
        self.parts.append(number)
        if self.failures.get(number, 0) > 0:
            self.failures[number] -= 1
            error = {"Error": {"Code": "InternalError", "Message": "injected"}}
            return AWSResponse("http://x", 500, {}, None), error
        return None

    def on_put(self, **_: Any) -> None:
        self.puts += 1


def no_sleep(_: float) -> None:
    pass


def test_small_archive_is_one_put_then_skipped(aws: AwsClient, tmp_path: Path) -> None:
    small = archive(tmp_path, 100_000)
    calls = Calls(aws)
    seen: list[tuple[int, int]] = []
    first = upload_archive(aws, INFRA, small, on_progress=lambda d, t: seen.append((d, t)))
    assert first.key == f"sources/app/dev/{small.sha256}.zip" and not first.skipped
    assert calls.puts == 1 and calls.parts == []
    assert seen[-1] == (small.size, small.size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    again = upload_archive(aws, INFRA, small)
    assert again.skipped and calls.puts == 1
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=first.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == small.sha256


def test_without_looking_first_one_part_is_put_and_a_multipart_still_looks(
    aws: AwsClient, tmp_path: Path
) -> None:
    """A delta is put without a HeadObject first (one round trip less before StartBuild);
    an archive of several parts still looks, to skip or resume."""
    calls = Calls(aws)
    heads: list[str] = []
    aws.client("s3").meta.events.register(
        "before-call.s3.HeadObject", lambda params, **_: heads.append(params["url_path"]))
    small = archive(tmp_path, 100_000)
    for _ in range(2):
        done = upload_archive(aws, INFRA, small, look_first=False)
        assert not done.skipped
    assert calls.puts == 2 and heads == []
    large = archive(tmp_path, 9 * 1024 * 1024)
    upload_archive(aws, INFRA, large, look_first=False)
    assert len(heads) == 1
    assert upload_archive(aws, INFRA, large, look_first=False).skipped


def test_multipart_upload_in_parallel_parts(aws: AwsClient, tmp_path: Path) -> None:
    big = archive(tmp_path, 3 * PART + 123, seed=3)
    calls = Calls(aws)
    seen: list[int] = []
    uploader = Uploader(aws, part_size=PART, jobs=4, sleep=no_sleep)
    result = upload_archive(
        aws, INFRA, big, on_progress=lambda d, t: seen.append(d), uploader=uploader
    )
    assert sorted(calls.parts) == [1, 2, 3, 4]
    assert result.sent_bytes == big.size and result.reused_parts == 0
    assert seen[-1] == big.size and seen == sorted(seen)
    assert len(seen) > 4 * len(calls.parts)  # moves while a part is in flight
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=result.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == big.sha256
    assert aws.list_multipart_uploads(BUCKET) == []


def test_a_part_failing_once_is_retried(aws: AwsClient, tmp_path: Path) -> None:
    big = archive(tmp_path, 2 * PART + 1, seed=5)
    calls = Calls(aws, failures={2: 1})
    uploader = Uploader(aws, part_size=PART, jobs=1, sleep=no_sleep)
    result = upload_archive(aws, INFRA, big, uploader=uploader)
    assert calls.parts == [1, 2, 2, 3]
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=result.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == big.sha256


def test_interrupted_upload_resumes_with_only_missing_parts(aws: AwsClient, tmp_path: Path) -> None:
    big = archive(tmp_path, 4 * PART, seed=7)
    failing = Calls(aws, failures={4: 99})
    uploader = Uploader(aws, part_size=PART, jobs=2, attempts=2, sleep=no_sleep)
    with pytest.raises(AwsError) as info:
        upload_archive(aws, INFRA, big, uploader=uploader)
    assert info.value.code == "InternalError"
    assert "resumes" in (info.value.hint or "")
    assert len(aws.list_multipart_uploads(BUCKET)) == 1  # left for the next run
    sent_before = {n for n in failing.parts if n != 4}

    aws.client("s3").meta.events.unregister("before-call.s3.UploadPart", failing.on_part)
    calls = Calls(aws)
    progress: list[int] = []
    result = upload_archive(
        aws, INFRA, big, uploader=uploader, on_progress=lambda d, t: progress.append(d)
    )
    assert set(calls.parts) == set(range(1, 5)) - sent_before
    assert 4 in calls.parts
    # Every call of a resumed upload names the bucket's owner (this account).
    assert {"HeadObject", "ListMultipartUploads", "ListParts", "UploadPart",
            "CompleteMultipartUpload"} <= set(calls.owners)
    assert all(owners == {"123456789012"} for owners in calls.owners.values()), calls.owners
    assert result.reused_parts == len(sent_before)
    assert progress[-1] == big.size
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=result.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == big.sha256
    assert aws.list_multipart_uploads(BUCKET) == []


def test_changed_part_in_a_pending_upload_is_sent_again(aws: AwsClient, tmp_path: Path) -> None:
    """A pending upload whose part holds other bytes (same key, corrupted) is not trusted."""
    big = archive(tmp_path, 2 * PART, seed=9)
    key = f"sources/app/dev/{big.sha256}.zip"
    upload_id = aws.create_multipart_upload(BUCKET, key)
    aws.client("s3").upload_part(
        Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * PART
    )
    calls = Calls(aws)
    uploader = Uploader(aws, part_size=PART, jobs=2, sleep=no_sleep)
    result = upload_archive(aws, INFRA, big, uploader=uploader)
    assert sorted(calls.parts) == [1, 2] and result.reused_parts == 0
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == big.sha256


def test_server_refuses_a_part_whose_checksum_does_not_match(aws: AwsClient) -> None:
    key = "sources/app/dev/corrupt.zip"
    upload_id = aws.create_multipart_upload(BUCKET, key)
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    with pytest.raises(AwsError) as info:
        aws.upload_part(BUCKET, key, upload_id, 1, b"x" * 1000, wrong)
    assert info.value.code == "BadDigest"
    aws.abort_multipart_upload(BUCKET, key, upload_id)
