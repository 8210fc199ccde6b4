"""``cbdeploy stop [BUILD_ID]``: stop a running build."""

from __future__ import annotations

import click

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.cli.batch_ids import find_batch, stop_batch
from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import aws_options
from cbdeploy.client.deploy.build_ref import resolve_build_ref
from cbdeploy.client.errors import NotFoundError
from cbdeploy.client.output.builds import endpoint_header, stopped, stopped_batch
from cbdeploy.client.output.console import make_console
from cbdeploy.client.target import Target


@command("stop", short_help="Stop a running build.")
@click.argument("build_id", required=False)
@aws_options(need_stage=False)
def stop(target: Target, build_id: str | None) -> None:
    """Ask CodeBuild to stop a running build (a finished one is left as it is).

    BUILD_ID is what deploy printed (also in 'cbdeploy builds'), its UUID, or
    the start of the UUID (looked up among the stage's builds); without it, the
    stage's latest build (--stage, or the stored default stage). A batch's id
    (PROJECT:UUID, or its UUID) stops every build of the batch (StopBuildBatch).

    Examples:

    \b
      cbdeploy stop cbdeploy-my-api-dev:0b7c7a56-1d1e-4d6e-9d8a-3f1e5c7d9a10 --region us-east-1
      cbdeploy stop 0b7c7a56 --stage dev
      cbdeploy stop --stage dev
    """
    console = make_console()
    with open_aws(target) as aws:
        endpoint_header(console, aws.endpoint)
        build_id = resolve_build_ref(aws, target, build_id)
        try:
            build = aws.get_build(build_id)
        except NotFoundError:
            batch = find_batch(aws, build_id)
            if batch is None:
                raise
            stopped_batch(console, stop_batch(aws, batch), was=batch)
            return
        if not build.complete:
            build = aws.stop_build(build_id)
    stopped(console, build)
