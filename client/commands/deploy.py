"""``cbdeploy deploy`` (alias ``codebuild:deploy``): run the pipeline on CodeBuild."""

from __future__ import annotations

import json

import click
from rich.console import Console

from client.deploy import DeployOptions, DeployService
from client.errors import CbdeployError
from client.options import Target, aws_options
from client.outcome import summary
from client.render import Renderer, confirm


@click.command("deploy")
@aws_options()
@click.option("--yes", "--autoConfirmOperation", "yes", is_flag=True,
              help="Deploy without asking, even where the stage says confirm = true.")
@click.option("--no-cache", "--noCache", "no_cache", is_flag=True,
              help="Run this build without CodeBuild's cache.")
@click.option("--preserve-temp-files", "--preserveTempFiles", "preserve_temp_files",
              is_flag=True, help="Keep the archive, buildspec and plan in .cbdeploy/<invocation-id>/.")
@click.option("--detach", is_flag=True, help="Start the build, print its id and exit.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON summary on stdout; human output goes to stderr.")
@click.pass_context
def deploy(ctx: click.Context, target: Target, yes: bool, no_cache: bool,
           preserve_temp_files: bool, detach: bool, as_json: bool) -> None:
    """Package the project, start its pipeline on CodeBuild, stream the logs, exit with the outcome.

    Exit status: 0 succeeded (or --detach started it), 1 the build failed or
    was stopped, 2 nothing was started, 130 interrupted with Ctrl-C.
    """
    console = Console(stderr=as_json)
    renderer = Renderer(console, debug=target.log_level == "debug")
    service = DeployService(
        target, DeployOptions(yes=yes, no_cache=no_cache,
                              preserve_temp_files=preserve_temp_files, detach=detach),
        project_root=target.project_root, on_event=renderer.handle,
        confirm=lambda question: confirm(console, question),
    )
    try:
        outcome = service.run()
    except KeyboardInterrupt:
        renderer.close()
        renderer.interrupted_before_start()
        if as_json:  # the one object a script waits for, even now
            click.echo(json.dumps({"error": "Interrupted before the build started; nothing "
                                   "was deployed.", "hint": None, "exitCode": 130}))
        ctx.exit(130)
    except CbdeployError as error:
        renderer.close()
        if as_json:
            click.echo(json.dumps({"error": error.message, "hint": error.hint,
                                   "exitCode": error.exit_code}))
        raise
    renderer.outcome(outcome)
    if as_json:
        click.echo(json.dumps(summary(outcome, stage=target.stage)))
    ctx.exit(outcome.exit_code)
