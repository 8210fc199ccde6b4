"""Plan the removal of what cbdeploy created; :func:`client.infra.calls.execute` runs it.

A stage owns its CodeBuild project (its running builds are stopped first),
its service role and its log group, and what cbdeploy recorded about it in the
bucket (``state/<app>/<stage>/``: a workspace's deploy records, which a new stage
of the same name must not inherit). ``everything`` also removes the account's
shared bucket (emptied first: every object version, delete
marker and pending multipart upload). The bucket is only touched when it
belongs to this account (ExpectedBucketOwner). A project, role or log group
whose tags name another app or stage is refused (OwnershipError) before any
call is planned, so nothing is stopped or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.infra.calls import Call, Write
from cbdeploy.client.infra.model import names_for
from cbdeploy.client.infra.names import Names
from cbdeploy.client.infra.ownership import check_owner


@dataclass(frozen=True)
class RoleRemains:
    """A role of the stage that still exists, with what must go before it can."""

    name: str
    attached_policies: tuple[str, ...]
    inline_policies: tuple[str, ...]


@dataclass(frozen=True)
class Remains:
    """What a stage still has in AWS; None (or empty) where it is gone."""

    project: Mapping[str, Any] | None
    running_builds: tuple[str, ...]
    roles: tuple[RoleRemains, ...]  # the service role, then the batch role, where they exist
    log_group: Mapping[str, Any] | None
    bucket_exists: bool  # only read with ``everything``
    records: tuple[str, ...] = ()  # the keys under the stage's state/ prefix


def plan_destroy(
    aws: AwsClient, name: str, stage: str, *, everything: bool = False
) -> tuple[Call, ...]:
    """The deletions to make, from what exists now; empty when nothing is left."""
    names = names_for(aws, name, stage)
    project, role = aws.get_project(names.project), aws.get_role(names.role)
    batch_role = aws.get_role(names.batch_role)
    group = aws.get_log_group(names.log_group)
    check_owner(
        names, project, role, aws.log_group_tags(group) if group is not None else None, batch_role
    )
    running: tuple[str, ...] = ()
    if project is not None:
        builds = aws.get_builds(aws.list_build_ids(names.project, limit=20))
        running = tuple(build.id for build in builds if not build.complete)
    roles = tuple(
        RoleRemains(
            name=role_name,
            attached_policies=tuple(aws.attached_policies(role_name)),
            inline_policies=tuple(aws.inline_policy_names(role_name)),
        )
        for role_name, found in ((names.role, role), (names.batch_role, batch_role))
        if found is not None
    )
    remains = Remains(
        project=project,
        running_builds=running,
        roles=roles,
        log_group=group,
        bucket_exists=everything and aws.bucket_exists(names.bucket),
        records=() if everything else tuple(aws.list_keys(names.bucket, names.state_prefix)),
    )
    return deletions(names, remains, everything=everything)


def deletions(names: Names, remains: Remains, *, everything: bool = False) -> tuple[Call, ...]:
    """The calls that remove ``remains``, in an order AWS accepts (pure: no AWS)."""
    calls: list[Call] = []
    if remains.project is not None:
        calls += [
            Call(Write.STOP_BUILD, {"build_id": build}, f"Stop running build {build}")
            for build in remains.running_builds
        ]
        calls.append(
            Call(
                Write.DELETE_PROJECT,
                {"name": names.project},
                f"Delete CodeBuild project {names.project}",
            )
        )
    for role in remains.roles:
        calls += _role_deletions(role)
    if remains.log_group is not None:
        calls.append(
            Call(
                Write.DELETE_LOG_GROUP,
                {"name": names.log_group},
                f"Delete log group {names.log_group}",
            )
        )
    if remains.records and not everything:  # (everything empties the bucket anyway)
        count = len(remains.records)
        calls.append(Call(Write.DELETE_OBJECTS, {"bucket": names.bucket, "keys": remains.records},
                          f"Delete the stage's {count} deploy {'record' if count == 1 else 'records'}"
                          f" in {names.bucket}/{names.state_prefix}"))
    if everything and remains.bucket_exists:
        calls.append(
            Call(Write.EMPTY_BUCKET, {"bucket": names.bucket}, f"Delete every object in {names.bucket}")
        )
        calls.append(
            Call(Write.DELETE_BUCKET, {"bucket": names.bucket}, f"Delete bucket {names.bucket}")
        )
    return tuple(calls)


def _role_deletions(role: RoleRemains) -> list[Call]:
    """Detach and delete a role's policies, then the role (IAM refuses it before)."""
    name = role.name
    return [
        *(
            Call(Write.DETACH_POLICY, {"role": name, "arn": arn}, f"Detach {arn} from {name}")
            for arn in role.attached_policies
        ),
        *(
            Call(
                Write.DELETE_INLINE_POLICY,
                {"role": name, "policy": policy},
                f"Delete policy {policy} of {name}",
            )
            for policy in role.inline_policies
        ),
        Call(Write.DELETE_ROLE, {"name": name}, f"Delete IAM role {name}"),
    ]
