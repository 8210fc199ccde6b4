"""One stage's role reaches none of another stage's objects (issue 10, items 10 and 11).

The emulator's IAM (moto) stores policies but does not enforce them, so the
test reads the policy documents bootstrap wrote to IAM and evaluates them
itself with tests/iam_policy.py (IAM's rules: an action or resource matches an ``Allow`` when its
pattern matches, ``*`` standing for any run of characters (``:`` and ``/``
included) and ``?`` for exactly one, case-sensitive for ARNs).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.infra import bootstrap as b
from cbdeploy.client.infra.model import StageSettings
from cbdeploy.client.infra.names import Names, stage_names
from tests.iam_policy import allows as iam_allows

ACCOUNT = "123456789012"
REGION = "ca-west-1"


def allows(policies: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether ``policies`` grant ``action`` on ``resource`` (tests/iam_policy.py's evaluator;
    cbdeploy writes no Deny, NotAction, NotResource or Condition: checked here too)."""
    policies = list(policies)
    for policy in policies:
        statements = policy["Statement"]
        for statement in [statements] if isinstance(statements, dict) else statements:
            assert statement["Effect"] == "Allow" and "NotAction" not in statement
            assert "NotResource" not in statement and "Condition" not in statement
    return iam_allows(policies, action, resource)


def reachable(names: Names) -> list[tuple[str, str]]:
    """(action, ARN) pairs a build of the stage needs: the ones to keep from other stages."""
    bucket = f"arn:aws:s3:::{names.bucket}"
    group = f"arn:aws:logs:{names.region}:{ACCOUNT}:log-group:{names.log_group}"
    return [
        ("s3:GetObject", f"{bucket}/{names.sources_prefix}0123abcd.zip"),
        ("s3:GetObjectVersion", f"{bucket}/{names.sources_prefix}0123abcd.zip"),
        ("s3:GetObject", f"{bucket}/{names.cache_prefix}cache.tgz"),
        ("s3:PutObject", f"{bucket}/{names.cache_prefix}cache.tgz"),
        ("logs:CreateLogStream", group),
        ("logs:PutLogEvents", f"{group}:log-stream:{names.stage}/0b7c7a56-1d1e"),
        ("logs:PutLogEvents", f"{group}:log-stream:{names.stage}"),
    ]


def secret_arns(name: str) -> list[str]:
    return [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"]


@pytest.fixture
def policies_of(emulator_url: str, aws_env: None, boto_client: Callable[..., Any]) -> Callable[
    [StageSettings], list[dict[str, Any]]
]:
    """Bootstrap the stage on the emulator, then read back every inline policy of its role."""
    iam = boto_client("iam")

    def bootstrap(settings: StageSettings) -> list[dict[str, Any]]:
        aws = AwsClient(boto3.session.Session(region_name=REGION), REGION, endpoint_url=emulator_url)
        b.bootstrap(aws, settings, sleep=lambda _: None)
        role = stage_names(settings.name, settings.stage, account=ACCOUNT, region=REGION).role
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        return [
            iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        ]

    return bootstrap


def test_no_stage_role_reaches_another_stages_sources_cache_or_logs(
    policies_of: Callable[[StageSettings], list[dict[str, Any]]],
) -> None:
    app = f"i{uuid.uuid4().hex[:6]}"
    # Stages of one app, and apps whose names run into each other's.
    pairs = [(app, "prod"), (app, "pr-42"), (app, "prod-2"), (app, "p"),
             (f"{app}-x", "prod"), (app, "x-prod")]
    settings = {pair: StageSettings(name=pair[0], stage=pair[1],
                                      cache={"type": "S3"}) for pair in pairs}
    documents = {pair: policies_of(s) for pair, s in settings.items()}
    names = {pair: stage_names(*pair, account=ACCOUNT, region=REGION) for pair in pairs}

    for pair in pairs:  # each role reaches its own stage (else the check below proves nothing)
        for action, arn in reachable(names[pair]):
            assert allows(documents[pair], action, arn), (pair, action, arn)
    for mine, theirs in itertools.permutations(pairs, 2):
        for action, arn in reachable(names[theirs]):
            assert not allows(documents[mine], action, arn), (mine, "reaches", action, arn)


def test_roles_get_exactly_the_secrets_they_reference(
    policies_of: Callable[[StageSettings], list[dict[str, Any]]],
) -> None:
    app = f"s{uuid.uuid4().hex[:6]}"
    prod = StageSettings(name=app, stage="prod", secrets=(
        f"ssm:/{app}/prod/db", f"secretsmanager:{app}/prod/token:apiToken"))
    pr = StageSettings(name=app, stage="pr-42", secrets=(f"ssm:/{app}/pr/db",))
    prod_docs, pr_docs = policies_of(prod), policies_of(pr)

    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{app}/prod/db"
    assert allows(prod_docs, "ssm:GetParameters", parameter)
    assert not allows(pr_docs, "ssm:GetParameters", parameter)
    for arn in secret_arns(f"{app}/prod/token"):
        assert allows(prod_docs, "secretsmanager:GetSecretValue", arn)
        assert not allows(pr_docs, "secretsmanager:GetSecretValue", arn)
    # Neither a neighbouring secret nor a parameter below the referenced one.
    for other in (f"{app}/prod/token-2", f"{app}/prod/tokens", f"{app}/prod", f"{app}/prod/x"):
        for arn in secret_arns(other):
            assert not allows(prod_docs, "secretsmanager:GetSecretValue", arn), arn
    for other in (f"{app}/prod/db2", f"{app}/prod/db/x", f"{app}/prod"):
        arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{other}"
        assert not allows(prod_docs, "ssm:GetParameters", arn), arn


def test_the_evaluator_follows_iam_wildcards() -> None:
    """The checks above are only as good as this matcher."""
    policy = {"Statement": [{"Effect": "Allow", "Action": ["s3:Get*"],
                             "Resource": ["arn:aws:s3:::b/cache/a/*", "arn:aws:x:::n-??????"]}]}
    assert allows([policy], "s3:GetObject", "arn:aws:s3:::b/cache/a/p/q:r")
    assert allows([policy], "S3:getobject", "arn:aws:s3:::b/cache/a/")
    assert not allows([policy], "s3:PutObject", "arn:aws:s3:::b/cache/a/x")
    assert not allows([policy], "s3:GetObject", "arn:aws:s3:::b/cache/a")
    assert not allows([policy], "s3:GetObject", "arn:aws:s3:::b/cache/A/x")
    assert allows([policy], "s3:GetObject", "arn:aws:x:::n-AbCdEf")
    assert not allows([policy], "s3:GetObject", "arn:aws:x:::n-AbCdEfG")
