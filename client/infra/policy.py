"""The IAM policy the identity that runs cbdeploy needs for one app, stage and region.

A pure function of the stage's names (:mod:`~cbdeploy.client.infra.names`) and
settings (:class:`~cbdeploy.client.infra.model.StageSettings`): ``cbdeploy
policy`` prints it, and a functional test records every AWS call a deploy,
``logs`` and ``destroy`` make and checks the policy allows each one.

Every statement names its resources, except the actions AWS does not let a
policy narrow (their only resource is ``*``):

- ``sts:GetCallerIdentity`` (which needs no permission at all),
- ``ssm:DescribeParameters`` (the preflight's check that a parameter exists;
  it never reads the value),
- ``ecr:GetAuthorizationToken`` (the Docker login to ECR; only with ``[images]``),
- ``logs:DescribeLogGroups`` is narrowed to the account and region
  (``log-group:*``): AWS authorizes it on the group pattern, not on one group.

``iam:PassRole`` names exactly the stage's two roles and only for CodeBuild
(``iam:PassedToService``). The account's bucket is shared by every app: bucket
actions name the bucket, object actions stop at the stage's ``sources/``,
``cache/`` and ``state/`` prefixes. So ``destroy --all``, which empties and deletes that shared
bucket with every app's archives, is not in a stage's policy: run it with an
administrator's credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cbdeploy.client.infra.model import StageSettings
from cbdeploy.client.infra.names import Names, repository_arn

VERSION = "2012-10-17"

# Actions whose only resource is "*" (see the module docstring).
UNSCOPED = ("sts:GetCallerIdentity",)
PREFLIGHT_UNSCOPED = ("ssm:DescribeParameters",)
ECR_UNSCOPED = ("ecr:GetAuthorizationToken",)

BUCKET_ACTIONS = (
    # bootstrap: create the account's bucket and keep it private, encrypted, TLS-only
    "s3:CreateBucket",
    "s3:ListBucket",  # HeadBucket
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    # upload: resume an interrupted multipart upload
    "s3:ListBucketMultipartUploads",
)
OBJECT_ACTIONS = (
    "s3:GetObject",  # HeadObject: is this archive already uploaded?
    "s3:PutObject",  # PutObject and the multipart upload calls
    "s3:ListMultipartUploadParts",
)
LOG_GROUP_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:TagResource",  # CreateLogGroup with tags
    "logs:TagLogGroup",  # the same, as older endpoints authorize it
    "logs:ListTagsForResource",
    "logs:PutRetentionPolicy",
    "logs:DeleteLogGroup",
)
LOG_READ_ACTIONS = ("logs:GetLogEvents",)
ROLE_ACTIONS = (
    "iam:GetRole",
    "iam:CreateRole",
    "iam:TagRole",  # CreateRole with tags
    "iam:UpdateAssumeRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DeleteRole",
)
PROJECT_ACTIONS = (
    "codebuild:BatchGetProjects",
    "codebuild:CreateProject",
    "codebuild:UpdateProject",
    "codebuild:DeleteProject",
    "codebuild:StartBuild",
    "codebuild:BatchGetBuilds",
    "codebuild:StopBuild",
    "codebuild:ListBuildsForProject",
    "codebuild:BatchGetBuildBatches",
    "codebuild:StopBuildBatch",
    "codebuild:ListBuildBatchesForProject",
    "codebuild:StartBuildBatch",  # a workspace's deploy: its services as one batch
)
REPOSITORY_ACTIONS = (
    "ecr:DescribeRepositories",
    "ecr:CreateRepository",
    "ecr:TagResource",  # CreateRepository with tags
    "ecr:ListTagsForResource",
)


def _statement(sid: str, actions: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def secret_arn(reference: str, names: Names) -> str:
    """The ARN (pattern) of a ``secretsmanager:`` reference ``id[:json-key:...]``.

    ``id`` is an ARN or a name; a name's ARN ends in a random ``-??????`` suffix.
    """
    if reference.startswith("arn:"):
        return ":".join(reference.split(":")[:7])
    secret_id = reference.split(":", 1)[0]
    return f"arn:{names.partition}:secretsmanager:{names.region}:{names.account}:secret:{secret_id}-??????"


def deployer_policy(settings: StageSettings, names: Names) -> dict[str, Any]:
    """The least-privilege policy for bootstrap, deploy, logs, stop, builds and destroy
    (not ``destroy --all``: see the module docstring)."""
    p, region, account = names.partition, names.region, names.account
    bucket_arn = f"arn:{p}:s3:::{names.bucket}"
    group_arn = f"arn:{p}:logs:{region}:{account}:log-group:{names.log_group}"
    statements = [
        _statement("Identity", UNSCOPED, ["*"]),
        _statement("Bucket", BUCKET_ACTIONS, [bucket_arn]),
        _statement(
            "StageObjects",
            OBJECT_ACTIONS,
            [f"{bucket_arn}/{names.sources_prefix}*", f"{bucket_arn}/{names.cache_prefix}*",
             f"{bucket_arn}/{names.state_prefix}*"],  # a workspace's deploy records
        ),
        # destroy: the stage's records go with it (a new stage of the name starts afresh)
        _statement("StageRecords", ["s3:DeleteObject"], [f"{bucket_arn}/{names.state_prefix}*"]),
        _statement(
            "FindLogGroup",
            ["logs:DescribeLogGroups"],
            [f"arn:{p}:logs:{region}:{account}:log-group:*"],
        ),
        _statement("LogGroup", LOG_GROUP_ACTIONS, [group_arn, f"{group_arn}:*"]),
        _statement("ReadLogs", LOG_READ_ACTIONS, [f"{group_arn}:log-stream:*"]),
        _statement("Roles", ROLE_ACTIONS, [names.role_arn, names.batch_role_arn]),
        {
            **_statement("PassRoles", ["iam:PassRole"], [names.role_arn, names.batch_role_arn]),
            "Condition": {"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}},
        },
        _statement("Project", PROJECT_ACTIONS, [names.project_arn]),
    ]
    if settings.policies:
        # bootstrap checks that each policy named in [codebuild] policies exists.
        statements.append(_statement("AttachablePolicies", ["iam:GetPolicy"], settings.policies))
    secrets = sorted(
        {
            secret_arn(ref[len("secretsmanager:") :], names)
            for ref in settings.secrets
            if ref.startswith("secretsmanager:")
        }
    )
    if any(ref.startswith("ssm:") for ref in settings.secrets):
        statements.append(_statement("PreflightParameters", PREFLIGHT_UNSCOPED, ["*"]))
    if secrets:
        statements.append(
            _statement("PreflightSecrets", ["secretsmanager:DescribeSecret"], secrets)
        )
    if settings.repositories:
        statements.append(
            _statement(
                "Repositories",
                REPOSITORY_ACTIONS,
                [repository_arn(p, region, account, r) for r in settings.repositories],
            )
        )
        statements.append(_statement("RegistryLogin", ECR_UNSCOPED, ["*"]))
    return {"Version": VERSION, "Statement": statements}


def partition_of(region: str) -> str:
    """The AWS partition of ``region`` (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""
    for prefix, partition in (
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-iso-", "aws-iso"),
        ("us-isob-", "aws-iso-b"),
    ):
        if region.startswith(prefix):
            return partition
    return "aws"
