"""``cbdeploy deploy`` (alias ``codebuild:deploy``): run the pipeline on CodeBuild."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import aws_options, service_options

if TYPE_CHECKING:
    from cbdeploy.client.aws.remote import EarlyAgent
    from cbdeploy.client.aws.spawn import Early
    from cbdeploy.client.output.session import OutputSession
    from cbdeploy.client.target import Target

F = TypeVar("F", bound=Callable[..., Any])


def _agent_first(func: F) -> F:
    """The deploy's AWS agent process is started before anything else of the command runs
    (before its options are resolved: the region checked against botocore's list, the
    config found), so that its import of boto3 begins at once (client/aws/spawn.py).
    ``func`` gets it as ``early``; it is ended if the command fails before a door took it."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cbdeploy.client.aws.spawn import Early

        early = Early()
        try:
            return func(*args, early=early, **kwargs)
        finally:
            early.close()  # (nothing left to end once a door took it)

    decorated: Any = wrapper
    return decorated  # (the same parameters for click: functools.wraps)


@command("deploy", short_help="Package, run the pipeline on CodeBuild, stream its logs.")
@_agent_first
@aws_options()
@click.option("--yes", "--autoConfirmOperation", "yes", is_flag=True,
              help="Deploy without asking, even where the stage says confirm = true.")
@click.option("--no-package-cache", "no_package_cache", is_flag=True,
              help="Compress and hash every file again instead of reusing .cbdeploy/cache/.")
@click.option("--no-build-cache", "no_build_cache", is_flag=True,
              help="Run this build without CodeBuild's cache ([codebuild.cache]).")
@click.option("--no-cache", "--noCache", "no_cache", is_flag=True,
              help="Both --no-package-cache and --no-build-cache (Stacktape's --noCache).")
@click.option("--preserve-temp-files", "--preserveTempFiles", "preserve_temp_files",
              is_flag=True, help="Keep the archive, buildspec and plan in .cbdeploy/<invocation-id>/.")
@click.option("--detach", is_flag=True, help="Start the build, print its id and exit.")
@click.option("--no-delta", "--noDelta", "no_delta", is_flag=True,
              help="Upload the whole archive even where a delta against the stage's base would do.")
@click.option("--keep-going", "keep_going", is_flag=True,
              help="At a workspace root: a failed service lets the independent ones finish "
                   "(the batch's fast-fail off).")
@service_options
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object on stdout when the command ends, however it ends; "
                   "human output goes to stderr.")
def deploy(target: Target, yes: bool, no_package_cache: bool, no_build_cache: bool,
           no_cache: bool, preserve_temp_files: bool, detach: bool, no_delta: bool,
           keep_going: bool, as_json: bool, session: OutputSession, early: Early,
           **selection: Any) -> int:
    """Package the project, start its pipeline on CodeBuild, stream the logs, exit with the outcome.

    Exit status: 0 succeeded (or --detach started it), 1 the build failed or
    was stopped, 2 nothing was started, 130 interrupted with Ctrl-C, 143 by
    SIGTERM (a CI cancel), 129 by SIGHUP. At a terminal the first Ctrl-C stops
    the build after 3 seconds, in which a second one leaves it running;
    SIGTERM, SIGHUP and a SIGINT without a terminal stop it at once.

    In GitHub Actions each CodeBuild phase is a log group, a failure is an
    error annotation, and a summary goes to $GITHUB_STEP_SUMMARY.

    Examples:

    \b
      cbdeploy deploy --stage dev --region us-east-1
      cbdeploy deploy --stage prod --yes --json > result.json
      cbdeploy deploy --stage dev --affected --since origin/main

    At a workspace root (a cbdeploy.toml with [workspace]) every service deploys
    as one CodeBuild batch; in a service's folder that service deploys alone.
    Either way the whole workspace is shipped.
    """
    # The AWS agent first: it loads boto3 in a process of its own while this one loads
    # the pipeline; the deploy's door takes it (client/aws/remote.py).
    agent = _early_agent(target, early)
    # Imported when the command runs, so that `deploy --help` and completing its
    # options load neither boto3 nor the pipeline (tests/unit/test_startup.py).
    from cbdeploy.client.deploy.preamble import open_aws_later
    from cbdeploy.client.deploy.selection import Request
    from cbdeploy.client.deploy.service import DeployOptions, DeployService
    from cbdeploy.client.watch.batch_outcome import BatchOutcome
    from cbdeploy.client.watch.signals import interrupt_on_signals

    session.context(stage=target.stage, region=target.region, local=target.local)
    service = DeployService(
        target, DeployOptions(yes=yes, no_package_cache=no_package_cache or no_cache,
                              no_build_cache=no_build_cache or no_cache,
                              preserve_temp_files=preserve_temp_files, detach=detach,
                              no_delta=no_delta, keep_going=keep_going,
                              selection=Request(**selection)),
        project_root=target.project_root, on_event=session.emit, confirm=session.confirm,
        aws_factory=session.door(open_aws_later, local=target.local),
    )
    with agent, interrupt_on_signals():  # SIGTERM and SIGHUP too, until the build starts
        # (an agent that no door took ends here)
        outcome = service.run()
    if outcome is None:  # a workspace's selection found nothing to deploy
        return 0
    if isinstance(outcome, BatchOutcome):  # a workspace root: its services' batch
        session.finish_batch(outcome)
    else:
        session.finish(outcome)
    return outcome.exit_code


def _early_agent(target: Target, early: Early) -> EarlyAgent:
    """The deploy's AWS agent: the process started before the door's own modules were
    loaded, so that its import of boto3 began at once."""
    from cbdeploy.client.aws.remote import EarlyAgent

    return EarlyAgent(target, early.take())
