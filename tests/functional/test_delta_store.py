"""The stage's bases in the bucket: publish, find again (record or pointer), keep alive.

Against the emulator over loopback (moto's S3 behind it, which stores the SHA-256
checksums we send and the endpoint verifies).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.deploy.delta import POINTER, Base, BaseStore, files_key
from cbdeploy.client.infra.bootstrap import Infrastructure
from cbdeploy.client.packaging.tree import FileRecord, Tree, tree_hash

BUCKET = f"delta-test-{uuid.uuid4().hex[:12]}"
INFRA = Infrastructure(
    BUCKET, "arn:aws:iam::123456789012:role/r", "/cbdeploy/app/dev", "cbdeploy-app_dev",
    sources_prefix="sources/app/dev/",
)
KEY = "sources/app/dev/" + "ab" * 32 + ".zip"
RECORDS = (FileRecord("a.txt", "f", 1, hashlib.sha256(b"a").hexdigest()),)
TREE = Tree(RECORDS, tree_hash(RECORDS))


@pytest.fixture
def aws(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> AwsClient:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    client = AwsClient(boto3.session.Session(region_name="us-east-1"), "us-east-1")
    if not client.bucket_exists(BUCKET):
        client.create_bucket(BUCKET)
    client.put_object(BUCKET, KEY, b"zip", _b64(b"zip"))
    return client


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def owners(aws: AwsClient) -> dict[str, set[Any]]:
    seen: dict[str, set[Any]] = {}

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.setdefault(model.name, set()).add(params.get("ExpectedBucketOwner"))

    aws.client("s3").meta.events.register("provide-client-params.s3", note)
    return seen


def test_a_published_base_is_found_by_a_fresh_clone_through_the_pointer(
    aws: AwsClient, tmp_path: Path
) -> None:
    seen = owners(aws)
    BaseStore(aws, INFRA, tmp_path / "laptop").publish(KEY, TREE)
    found = BaseStore(aws, INFRA, tmp_path / "fresh-clone").find()
    assert found is not None and found.key == KEY and found.tree == TREE
    assert found.last_modified is not None
    assert (tmp_path / "fresh-clone").is_dir()  # the pointer's answer is remembered
    assert aws.head_object(BUCKET, files_key(KEY)) is not None
    assert aws.head_object(BUCKET, INFRA.sources_prefix + POINTER) is not None
    assert all(values == {"123456789012"} for values in seen.values()), seen


def test_an_expired_base_is_not_found(aws: AwsClient, tmp_path: Path) -> None:
    store = BaseStore(aws, INFRA, tmp_path / "laptop")
    store.publish(KEY, TREE)
    aws.client("s3").delete_object(Bucket=BUCKET, Key=KEY)
    assert store.find() is None
    assert BaseStore(aws, INFRA, tmp_path / "fresh").find() is None


def test_an_old_base_in_use_gets_its_lifecycle_clock_restarted(
    aws: AwsClient, tmp_path: Path
) -> None:
    BaseStore(aws, INFRA, tmp_path / "a").publish(KEY, TREE)
    found = BaseStore(aws, INFRA, tmp_path / "b").find()
    assert found is not None and found.last_modified is not None
    young = BaseStore(aws, INFRA, tmp_path / "b", now=lambda: found.last_modified)
    assert young.keep_alive(found) is False
    later = BaseStore(aws, INFRA, tmp_path / "b",
                      now=lambda: found.last_modified + dt.timedelta(days=8))
    copies: list[str] = []
    aws.client("s3").meta.events.register(
        "provide-client-params.s3.CopyObject", lambda params, **_: copies.append(params["Key"])
    )
    assert later.keep_alive(found) is True
    assert copies == [KEY, files_key(KEY)]
    assert aws.client("s3").get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"zip"


def test_the_local_record_is_read_without_parsing_the_file_list_again(
    aws: AwsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record holds the parsed list (issue 16, target 4: parsing and checking babel's
    list took a tenth of a second each deploy): with the JSON parser out of order, the
    record still gives the same base; a fresh clone, which reads the bucket's list, does
    not."""
    import cbdeploy.client.deploy.delta as delta_module

    BaseStore(aws, INFRA, tmp_path / "laptop").publish(KEY, TREE)

    def no_parsing(_document: bytes) -> Tree:
        raise ValueError("parsed")

    monkeypatch.setattr(delta_module, "parse_document", no_parsing)
    found = BaseStore(aws, INFRA, tmp_path / "laptop").find()
    assert found is not None and (found.key, found.tree) == (KEY, TREE)
    assert found.files_sha256 == hashlib.sha256(TREE.document()).hexdigest()
    assert BaseStore(aws, INFRA, tmp_path / "fresh-clone").find() is None


def test_a_record_of_an_older_version_is_replaced_from_the_pointer(
    aws: AwsClient, tmp_path: Path
) -> None:
    store = BaseStore(aws, INFRA, tmp_path / "laptop")
    store.publish(KEY, TREE)
    store.record.write_bytes(b'{"pointer": {}, "files": ""}')  # not this version's
    found = BaseStore(aws, INFRA, tmp_path / "laptop").find()
    assert found is not None and found.tree == TREE
    assert BaseStore(aws, INFRA, tmp_path / "laptop")._local() == Base(
        KEY, found.files_sha256, TREE)
