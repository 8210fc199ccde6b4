"""Batch ids in ``logs``, ``stop`` and ``builds``: a batch's id looks like a build's.

Both are ``<project>:<uuid>``, so these commands try the id as a build first
(most ids are) and, when CodeBuild knows no such build, as a batch: no extra
call for a build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cbdeploy.client.aws.links import batch_console_url
from cbdeploy.client.errors import NotFoundError
from cbdeploy.client.watch.batch import follow_batch

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient
    from cbdeploy.client.aws.results import Build, BuildBatch
    from cbdeploy.client.output.session import OutputSession


def find_batch(aws: AwsClient, some_id: str) -> BuildBatch | None:
    """The batch ``some_id`` names, or None when it names none (nor anything else)."""
    found = aws.batch_get_build_batches([some_id])
    return found[0] if found else None


def batch_logs(aws: AwsClient, batch: BuildBatch, *, follow: bool,
               session: OutputSession) -> int:
    """``logs <batch-id> [--follow]``: every service's log; Ctrl-C leaves the batch running."""
    outcome = follow_batch(aws, batch.id, on_event=session.emit, wait=follow)
    session.finish_batch(outcome)
    running = outcome.status == "IN_PROGRESS" and not outcome.detached
    return outcome.exit_code if (follow or outcome.detached) and not running else 0


def stop_batch(aws: AwsClient, batch: BuildBatch) -> BuildBatch:
    """``stop <batch-id>``: StopBuildBatch (every running build); an ended batch is left."""
    return batch if batch.complete else aws.stop_build_batch(batch.id)


def recent_batches(aws: AwsClient, project: str, limit: int) -> list[BuildBatch]:
    """``builds``: the project's recent batches, newest first (none for an unknown project)."""
    try:
        return aws.batch_get_build_batches(aws.list_build_batches_for_project(project, limit))
    except NotFoundError:
        return []


def build_or_batch(aws: AwsClient, some_id: str) -> tuple[list[Build], list[BuildBatch]]:
    """``builds <id>``: the build ``some_id`` names, or else the batch; NotFoundError if neither."""
    try:
        return [aws.get_build(some_id)], []
    except NotFoundError:
        batch = find_batch(aws, some_id)
        if batch is None:
            raise
        return [], [batch]


def outside(builds: list[Build], batches: list[BuildBatch]) -> list[Build]:
    """The builds that are not part of a listed batch (its row stands for them)."""
    arns = {b.arn for b in batches}
    return [b for b in builds if b.batch_arn is None or b.batch_arn not in arns]


def batch_data(batch: BuildBatch, region: str, local: bool) -> dict[str, Any]:
    """One batch for ``builds --json``, like a build's object plus ``services``."""
    env = dict(batch.environment)
    duration = None
    if batch.start is not None and batch.end is not None:
        duration = round((batch.end - batch.start).total_seconds(), 3)
    return {
        "id": batch.id,
        "batch": True,
        "status": batch.status,
        "startTime": batch.start.isoformat() if batch.start else None,
        "endTime": batch.end.isoformat() if batch.end else None,
        "durationSeconds": duration,
        "commit": env.get("CBDEPLOY_GIT_COMMIT"),
        "initiator": batch.initiator,
        "services": [g.identifier for g in batch.groups if g.identifier != "DOWNLOAD_SOURCE"],
        "consoleUrl": None if local else batch_console_url(region, batch.id),
    }
