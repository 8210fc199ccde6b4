"""``cbdeploy logs [BUILD_ID] [--follow]``: print a build's log, or re-attach to it."""

from __future__ import annotations

import click

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.cli.batch_ids import batch_logs, find_batch
from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import aws_options
from cbdeploy.client.deploy.build_ref import resolve_build_ref
from cbdeploy.client.errors import NotFoundError
from cbdeploy.client.output.session import OutputSession
from cbdeploy.client.target import Target
from cbdeploy.client.watch.track import follow_build, logs_exit_code


@command("logs", short_help="Print a build's log, or follow it to the end.")
@click.argument("build_id", required=False)
@click.option("--follow", "-f", is_flag=True,
              help="Keep streaming until the build ends, then exit with its outcome.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object on stdout when the command ends (the build's "
                   "status, phases, steps, outputs); the log goes to stderr.")
@aws_options(need_stage=False)
def logs(target: Target, build_id: str | None, follow: bool, as_json: bool,
         session: OutputSession) -> int:
    """Print a build's log from its start; with --follow, stream it to the end.

    BUILD_ID is the id deploy printed (PROJECT:UUID), its UUID, or the start of
    the UUID (looked up among the stage's builds); without it, the stage's
    latest build (--stage, or the stored default stage).

    With --follow the exit status is the build's (0 succeeded, 1 not); Ctrl-C
    leaves the build running and exits 130 (SIGTERM 143, SIGHUP 129). A build
    whose log or state cannot be read for ten minutes exits 3 (outcome unknown).

    A batch's id (a deploy of several services) prints every service's log, each
    line behind its service's name, and a table of the services at the end; with
    --follow the exit status is 0 only if every service succeeded.

    Examples:

    \b
      cbdeploy logs cbdeploy-myapp-dev:0f6c2a4e-5d1b-4c3e-9a7f-2b8d6e1c4a90 --region us-east-1
      cbdeploy logs cbdeploy-myapp-dev:0f6c2a4e-5d1b-4c3e-9a7f-2b8d6e1c4a90 --follow --json
      cbdeploy logs 0f6c2a --stage dev --follow
      cbdeploy logs --stage dev
    """
    session.context(region=target.region, local=target.local, build_id=build_id)
    with session.door(open_aws, local=target.local)(target) as aws:
        build_id = resolve_build_ref(aws, target, build_id)
        session.name_build(build_id)
        try:
            outcome = follow_build(aws, build_id, on_event=session.emit, wait=follow)
        except NotFoundError:
            batch = find_batch(aws, build_id)
            if batch is None:
                raise
            return batch_logs(aws, batch, follow=follow, session=session)
    session.finish(outcome, still_running_ok=True)
    return logs_exit_code(outcome, follow=follow)
