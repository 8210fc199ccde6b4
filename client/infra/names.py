"""The names and tags of everything cbdeploy creates: decided here and nowhere else.

App names and stages are made of ``a-z``, ``0-9`` and ``-`` (``config_model.NAME_RE``,
``options.STAGE_RE``), so ``_`` and ``/`` never occur in either. Joining the two
with one of those gives names no other (app, stage) pair can produce: app
``coll-x`` stage ``prod`` is ``cbdeploy-coll-x_prod`` and app ``coll`` stage
``x-prod`` is ``cbdeploy-coll_x-prod``.

Per account and region, shared by every app:
    bucket ``cbdeploy-<account>-<region>``
Per app and stage (each tagged ``cbdeploy:app`` and ``cbdeploy:stage``):
    CodeBuild project ``cbdeploy-<app>_<stage>``
    IAM role ``cbdeploy-<app>_<stage>-<region>`` (over 64 characters: the first 51
    and a 12-digit hash of the whole)
    IAM batch role ``cbdeploy-<app>_<stage>-<region>-batch`` (the role CodeBuild
    starts a batch's builds with; shortened the same way)
    log group ``/cbdeploy/<app>/<stage>``
    S3 prefixes ``sources/<app>/<stage>/`` and ``cache/<app>/<stage>/``
    S3 prefix ``state/<app>/<stage>/`` (what cbdeploy keeps about the stage; outside
    ``sources/``, so the sources' lifecycle never expires it): a workspace service's
    last successful deploy in ``deployed/<service>.json``
    ECR repository of image <name> ``cbdeploy/<app>/<stage>/<name>`` (unless configured)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SEPARATOR = "_"
TAG_APP = "cbdeploy:app"
TAG_STAGE = "cbdeploy:stage"
ROLE_NAME_MAX = 64


def stage_id(name: str, stage: str) -> str:
    """``<app>_<stage>``: the one spelling of an (app, stage) pair in AWS names."""
    for part in (name, stage):
        if not part or SEPARATOR in part or "/" in part:
            raise ValueError(f"{part!r} cannot be part of a cbdeploy name")
    return f"{name}{SEPARATOR}{stage}"


def bucket_name(account: str, region: str) -> str:
    return f"cbdeploy-{account}-{region}"


def project_name(name: str, stage: str) -> str:
    """``cbdeploy-<app>_<stage>`` (at most 62 characters; CodeBuild allows 150)."""
    return f"cbdeploy-{stage_id(name, stage)}"


def log_group_name(name: str, stage: str) -> str:
    """``/cbdeploy/<app>/<stage>``: one group per stage, so a role's grant stops at its stage."""
    stage_id(name, stage)
    return f"/cbdeploy/{name}/{stage}"


def sources_prefix(name: str, stage: str) -> str:
    """Where a stage's source archives go in the bucket."""
    stage_id(name, stage)
    return f"sources/{name}/{stage}/"


def cache_prefix(name: str, stage: str) -> str:
    """Where a stage's S3 build cache goes in the bucket."""
    stage_id(name, stage)
    return f"cache/{name}/{stage}/"


def state_prefix(name: str, stage: str) -> str:
    """Where cbdeploy keeps what it knows about a stage (kept: no lifecycle rule expires it)."""
    stage_id(name, stage)
    return f"state/{name}/{stage}/"


def deployed_record_key(name: str, stage: str, service: str) -> str:
    """The record of ``service``'s last successful deploy to the stage (``--affected`` reads it)."""
    if not service or "/" in service:
        raise ValueError(f"{service!r} cannot be part of a cbdeploy name")
    return f"{state_prefix(name, stage)}deployed/{service}.json"


def role_name(name: str, stage: str, region: str) -> str:
    """``cbdeploy-<app>_<stage>-<region>``: IAM is global, so the region is part of the name."""
    full = f"cbdeploy-{stage_id(name, stage)}-{region}"
    if len(full) <= ROLE_NAME_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:12]
    return f"{full[: ROLE_NAME_MAX - 13]}-{digest}"


def batch_role_name(name: str, stage: str, region: str) -> str:
    """``cbdeploy-<app>_<stage>-<region>-batch``: the stage's batch service role."""
    full = f"cbdeploy-{stage_id(name, stage)}-{region}-batch"
    if len(full) <= ROLE_NAME_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:12]
    return f"{full[: ROLE_NAME_MAX - 19]}-{digest}-batch"


def repository_name(name: str, stage: str, image: str, configured: str | None = None) -> str:
    """The ECR repository of an ``[images.<image>]``: as configured, else ``cbdeploy/<app>/<stage>/<image>``."""
    return configured or f"cbdeploy/{name}/{stage}/{image.lower()}"


def repository_arn(partition: str, region: str, account: str, repository: str) -> str:
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repository}"


def owner_tags(name: str, stage: str) -> dict[str, str]:
    """The tags every per-stage resource carries: whose it is."""
    return {TAG_APP: name, TAG_STAGE: stage}


@dataclass(frozen=True)
class Names:
    """Everything a stage's resources are called (build it with :func:`stage_names`)."""

    app: str
    stage: str
    account: str
    region: str
    partition: str
    bucket: str
    log_group: str
    role: str
    project: str
    # Whether S3 is reached over TLS. A TLS-only bucket policy on a plain-http
    # endpoint (the local emulator, a local S3 server) would refuse cbdeploy
    # itself, so it is only set where requests travel over TLS (always on AWS).
    tls: bool = True
    batch_role: str = ""  # the batch service role (stage_names sets it)

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role}"

    @property
    def batch_role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.batch_role}"

    @property
    def project_arn(self) -> str:
        return f"arn:{self.partition}:codebuild:{self.region}:{self.account}:project/{self.project}"

    @property
    def sources_prefix(self) -> str:
        return sources_prefix(self.app, self.stage)

    @property
    def cache_prefix(self) -> str:
        return cache_prefix(self.app, self.stage)

    @property
    def state_prefix(self) -> str:
        return state_prefix(self.app, self.stage)

    @property
    def tags(self) -> dict[str, str]:
        return owner_tags(self.app, self.stage)


def stage_names(
    name: str, stage: str, *, account: str, region: str, partition: str = "aws", tls: bool = True
) -> Names:
    """The names of everything cbdeploy owns for app ``name`` and ``stage``."""
    return Names(
        app=name,
        stage=stage,
        account=account,
        region=region,
        partition=partition,
        bucket=bucket_name(account, region),
        log_group=log_group_name(name, stage),
        role=role_name(name, stage, region),
        project=project_name(name, stage),
        tls=tls,
        batch_role=batch_role_name(name, stage, region),
    )
