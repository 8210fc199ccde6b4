"""bootstrap, upload and destroy survive throttles, 5xx and dropped connections.

A second endpoint with the emulator's seeded fault injection (a quarter of the
requests fail); botocore's standard retries and the door's idempotent creates
and deletes must carry every step through.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.deploy.upload import Uploader, upload_archive
from cbdeploy.client.infra import bootstrap as b
from cbdeploy.client.infra.calls import execute
from cbdeploy.client.infra.destroy import plan_destroy
from cbdeploy.client.infra.model import StageSettings


@dataclass(frozen=True)
class FakeArchive:
    path: Path
    sha256: str
    size: int


@pytest.fixture
def faulty_url(emulator_url: str, aws_env: None, emulator_credentials: Any) -> Iterator[str]:
    import cbdeploy.emulator as emulator

    with emulator.running(fault_rate=0.25, fault_seed=11, credentials=emulator_credentials) as url:
        yield url


def test_bootstrap_upload_destroy_with_faults(faulty_url: str, tmp_path: Path) -> None:
    region = "eu-west-3"
    aws = AwsClient(boto3.session.Session(region_name=region), region, endpoint_url=faulty_url)
    settings = StageSettings(name="faulty", stage="dev")
    infra = b.bootstrap(aws, settings, sleep=lambda _: None)
    assert aws.get_project(infra.project) is not None
    assert b.bootstrap(aws, settings).changes == ()

    data = os.urandom(11 * 1024 * 1024)
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    archive = FakeArchive(path, hashlib.sha256(data).hexdigest(), len(data))
    uploader = Uploader(aws, part_size=5 * 1024 * 1024, sleep=lambda _: None)
    result = upload_archive(aws, infra, archive, uploader=uploader)
    body = aws.call("s3", "get_object", Bucket=infra.bucket, Key=result.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == archive.sha256

    execute(aws, plan_destroy(aws, "faulty", "dev", everything=True))
    assert plan_destroy(aws, "faulty", "dev", everything=True) == ()
