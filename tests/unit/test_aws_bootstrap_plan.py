"""bootstrap's planner: from settings and observed state to the writes (pure, no AWS)."""

from __future__ import annotations

import dataclasses

import pytest

from cbdeploy.client.errors import ConfigError, OwnershipError
from cbdeploy.client.infra import batch
from cbdeploy.client.infra import bootstrap as b
from cbdeploy.client.infra.calls import Call, Change
from cbdeploy.client.infra.model import (
    LIFECYCLE_RULES,
    PUBLIC_ACCESS_BLOCK,
    TLS_ONLY_SID,
    TRUST_POLICY,
    StageSettings,
    base_role_policy,
    bucket_policy,
    project_settings,
)
from cbdeploy.client.infra.names import role_name, stage_names

SETTINGS = StageSettings(
    name="app",
    stage="dev",
    policies=("arn:aws:iam::123456789012:policy/deploy",),
    secrets=("ssm:/app/db", "secretsmanager:app/token:apiToken"),
)
NAMES = stage_names("app", "dev", account="123456789012", region="eu-west-1")
TAGS = {"cbdeploy:app": "app", "cbdeploy:stage": "dev"}


def up_to_date(settings: StageSettings = SETTINGS) -> b.Observed:
    """What AWS reports after a bootstrap, with the extra keys AWS adds."""
    project = project_settings(settings, NAMES)
    project["environment"] = dict(project["environment"], imagePullCredentialsType="CODEBUILD")
    project["arn"] = "arn:aws:codebuild:eu-west-1:123456789012:project/cbdeploy-app_dev"
    project["tags"] = [{"key": "cbdeploy:stage", "value": "dev"}, {"key": "cbdeploy:app", "value": "app"}]
    return b.Observed(
        bucket_exists=True,
        public_access_block=dict(PUBLIC_ACCESS_BLOCK),
        encryption=(
            {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BucketKeyEnabled": False,
            },
        ),
        bucket_policy=bucket_policy(NAMES),
        lifecycle=tuple(LIFECYCLE_RULES),
        log_group={"logGroupName": "/cbdeploy/app/dev", "retentionInDays": 30},
        log_group_tags={**TAGS, "team": "web"},
        role={
            "Arn": NAMES.role_arn,
            "AssumeRolePolicyDocument": TRUST_POLICY,
            "Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()],
        },
        attached_policies=SETTINGS.policies,
        base_policy=base_role_policy(settings, NAMES),
        project=project,
        batch_role={
            "Arn": NAMES.batch_role_arn,
            "AssumeRolePolicyDocument": batch.BATCH_TRUST_POLICY,
            "Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()],
        },
        batch_policy=batch.batch_role_policy(NAMES),
    )


def methods(calls: tuple[Call, ...]) -> list[str]:
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
        "create_role",
        "put_inline_policy",
        "create_project",
    ]
    project = calls[-1]
    assert project.waits_for_role
    assert project.params["concurrentBuildLimit"] == 1
    assert project.params["source"]["type"] == "NO_SOURCE"
    assert project.params["logsConfig"]["cloudWatchLogs"] == {
        "status": "ENABLED",
        "groupName": "/cbdeploy/app/dev",
        "streamName": "dev",
    }
    assert (
        project.params["serviceRole"] == "arn:aws:iam::123456789012:role/cbdeploy-app_dev-eu-west-1"
    )
    # Every per-stage resource is created with its owner's tags.
    assert project.params["tags"] == [
        {"key": "cbdeploy:app", "value": "app"},
        {"key": "cbdeploy:stage", "value": "dev"},
    ]
    by_method = {c.method: c for c in calls}
    assert by_method["create_role"].params["tags"] == TAGS
    assert by_method["create_log_group"].params["tags"] == TAGS


def test_changed_compute_type_updates_only_the_project() -> None:
    changed = dataclasses.replace(SETTINGS, compute_type="BUILD_GENERAL1_LARGE")
    calls = b.plan(changed, NAMES, up_to_date())
    assert methods(calls) == ["update_project"]
    assert calls[0].params["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"
    assert not calls[0].waits_for_role  # the role exists: no IAM propagation to wait for


def test_each_call_says_what_it_changes_field_by_field() -> None:
    """What ``bootstrap --dry-run`` shows: old → new, statements in and out, new tags."""
    changed = dataclasses.replace(SETTINGS, compute_type="BUILD_GENERAL1_LARGE",
                                  log_retention_days=90, secrets=("ssm:/app/db",))
    calls = {c.method: c for c in b.plan(changed, NAMES, up_to_date())}
    assert calls["update_project"].changes == (
        Change("environment.computeType", "BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_LARGE"),
    )
    assert calls["put_retention"].changes == (Change("retentionInDays", 30, 90),)
    policy = calls["put_inline_policy"].changes
    assert [(c.old is None, c.new is None) for c in policy] == [(False, True)]  # one goes
    assert "secretsmanager:GetSecretValue" in str(policy[0].old)  # the token's grant goes
    created = {c.method: c for c in b.plan(SETTINGS, NAMES, b.Observed(bucket_exists=False))}
    assert created["create_log_group"].changes == (
        Change("tags.cbdeploy:app", None, "app"), Change("tags.cbdeploy:stage", None, "dev"),
    )
    # (Not part of the call: a plan compares equal whatever it says to people.)
    assert calls["put_retention"] == dataclasses.replace(calls["put_retention"], changes=())


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
    assert calls["put_bucket_policy"].params["policy"]["Statement"][1]["Sid"] == TLS_ONLY_SID
    assert calls["put_bucket_lifecycle"].params["rules"] == [rule, *LIFECYCLE_RULES]


def test_kms_encryption_chosen_by_the_owner_is_kept() -> None:
    kms = (
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}},
    )
    assert b.plan(SETTINGS, NAMES, dataclasses.replace(up_to_date(), encryption=kms)) == ()


def test_base_policy_grants_only_what_the_build_needs() -> None:
    statements = {s["Sid"]: s for s in base_role_policy(SETTINGS, NAMES)["Statement"]}
    assert statements["Sources"]["Resource"] == [
        "arn:aws:s3:::cbdeploy-123456789012-eu-west-1/sources/app/dev/*"
    ]
    assert statements["Cache"]["Resource"] == [
        "arn:aws:s3:::cbdeploy-123456789012-eu-west-1/cache/app/dev/*"
    ]
    assert statements["Logs"]["Resource"] == [
        "arn:aws:logs:eu-west-1:123456789012:log-group:/cbdeploy/app/dev",
        "arn:aws:logs:eu-west-1:123456789012:log-group:/cbdeploy/app/dev:log-stream:*",
    ]
    assert statements["Parameters"]["Resource"] == [
        "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db"
    ]
    assert statements["Secrets"]["Resource"] == [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/token-??????"
    ]
    assert "EcrLogin" not in statements


def test_long_role_names_fit_iam() -> None:
    name = role_name("a" * 40, "production", "ap-southeast-2")
    assert len(name) == 64 and name != role_name("a" * 39 + "b", "production", "ap-southeast-2")


@pytest.mark.parametrize(
    ("resource", "change"),
    [
        ("project", {"project": {"name": "cbdeploy-app_dev", "tags": [
            {"key": "cbdeploy:app", "value": "other"}, {"key": "cbdeploy:stage", "value": "dev"}]}}),
        ("role", {"role": {"Arn": "x", "Tags": [
            {"Key": "cbdeploy:app", "Value": "app"}, {"Key": "cbdeploy:stage", "Value": "prod"}]}}),
        ("role", {"role": {"Arn": "x"}}),  # no tags: not provably ours
        ("log group", {"log_group_tags": {"cbdeploy:app": "app-x"}}),
    ],
)
def test_a_resource_of_another_owner_is_refused_before_any_write(
    resource: str, change: dict[str, object]
) -> None:
    observed = dataclasses.replace(up_to_date(), **change)  # type: ignore[arg-type]
    with pytest.raises(OwnershipError, match=resource) as caught:
        b.plan(dataclasses.replace(SETTINGS, compute_type="BUILD_GENERAL1_LARGE"), NAMES, observed)
    assert caught.value.exit_code == 2


def test_tls_only_policy_denies_plain_http() -> None:
    assert bucket_policy(NAMES)["Statement"] == [
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


def test_batch_role_and_configuration_are_created_least_privilege_and_tagged() -> None:
    calls = b.plan(SETTINGS, NAMES, b.Observed(bucket_exists=False))
    roles = [c for c in calls if c.method == "create_role"]
    batch_role = roles[1].params
    assert batch_role["name"] == NAMES.batch_role == "cbdeploy-app_dev-eu-west-1-batch"
    assert batch_role["tags"] == TAGS
    assert batch_role["trust_policy"]["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com"}
    policy = next(c for c in calls if c.method == "put_inline_policy" and c.params["role"] == NAMES.batch_role)
    assert policy.params["policy"] == "cbdeploy-batch"
    assert policy.params["document"]["Statement"] == [{
        "Sid": "BatchBuilds",
        "Effect": "Allow",
        "Action": ["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:RetryBuild"],
        "Resource": ["arn:aws:codebuild:eu-west-1:123456789012:project/cbdeploy-app_dev"],
    }]
    project = calls[-1]
    assert project.method == "create_project" and project.waits_for_role
    assert project.params["buildBatchConfig"] == {
        "serviceRole": "arn:aws:iam::123456789012:role/cbdeploy-app_dev-eu-west-1-batch",
        "restrictions": {"maximumBuildsAllowed": 100},
        "timeoutInMins": 480,
    }


def test_batch_role_drift_is_repaired_and_a_foreign_batch_role_refused() -> None:
    widened = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    calls = b.plan(SETTINGS, NAMES, dataclasses.replace(up_to_date(), batch_policy=widened))
    assert [(c.method, c.params["role"]) for c in calls] == [("put_inline_policy", NAMES.batch_role)]
    missing_config = dict(up_to_date().project or {})
    missing_config.pop("buildBatchConfig")
    calls = b.plan(SETTINGS, NAMES, dataclasses.replace(up_to_date(), project=missing_config))
    assert methods(calls) == ["update_project"]
    assert calls[0].params["buildBatchConfig"]["serviceRole"] == NAMES.batch_role_arn
    foreign = {"Arn": NAMES.batch_role_arn, "Tags": [{"Key": "cbdeploy:app", "Value": "other"}]}
    with pytest.raises(OwnershipError, match="-batch"):
        b.plan(SETTINGS, NAMES, dataclasses.replace(up_to_date(), batch_role=foreign))
