"""When a deploy's stage reads go out (issue 16, target 4: the time to StartBuild).

Bootstrap's reads that depend on another go out as soon as that one has answered (not
once the whole first round has), and the base's HeadObject goes out once HeadBucket has
answered, alongside bootstrap's second round, not after it. What is read, what is found
and which error comes first stay as they were. Against the emulator over loopback; a
read is held back (a subclass of the door waiting on an event) to see what goes out
while it is pending.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.deploy.delta import BaseStore
from cbdeploy.client.deploy.preamble import read_stage
from cbdeploy.client.errors import AwsError
from cbdeploy.client.infra.bootstrap import bootstrap, named_infrastructure, observe
from cbdeploy.client.infra.model import StageSettings, names_for
from cbdeploy.client.packaging.tree import FileRecord, Tree, tree_hash

REGION = "us-east-1"
HOLD = 10.0  # seconds a held read waits for what should go out meanwhile (far more than needed)
RECORDS = (FileRecord("a.txt", "f", 1, hashlib.sha256(b"a").hexdigest()),)
TREE = Tree(RECORDS, tree_hash(RECORDS))


class HeldDoor(AwsClient):
    """The door, with ``held`` (a method name) answering only once every one of
    ``awaited`` has been called (or HOLD has passed); ``before_answer`` says which of
    them were called before it answered."""

    held = ""
    awaited: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[str] = []
        self.before_answer: set[str] = set()
        self._lock = threading.Lock()
        self._all = threading.Event()
        self._answered = False

    def _note(self, name: str) -> None:
        with self._lock:
            self.seen.append(name)
            if not self._answered and name in self.awaited:
                self.before_answer.add(name)
            if self.before_answer >= self.awaited:
                self._all.set()

    def _hold(self) -> None:
        self._all.wait(HOLD)

    def _release(self) -> None:
        with self._lock:
            self._answered = True


def held(door: type[HeldDoor], name: str, *awaited: str) -> type[HeldDoor]:
    """``door`` with method ``name`` held until ``awaited`` were called; every method in
    ``awaited`` (and ``name``) noted when called."""
    namespace: dict[str, Any] = {"held": name, "awaited": frozenset(awaited)}

    def noting(method: str) -> Any:
        real = getattr(AwsClient, method)

        def call(self: HeldDoor, *args: Any, **kwargs: Any) -> Any:
            self._note(method if method != "get_inline_policy" else f"{method}:{args[0]}")
            if method != name:
                return real(self, *args, **kwargs)
            self._hold()
            try:
                return real(self, *args, **kwargs)
            finally:
                self._release()

        return call

    for method in {name, *(a.split(":")[0] for a in awaited)}:
        namespace[method] = noting(method)
    return type(f"Held{name}", (door,), namespace)


@pytest.fixture
def stage(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> StageSettings:
    """A bootstrapped stage of its own."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    settings = StageSettings(name=f"r{uuid.uuid4().hex[:10]}", stage="dev")
    bootstrap(AwsClient(boto3.session.Session(region_name=REGION), REGION), settings)
    return settings


def door(kind: type[AwsClient]) -> Any:
    return kind(boto3.session.Session(region_name=REGION), REGION)


def test_a_second_round_read_goes_out_once_the_read_it_depends_on_has_answered(
    stage: StageSettings,
) -> None:
    """The log group's answer held back: the bucket's and the role's own reads are made
    meanwhile (they depend on HeadBucket and GetRole only), and the batch role's policy
    while the role's attached policies are still pending. The answers are the same."""
    plain = door(AwsClient)
    names = names_for(plain, stage.name, stage.stage)
    expected = observe(plain, stage, names)
    bucket_and_role = ("get_public_access_block", "get_bucket_encryption", "get_bucket_policy",
                       "get_bucket_lifecycle", "attached_policies",
                       f"get_inline_policy:{names.role}")
    aws = door(held(HeldDoor, "get_log_group", *bucket_and_role))
    assert observe(aws, stage, names) == expected
    assert aws.before_answer == set(bucket_and_role), aws.seen

    aws = door(held(HeldDoor, "attached_policies", f"get_inline_policy:{names.batch_role}"))
    assert observe(aws, stage, names) == expected
    assert aws.before_answer == {f"get_inline_policy:{names.batch_role}"}, aws.seen


def test_the_base_is_asked_for_alongside_bootstraps_second_round(
    stage: StageSettings, tmp_path: Path
) -> None:
    """A delta's base: the local record's HeadObject goes out while bootstrap's reads are
    still pending (the role's inline policy held back), and the base found is the one the
    record names, with the bucket's LastModified, as :meth:`BaseStore.find` finds it."""
    plain = door(AwsClient)
    infra = named_infrastructure(names_for(plain, stage.name, stage.stage))
    key = f"{infra.sources_prefix}{'ab' * 32}.zip"
    plain.put_object(infra.bucket, key, b"zip", _b64(b"zip"))
    BaseStore(plain, infra, tmp_path).publish(key, TREE)
    expected = BaseStore(plain, infra, tmp_path).find()
    assert expected is not None and expected.key == key

    aws = door(held(HeldDoor, "get_inline_policy", "head_object"))
    reads = read_stage(aws, stage, tmp_path, delta=True)
    assert aws.before_answer == {"head_object"}, aws.seen
    assert reads.base == expected and reads.store is not None
    assert reads.surveyed.observed.bucket_exists


def test_no_bucket_no_base_and_no_head_object(
    emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A local record of a bucket that is gone: the deploy plans a new base, asking S3
    nothing about the record's base (as before: the base is looked for in a bucket only)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    settings = StageSettings(name=f"r{uuid.uuid4().hex[:10]}", stage="dev")
    plain = door(AwsClient)
    infra = named_infrastructure(names_for(plain, settings.name, settings.stage))
    key = f"{infra.sources_prefix}{'cd' * 32}.zip"
    BaseStore(plain, infra, tmp_path)._remember({"key": key, "filesSha256": "0" * 64,
                                                  "tree": TREE.hash}, TREE)
    assert any(tmp_path.iterdir())
    monkeypatch.setattr(plain, "bucket_exists", lambda bucket: False)  # (the bucket is shared)
    asked: list[str] = []
    monkeypatch.setattr(plain, "head_object", lambda *args: asked.append("head") or None)
    reads = read_stage(plain, settings, tmp_path, delta=True)
    assert not reads.surveyed.observed.bucket_exists
    assert reads.store is None and reads.base is None and asked == []


def test_a_failing_bootstrap_read_is_raised_before_the_base(
    stage: StageSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bootstrap's error is the one raised (the base's HeadObject, made meanwhile, is
    not told), as when the base was looked for after bootstrap's reads."""
    aws = door(AwsClient)
    infra = named_infrastructure(names_for(aws, stage.name, stage.stage))
    key = f"{infra.sources_prefix}{'ef' * 32}.zip"
    BaseStore(aws, infra, tmp_path)._remember({"key": key, "filesSha256": "0" * 64,
                                                "tree": TREE.hash}, TREE)

    def refused(*_: Any) -> Any:
        raise AwsError("GetRole refused", "hint", code="AccessDenied")

    monkeypatch.setattr(aws, "get_role", refused)
    with pytest.raises(AwsError, match="GetRole refused"):
        read_stage(aws, stage, tmp_path, delta=True)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()
