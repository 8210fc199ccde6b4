"""Every call a bootstrap or destroy plan can hold names a real AwsClient method it can bind to.

The plans are pure (``bootstrap.plan`` from an ``Observed``, ``destroy.deletions``
from a ``Remains``), so the scenarios below drive them without AWS; together they
produce every member of ``Write``, and each produced call's params are bound to
the method's signature as ``execute`` would call it.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.infra import bootstrap as b
from cbdeploy.client.infra.calls import Call, Write
from cbdeploy.client.infra.destroy import Remains, RoleRemains, deletions
from cbdeploy.client.infra.model import BASE_POLICY, StageSettings
from cbdeploy.client.infra.names import stage_names

TAGS = {"cbdeploy:app": "app", "cbdeploy:stage": "dev"}
SETTINGS = StageSettings(
    name="app",
    stage="dev",
    policies=("arn:aws:iam::123456789012:policy/deploy",),
    secrets=("ssm:/app/db",),
    repositories=("cbdeploy/app/dev/web",),
)
NAMES = stage_names("app", "dev", account="123456789012", region="eu-west-1")


def _nothing_exists() -> tuple[Call, ...]:
    return b.plan(SETTINGS, NAMES, b.Observed(bucket_exists=False))


def _everything_drifted() -> tuple[Call, ...]:
    observed = b.Observed(
        bucket_exists=True,
        log_group={"logGroupName": NAMES.log_group, "retentionInDays": 1},
        log_group_tags=TAGS,
        role={
            "Arn": NAMES.role_arn,
            "AssumeRolePolicyDocument": {"Statement": []},
            "Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()],
        },
        attached_policies=("arn:aws:iam::aws:policy/Stale",),
        base_policy={"Statement": []},
        project={"name": NAMES.project, "tags": [{"key": k, "value": v} for k, v in TAGS.items()]},
    )
    return b.plan(SETTINGS, NAMES, observed)


def _destroy_everything() -> tuple[Call, ...]:
    remains = Remains(
        project={"name": NAMES.project},
        running_builds=(f"{NAMES.project}:1",),
        roles=(
            RoleRemains(
                NAMES.role, ("arn:aws:iam::123456789012:policy/deploy",), (BASE_POLICY,)
            ),
            RoleRemains(NAMES.batch_role, (), ("cbdeploy-batch",)),
        ),
        log_group={"logGroupName": NAMES.log_group},
        bucket_exists=True,
    )
    return deletions(NAMES, remains, everything=True)


def _destroy_the_stage_and_its_records() -> tuple[Call, ...]:
    keys = (f"{NAMES.state_prefix}deployed/api.json", f"{NAMES.state_prefix}deployed/web.json")
    remains = Remains(project=None, running_builds=(), roles=(), log_group=None,
                      bucket_exists=False, records=keys)
    calls = deletions(NAMES, remains)
    assert [(c.method, dict(c.params)) for c in calls] == [
        (Write.DELETE_OBJECTS, {"bucket": NAMES.bucket, "keys": keys})]
    assert calls[0].what == (f"Delete the stage's 2 deploy records in "
                             f"{NAMES.bucket}/{NAMES.state_prefix}")
    return calls


def every_planned_call() -> list[Call]:
    return [*_nothing_exists(), *_everything_drifted(), *_destroy_everything(),
            *_destroy_the_stage_and_its_records()]


@pytest.mark.parametrize("write", list(Write), ids=lambda w: w.value)
def test_every_write_is_an_aws_client_method(write: Write) -> None:
    assert callable(getattr(AwsClient, write.value, None))


def test_the_scenarios_produce_every_write() -> None:
    assert {call.method for call in every_planned_call()} == set(Write)


@pytest.mark.parametrize("call", every_planned_call(), ids=lambda c: c.what)
def test_every_planned_call_binds_to_its_method(call: Call) -> None:
    signature = inspect.signature(getattr(AwsClient, call.method.value))
    bound: Any = signature.bind(None, **call.params)  # (None stands for self)
    assert set(bound.arguments) - {"self", "settings"} <= set(call.params)


def test_a_call_naming_no_method_is_refused_when_planned() -> None:
    with pytest.raises(ValueError, match="create_bukket"):
        Call("create_bukket", {}, "typo")  # type: ignore[arg-type]


def test_a_call_given_a_name_holds_the_member() -> None:
    call = Call("create_bucket", {"bucket": "b"}, "Create bucket b")  # type: ignore[arg-type]
    assert call.method is Write.CREATE_BUCKET
