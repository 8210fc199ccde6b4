"""``cbdeploy builds [BUILD_ID]``: the recent builds of a stage, or one of them."""

from __future__ import annotations

import json
from typing import Any

import click

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.aws.links import build_console_url
from cbdeploy.client.aws.results import Build
from cbdeploy.client.cli.batch_ids import batch_data, build_or_batch, outside, recent_batches
from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import aws_options
from cbdeploy.client.config.load import load_config
from cbdeploy.client.deploy.build_ref import resolve_build_ref
from cbdeploy.client.deploy.workspace_deploy import stage_shipping
from cbdeploy.client.errors import NotFoundError
from cbdeploy.client.infra.names import project_name
from cbdeploy.client.output.builds import builds_table, endpoint_header, no_builds
from cbdeploy.client.output.console import make_console
from cbdeploy.client.target import Target


@command("builds", short_help="List the recent builds of a stage.")
@click.argument("build_id", required=False)
@click.option("--limit", "-n", default=10, show_default=True, type=click.IntRange(1, 100),
              help="How many builds to show, newest first.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the builds as one JSON object on stdout instead of a table.")
@aws_options()
def builds(target: Target, build_id: str | None, limit: int, as_json: bool) -> None:
    """Recent builds of the stage: id, status, start, duration, git commit, initiator.

    With BUILD_ID, only that build: its id as deploy printed it (PROJECT:UUID),
    its UUID, or the start of the UUID (looked up among the stage's builds).

    Batches (a deploy of several services in one batch build) are listed too,
    marked in a KIND column with their services; their own builds are not.

    Examples:

    \b
      cbdeploy builds --stage dev --region us-east-1
      cbdeploy builds --stage prod --region eu-west-1 --limit 30
      cbdeploy builds --stage dev --region us-east-1 --json
      cbdeploy builds 0b7c7a56 --stage dev
    """
    config = load_config(target.project_root, target.stage, target.config_path)
    project = project_name(stage_shipping(target, config).app, target.stage)
    with open_aws(target) as aws:
        endpoint = aws.endpoint
        if build_id is not None:
            found, batches = build_or_batch(aws, resolve_build_ref(aws, target, build_id))
        else:
            try:
                found = aws.get_builds(aws.list_build_ids(project, limit))
            except NotFoundError:
                found = []
            batches = recent_batches(aws, project, limit)
    found = outside(found, batches)
    off_aws = target.local or endpoint.url is not None
    if as_json:
        click.echo(json.dumps({
            "stage": target.stage, "region": target.region, "project": project,
            "endpoint": endpoint.url,
            "builds": [build_data(build, target.region, off_aws) for build in found],
            "batches": [batch_data(batch, target.region, off_aws) for batch in batches],
        }))
        return
    console = make_console()
    endpoint_header(console, endpoint)
    if not found and not batches:
        no_builds(console, project, target.stage)
        return
    builds_table(console, found, batches)


def build_data(build: Build, region: str, local: bool) -> dict[str, Any]:
    """One build for ``--json``: camelCase keys, times in ISO 8601 (UTC), None where unknown."""
    env = dict(build.environment)
    duration = None
    if build.start is not None and build.end is not None:
        duration = round((build.end - build.start).total_seconds(), 3)
    return {
        "id": build.id,
        "status": build.status,
        "startTime": build.start.isoformat() if build.start else None,
        "endTime": build.end.isoformat() if build.end else None,
        "durationSeconds": duration,
        "commit": env.get("CBDEPLOY_GIT_COMMIT"),
        "dirty": env.get("CBDEPLOY_GIT_DIRTY") == "true" if "CBDEPLOY_GIT_DIRTY" in env else None,
        "initiator": build.initiator,
        "consoleUrl": None if local else build_console_url(region, build.id),
    }
