"""``cbdeploy logs BUILD_ID [--follow]``: print a build's log, or re-attach to it."""

from __future__ import annotations

import click

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.cli.options import Target, aws_options
from cbdeploy.client.deploy.service import follow_build
from cbdeploy.client.output.console import make_console
from cbdeploy.client.output.github import github_errors, github_view
from cbdeploy.client.output.report import ReportCollector, json_result
from cbdeploy.client.output.terminal import Renderer


@click.command("logs", short_help="Print a build's log, or follow it to the end.")
@click.argument("build_id")
@click.option("--follow", "-f", is_flag=True,
              help="Keep streaming until the build ends, then exit with its outcome.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object on stdout when the command ends (the build's "
                   "status, phases, steps, outputs); the log goes to stderr.")
@json_result(deploy=False)
@github_errors("logs")
@aws_options(need_stage=False)
@click.pass_context
def logs(ctx: click.Context, target: Target, build_id: str, follow: bool, as_json: bool,
         report: ReportCollector) -> None:
    """Print a build's log from its start; with --follow, stream it to the end.

    With --follow the exit status is the build's (0 succeeded, 1 not); Ctrl-C
    leaves the build running and exits 130 (SIGTERM 143, SIGHUP 129).

    Examples:

    \b
      cbdeploy logs cbdeploy-myapp-dev:0f6c2a4e-5d1b-4c3e-9a7f-2b8d6e1c4a90 --region us-east-1
      cbdeploy logs cbdeploy-myapp-dev:0f6c2a4e-5d1b-4c3e-9a7f-2b8d6e1c4a90 --follow --json
    """
    report.context(region=target.region, local=target.local, build_id=build_id)
    console = make_console(stderr=as_json)
    # (No 'full log: cbdeploy logs ...' at the end: this is that command.)
    renderer = Renderer(console, debug=target.log_level == "debug", noun="Build", log_hint=False)
    # Looking at an old build is no failure of this job: annotate only a followed one.
    with github_view(renderer, console, report, command="logs", noun="Build",
                     annotate_failure=follow) as view:
        with open_aws(target) as aws:
            outcome = follow_build(aws, build_id, on_event=report.tee(view.handle), wait=follow,
                                   local=target.local)
        report.finish(outcome)
        if outcome.status == "IN_PROGRESS" and not outcome.detached:
            view.still_running(outcome)
            return
        view.outcome(outcome)
    if follow or outcome.detached:
        ctx.exit(outcome.exit_code)
