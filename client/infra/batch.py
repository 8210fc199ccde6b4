"""A stage's batch builds: the project's batch configuration and its batch service role.

CodeBuild starts, stops and retries the builds of a batch with a role of its
own, named in the project's ``buildBatchConfig`` ("Run builds in batches",
Security role: a separate role, so that builds cannot start builds and the
batch's restrictions hold). Ours may do exactly that, on the stage's project
only, and nothing else; it is tagged like every per-stage resource.

Pure data, like :mod:`client.infra.model`; :mod:`client.infra.bootstrap`
observes the role and plans it with ``plan_role``, as it does the stage's service role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cbdeploy.client.infra.names import Names

if TYPE_CHECKING:
    from cbdeploy.client.infra.model import StageSettings

BATCH_POLICY = "cbdeploy-batch"
BATCH_ACTIONS = ("codebuild:StartBuild", "codebuild:StopBuild", "codebuild:RetryBuild")
# CodeBuild's defaults (aws-cli's batch-get-build-batches example): 100 builds, 480 minutes.
MAXIMUM_BUILDS = 100
BATCH_TIMEOUT_MINUTES = 480
BATCH_TRUST_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def batch_role_policy(names: Names) -> dict[str, Any]:
    """Start, stop and retry builds of the stage's project: nothing more."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BatchBuilds",
                "Effect": "Allow",
                "Action": list(BATCH_ACTIONS),
                "Resource": [names.project_arn],
            }
        ],
    }


def batch_config(settings: StageSettings, names: Names) -> dict[str, Any]:
    """The project's ``buildBatchConfig``: the batch role, CodeBuild's default limits.

    The whole batch may run at least as long as one build may.
    """
    return {
        "serviceRole": names.batch_role_arn,
        "restrictions": {"maximumBuildsAllowed": MAXIMUM_BUILDS},
        "timeoutInMins": max(BATCH_TIMEOUT_MINUTES, settings.timeout_in_minutes),
    }
