"""bootstrap's planner: from settings and observed state to the writes (pure, no AWS)."""

from __future__ import annotations

import dataclasses

import pytest

from client import bootstrap as b
from client.errors import ConfigError

SETTINGS = b.StageSettings(
    name="app",
    stage="dev",
    policies=("arn:aws:iam::123456789012:policy/deploy",),
    secrets=("ssm:/app/db", "secretsmanager:app/token:apiToken"),
)
NAMES = b.Names(
    account="123456789012",
    region="eu-west-1",
    partition="aws",
    bucket="cbdeploy-123456789012-eu-west-1",
    log_group="/cbdeploy/app",
    role="cbdeploy-app-dev-eu-west-1",
    project="cbdeploy-app-dev",
)


def up_to_date(settings: b.StageSettings = SETTINGS) -> b.Observed:
    """What AWS reports after a bootstrap, with the extra keys AWS adds."""
    project = b.project_settings(settings, NAMES)
    project["environment"] = dict(project["environment"], imagePullCredentialsType="CODEBUILD")
    project["arn"] = "arn:aws:codebuild:eu-west-1:123456789012:project/cbdeploy-app-dev"
    return b.Observed(
        bucket_exists=True,
        public_access_block=dict(b.PUBLIC_ACCESS_BLOCK),
        encryption=(
            {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BucketKeyEnabled": False,
            },
        ),
        bucket_policy=b.bucket_policy(NAMES),
        lifecycle=tuple(b.LIFECYCLE_RULES),
        log_group={"logGroupName": "/cbdeploy/app", "retentionInDays": 30},
        role={"Arn": NAMES.role_arn, "AssumeRolePolicyDocument": b.TRUST_POLICY},
        attached_policies=SETTINGS.policies,
        base_policy=b.base_role_policy(settings, NAMES),
        project=project,
    )


def methods(calls: tuple[b.Call, ...]) -> list[str]:
    return [c.method for c in calls]


def test_nothing_to_do_when_up_to_date() -> None:
    assert b.plan(SETTINGS, NAMES, up_to_date()) == ()


def test_everything_created_in_order_from_nothing() -> None:
    calls = b.plan(SETTINGS, NAMES, b.Observed(bucket_exists=False))
    assert methods(calls) == [
        "create_bucket",
        "put_public_access_block",
        "put_bucket_encryption",
        "put_bucket_policy",
        "put_bucket_lifecycle",
        "create_log_group",
        "put_retention",
        "create_role",
        "put_inline_policy",
        "attach_policy",
        "create_project",
    ]
    project = calls[-1]
    assert project.waits_for_role
    assert project.params["concurrentBuildLimit"] == 1
    assert project.params["source"]["type"] == "NO_SOURCE"
    assert project.params["logsConfig"]["cloudWatchLogs"] == {
        "status": "ENABLED",
        "groupName": "/cbdeploy/app",
        "streamName": "dev",
    }
    assert (
        project.params["serviceRole"] == "arn:aws:iam::123456789012:role/cbdeploy-app-dev-eu-west-1"
    )


def test_changed_compute_type_updates_only_the_project() -> None:
    changed = dataclasses.replace(SETTINGS, compute_type="BUILD_GENERAL1_LARGE")
    calls = b.plan(changed, NAMES, up_to_date())
    assert methods(calls) == ["update_project"]
    assert calls[0].params["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"
    assert not calls[0].waits_for_role  # the role exists: no IAM propagation to wait for


def test_policies_follow_the_config() -> None:
    changed = dataclasses.replace(SETTINGS, policies=("arn:aws:iam::123456789012:policy/other",))
    calls = b.plan(changed, NAMES, up_to_date())
    assert [(c.method, c.params["arn"]) for c in calls] == [
        ("attach_policy", "arn:aws:iam::123456789012:policy/other"),
        ("detach_policy", "arn:aws:iam::123456789012:policy/deploy"),
    ]


def test_unknown_policy_is_a_config_error_before_any_write() -> None:
    observed = dataclasses.replace(up_to_date(), missing_policies=("arn:aws:iam::aws:policy/Nope",))
    with pytest.raises(ConfigError, match="Nope"):
        b.plan(SETTINGS, NAMES, observed)


def test_other_policy_statements_and_lifecycle_rules_are_kept() -> None:
    foreign = {
        "Sid": "Theirs",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "x",
    }
    rule = {
        "ID": "theirs",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 5},
    }
    observed = dataclasses.replace(
        up_to_date(),
        bucket_policy={"Version": "2012-10-17", "Statement": [foreign]},
        lifecycle=(rule,),
    )
    calls = {c.method: c for c in b.plan(SETTINGS, NAMES, observed)}
    assert set(calls) == {"put_bucket_policy", "put_bucket_lifecycle"}
    assert calls["put_bucket_policy"].params["policy"]["Statement"][0] == foreign
    assert calls["put_bucket_policy"].params["policy"]["Statement"][1]["Sid"] == b.TLS_ONLY_SID
    assert calls["put_bucket_lifecycle"].params["rules"] == [rule, *b.LIFECYCLE_RULES]


def test_kms_encryption_chosen_by_the_owner_is_kept() -> None:
    kms = (
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}},
    )
    assert b.plan(SETTINGS, NAMES, dataclasses.replace(up_to_date(), encryption=kms)) == ()


def test_base_policy_grants_only_what_the_build_needs() -> None:
    statements = {s["Sid"]: s for s in b.base_role_policy(SETTINGS, NAMES)["Statement"]}
    assert statements["Sources"]["Resource"] == [
        "arn:aws:s3:::cbdeploy-123456789012-eu-west-1/sources/app/*"
    ]
    assert statements["Parameters"]["Resource"] == [
        "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db"
    ]
    assert statements["Secrets"]["Resource"] == [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/token-??????"
    ]
    assert "EcrLogin" not in statements


def test_long_role_names_fit_iam() -> None:
    name = b.role_name("a" * 60, "production", "ap-southeast-2")
    assert len(name) == 64 and name != b.role_name("a" * 59 + "b", "production", "ap-southeast-2")


def test_tls_only_policy_denies_plain_http() -> None:
    assert b.bucket_policy(NAMES)["Statement"] == [
        {
            "Sid": "cbdeployDenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::cbdeploy-123456789012-eu-west-1",
                "arn:aws:s3:::cbdeploy-123456789012-eu-west-1/*",
            ],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_no_tls_only_policy_on_a_plain_http_endpoint() -> None:
    """On http (the local emulator) the policy would refuse cbdeploy's own requests."""
    local = dataclasses.replace(NAMES, tls=False)
    calls = b.plan(SETTINGS, local, b.Observed(bucket_exists=False))
    assert "put_bucket_policy" not in methods(calls)
