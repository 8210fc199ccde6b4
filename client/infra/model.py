"""What cbdeploy wants on AWS for an app and stage: names, settings, desired documents.

Pure data and functions of the inputs: :mod:`client.infra.bootstrap` compares
these with what AWS reports and writes only the differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.infra.batch import batch_config
from cbdeploy.client.infra.images import ecr_statements
from cbdeploy.client.infra.names import (
    Names,
    bucket_name,
    cache_prefix,
    repository_name,
    stage_names,
)

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient

PLACEHOLDER_BUILDSPEC = (
    "version: 0.2\n"
    "phases:\n"
    "  build:\n"
    "    commands:\n"
    "      - echo 'This project is run by cbdeploy deploy, which sends the buildspec.' && exit 1\n"
)
BASE_POLICY = "cbdeploy-base"
TRUST_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
PUBLIC_ACCESS_BLOCK: Mapping[str, bool] = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ENCRYPTION_RULES = [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
LIFECYCLE_RULES = [
    {
        "ID": "cbdeploy-expire-sources",
        "Status": "Enabled",
        "Filter": {"Prefix": "sources/"},
        "Expiration": {"Days": 30},
    },
    {
        "ID": "cbdeploy-abort-incomplete-uploads",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    },
]
TLS_ONLY_SID = "cbdeployDenyInsecureTransport"


@dataclass(frozen=True)
class StageSettings:
    """What bootstrap needs to know about one app and stage (built from the config)."""

    name: str
    stage: str
    policies: tuple[str, ...] = ()
    compute_type: str = "BUILD_GENERAL1_SMALL"
    image: str = "aws/codebuild/standard:7.0"
    environment_type: str = "LINUX_CONTAINER"
    privileged_mode: bool = False
    timeout_in_minutes: int = 60
    cache: Mapping[str, Any] | None = None  # CodeBuild ``cache`` structure; None: NO_CACHE
    log_retention_days: int = 30
    secrets: tuple[str, ...] = ()  # "ssm:/x" or "secretsmanager:id[:key]" references
    ecr_login: bool = False  # the build logs in to ECR: allow ecr:GetAuthorizationToken
    repositories: tuple[str, ...] = ()  # ECR repositories of [images]: created and granted
    # The project's concurrentBuildLimit: 1 for a project alone (CodeBuild refuses a second
    # build); a workspace's batch runs its services' builds in parallel, so one per service
    # (client.deploy.workspace_deploy says how one deploy at a time still holds).
    concurrent_builds: int = 1


def stage_settings(config: ProjectConfig, region: str, account: str) -> StageSettings:
    """The settings of ``config``'s stage (``load_config`` merged the stage's overrides)."""
    codebuild = config.codebuild
    return StageSettings(
        name=config.name,
        stage=config.stage,
        policies=tuple(codebuild.policies),
        compute_type=codebuild.compute_type,
        image=codebuild.image,
        environment_type=codebuild.environment_type,
        # Building images needs the Docker daemon: CodeBuild's privileged mode.
        privileged_mode=codebuild.privileged_mode or bool(config.images),
        timeout_in_minutes=codebuild.timeout_in_minutes,
        cache=cache_settings(config, bucket_name(account, region)),
        secrets=tuple(sorted(config.secrets.values())),
        ecr_login=codebuild.ecr_login,
        repositories=tuple(
            sorted({repository_name(config.name, config.stage, i.name, i.repository) for i in config.images.values()})
        ),
    )


@dataclass(frozen=True)
class Infrastructure:
    bucket: str
    role_arn: str
    log_group: str
    project: str
    changes: tuple[str, ...] = ()  # what bootstrap changed, for people; empty: up to date
    sources_prefix: str = ""  # the stage's source archives: sources/<app>/<stage>/


def names_for(aws: AwsClient, name: str, stage: str) -> Names:
    """:func:`~client.infra.names.stage_names` for the account and region of ``aws`` (one STS call)."""
    return stage_names(
        name,
        stage,
        account=aws.account_id(),
        region=aws.region,
        partition=aws.partition,
        tls=aws.uses_tls("s3"),
    )


# --------------------------------------------------------------------------- desired state


def bucket_policy(names: Names) -> dict[str, Any]:
    arn = f"arn:{names.partition}:s3:::{names.bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [_tls_only_statement(arn)],
    }


def _tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    return {
        "Sid": TLS_ONLY_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def base_role_policy(settings: StageSettings, names: Names) -> dict[str, Any]:
    """The least the build needs: its stage's log group, sources and cache, its secrets.

    Every grant stops at the stage: another stage's role (``pr-42`` next to
    ``prod``) reaches none of these objects or streams.
    """
    p, region, account = names.partition, names.region, names.account
    group_arn = f"arn:{p}:logs:{region}:{account}:log-group:{names.log_group}"
    bucket_arn = f"arn:{p}:s3:::{names.bucket}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group_arn, f"{group_arn}:log-stream:*"],
        },
        {
            "Sid": "Sources",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [f"{bucket_arn}/{names.sources_prefix}*"],
        },
        {
            "Sid": "Cache",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{bucket_arn}/{names.cache_prefix}*"],
        },
        {
            "Sid": "Bucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation"],
            "Resource": [bucket_arn],
        },
    ]
    statements += _secret_statements(settings, names)
    statements += ecr_statements(
        settings.repositories, partition=p, region=region, account=account
    )
    if settings.ecr_login or settings.repositories:
        statements.append(
            {
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": ["*"],
            }
        )
    statements += _secrets_manager_statements(settings, names)
    return {"Version": "2012-10-17", "Statement": statements}


def _secret_statements(settings: StageSettings, names: Names) -> list[dict[str, Any]]:
    """Read the stage's SSM parameters (named in [secrets]), and nothing else in SSM."""
    p, region, account = names.partition, names.region, names.account
    parameters = sorted(
        f"arn:{p}:ssm:{region}:{account}:parameter/{ref[4:].lstrip('/')}"
        for ref in settings.secrets
        if ref.startswith("ssm:")
    )
    if not parameters:
        return []
    return [
        {
            "Sid": "Parameters",
            "Effect": "Allow",
            "Action": ["ssm:GetParameters"],
            "Resource": parameters,
        }
    ]


def _secrets_manager_statements(settings: StageSettings, names: Names) -> list[dict[str, Any]]:
    """Read the Secrets Manager secrets named in [secrets]."""
    secrets = sorted(
        {
            _secret_arn(ref[len("secretsmanager:") :], names)
            for ref in settings.secrets
            if ref.startswith("secretsmanager:")
        }
    )
    if not secrets:
        return []
    return [
        {
            "Sid": "Secrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": secrets,
        }
    ]


def _secret_arn(reference: str, names: Names) -> str:
    # "id:json-key:version-stage:version-id", where id may itself be an ARN.
    if reference.startswith("arn:"):
        return ":".join(reference.split(":")[:7])
    secret_id = reference.split(":", 1)[0]
    # A secret's ARN ends in a random 6-character suffix after its name.
    return f"arn:{names.partition}:secretsmanager:{names.region}:{names.account}:secret:{secret_id}-??????"


def project_settings(settings: StageSettings, names: Names) -> dict[str, Any]:
    return {
        "name": names.project,
        "description": f"cbdeploy: {settings.name} ({settings.stage})",
        "source": {"type": "NO_SOURCE", "buildspec": PLACEHOLDER_BUILDSPEC},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": settings.environment_type,
            "image": settings.image,
            "computeType": settings.compute_type,
            "privilegedMode": settings.privileged_mode,
        },
        "serviceRole": names.role_arn,
        "timeoutInMinutes": settings.timeout_in_minutes,
        "concurrentBuildLimit": settings.concurrent_builds,
        "logsConfig": {
            "cloudWatchLogs": {
                "status": "ENABLED",
                "groupName": names.log_group,
                "streamName": settings.stage,
            }
        },
        "cache": dict(settings.cache) if settings.cache else {"type": "NO_CACHE"},
        "buildBatchConfig": batch_config(settings, names),
    }


def contains(actual: Any, wanted: Any) -> bool:
    """True when every key/value of ``wanted`` is in ``actual`` (extra keys in ``actual`` allowed)."""
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and contains(actual[k], v) for k, v in wanted.items()
        )
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(wanted)
            and all(contains(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return bool(actual == wanted)


_LOCAL_MODES = {
    "docker-layer": "LOCAL_DOCKER_LAYER_CACHE",
    "source": "LOCAL_SOURCE_CACHE",
    "custom": "LOCAL_CUSTOM_CACHE",
}


def cache_settings(config: ProjectConfig, bucket: str) -> dict[str, Any]:
    """The CodeBuild project ``cache`` structure for ``codebuild.cache``."""
    cache = config.codebuild.cache
    if cache.type == "local":
        return {"type": "LOCAL", "modes": [_LOCAL_MODES[m] for m in cache.modes]}
    if cache.type == "s3":
        prefix = cache_prefix(config.name, config.stage).rstrip("/")
        return {"type": "S3", "location": f"{bucket}/{prefix}"}
    return {"type": "NO_CACHE"}
