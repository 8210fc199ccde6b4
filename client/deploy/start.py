"""The StartBuild request of one deploy, from its plan and its upload (pure data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cbdeploy.client.deploy.delta import BASE_SOURCE
from cbdeploy.client.deploy.upload import UploadResult

if TYPE_CHECKING:
    from cbdeploy.client.deploy.plan import DeployPlan


def start_request(plan: DeployPlan, upload: UploadResult) -> dict[str, Any]:
    """The StartBuild parameters: source, buildspec, variables and settings overrides.

    The project's own cache stays unless ``--no-build-cache``. The invocation id is
    the idempotency token, so a retried StartBuild never starts a second build.
    """
    request: dict[str, Any] = {
        "projectName": plan.project,
        "sourceTypeOverride": "S3",
        "sourceLocationOverride": f"{upload.bucket}/{upload.key}",
        "buildspecOverride": plan.buildspec,
        "environmentVariablesOverride": [dict(v) for v in plan.environment],
        "computeTypeOverride": plan.compute_type,
        "imageOverride": plan.image,
        "privilegedModeOverride": plan.privileged_mode,
        "timeoutInMinutesOverride": plan.timeout_in_minutes,
        "idempotencyToken": plan.invocation_id,
    }
    if plan.no_build_cache:
        request["cacheOverride"] = {"type": "NO_CACHE"}
    if upload.base_key is not None:
        # A delta: CodeBuild fetches the base in-region with the role's rights.
        request["secondarySourcesOverride"] = [
            {"type": "S3", "location": f"{upload.bucket}/{upload.base_key}",
             "sourceIdentifier": BASE_SOURCE}
        ]
    return request
