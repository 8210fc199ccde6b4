"""``cbdeploy logs BUILD_ID [--follow]``: print a build's log, or re-attach to it."""

from __future__ import annotations

import click
from rich.console import Console

from client.aws import open_aws
from client.deploy import follow_build
from client.options import Target, aws_options
from client.render import Renderer


@click.command("logs")
@click.argument("build_id")
@click.option("--follow", "-f", is_flag=True,
              help="Keep streaming until the build ends, then exit with its outcome.")
@aws_options(need_stage=False)
@click.pass_context
def logs(ctx: click.Context, target: Target, build_id: str, follow: bool) -> None:
    """Print a build's log from its start; with --follow, stream it to the end.

    With --follow the exit status is the build's (0 succeeded, 1 not); Ctrl-C
    leaves the build running and exits 130.
    """
    console = Console()
    # (No 'full log: cbdeploy logs ...' at the end: this is that command.)
    renderer = Renderer(console, debug=target.log_level == "debug", noun="Build", log_hint=False)
    with open_aws(target) as aws:
        outcome = follow_build(aws, build_id, on_event=renderer.handle, wait=follow,
                               local=target.local)
    if outcome.status == "IN_PROGRESS" and not outcome.detached:
        renderer.still_running(outcome)
        return
    renderer.outcome(outcome)
    if follow or outcome.detached:
        ctx.exit(outcome.exit_code)
