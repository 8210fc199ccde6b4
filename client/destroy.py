"""Plan the removal of what cbdeploy created; :func:`client.bootstrap.execute` runs it.

A stage owns its CodeBuild project (its running builds are stopped first)
and its service role. ``everything`` also
removes the app's log group and the account's shared bucket (emptied first:
every object version, delete marker and pending multipart upload). The
bucket is only touched when it belongs to this account (ExpectedBucketOwner).
"""

from __future__ import annotations

from client.aws import AwsClient
from client.bootstrap import Call, names_for


def plan_destroy(
    aws: AwsClient, name: str, stage: str, *, everything: bool = False
) -> tuple[Call, ...]:
    """The deletions to make, from what exists now; empty when nothing is left."""
    names = names_for(aws, name, stage)
    calls: list[Call] = []
    if aws.get_project(names.project) is not None:
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
    role = names.role
    if aws.get_role(role) is not None:
        for arn in aws.attached_policies(role):
            calls.append(
                Call("detach_policy", {"role": role, "arn": arn}, f"Detach {arn} from {role}")
            )
        for policy in aws.inline_policy_names(role):
            calls.append(
                Call(
                    "delete_inline_policy",
                    {"role": role, "policy": policy},
                    f"Delete policy {policy} of {role}",
                )
            )
        calls.append(Call("delete_role", {"name": role}, f"Delete IAM role {role}"))
    if not everything:
        return tuple(calls)
    if aws.get_log_group(names.log_group) is not None:
        calls.append(
            Call(
                "delete_log_group", {"name": names.log_group}, f"Delete log group {names.log_group}"
            )
        )
    if aws.bucket_exists(names.bucket):
        calls.append(
            Call("empty_bucket", {"bucket": names.bucket}, f"Delete every object in {names.bucket}")
        )
        calls.append(
            Call("delete_bucket", {"bucket": names.bucket}, f"Delete bucket {names.bucket}")
        )
    return tuple(calls)
