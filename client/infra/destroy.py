"""Plan the removal of what cbdeploy created; :func:`client.infra.bootstrap.execute` runs it.

A stage owns its CodeBuild project (its running builds are stopped first),
its service role and its log group. ``everything`` also removes the account's
shared bucket (emptied first: every object version, delete
marker and pending multipart upload). The bucket is only touched when it
belongs to this account (ExpectedBucketOwner). A project, role or log group
whose tags name another app or stage is refused (OwnershipError) before any
call is planned, so nothing is stopped or deleted.
"""

from __future__ import annotations

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.infra.bootstrap import Call, check_owner
from cbdeploy.client.infra.model import names_for


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
    calls: list[Call] = []
    if project is not None:
        for build in aws.get_builds(aws.list_build_ids(names.project, limit=20)):
            if not build.complete:
                calls.append(
                    Call("stop_build", {"build_id": build.id}, f"Stop running build {build.id}")
                )
        calls.append(
            Call(
                "delete_project",
                {"name": names.project},
                f"Delete CodeBuild project {names.project}",
            )
        )
    for role_name, found in ((names.role, role), (names.batch_role, batch_role)):
        if found is None:
            continue
        for arn in aws.attached_policies(role_name):
            calls.append(
                Call("detach_policy", {"role": role_name, "arn": arn}, f"Detach {arn} from {role_name}")
            )
        for policy in aws.inline_policy_names(role_name):
            calls.append(
                Call(
                    "delete_inline_policy",
                    {"role": role_name, "policy": policy},
                    f"Delete policy {policy} of {role_name}",
                )
            )
        calls.append(Call("delete_role", {"name": role_name}, f"Delete IAM role {role_name}"))
    if group is not None:
        calls.append(
            Call(
                "delete_log_group", {"name": names.log_group}, f"Delete log group {names.log_group}"
            )
        )
    if not everything:
        return tuple(calls)
    if aws.bucket_exists(names.bucket):
        calls.append(
            Call("empty_bucket", {"bucket": names.bucket}, f"Delete every object in {names.bucket}")
        )
        calls.append(
            Call("delete_bucket", {"bucket": names.bucket}, f"Delete bucket {names.bucket}")
        )
    return tuple(calls)
