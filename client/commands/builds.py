"""``cbdeploy builds``: the recent builds of a stage."""

from __future__ import annotations

import click
from rich.console import Console

from client.aws import open_aws
from client.bootstrap import project_name
from client.config import load_config
from client.errors import NotFoundError
from client.options import Target, aws_options
from client.render import builds_table, no_builds


@click.command("builds", short_help="List the recent builds of a stage.")
@click.option("--limit", "-n", default=10, show_default=True, type=click.IntRange(1, 100),
              help="How many builds to show, newest first.")
@aws_options()
def builds(target: Target, limit: int) -> None:
    """Recent builds of the stage: id, status, start, duration, git commit, initiator.

    Examples:

    \b
      cbdeploy builds --stage dev --region us-east-1
      cbdeploy builds --stage prod --region eu-west-1 --limit 30
    """
    config = load_config(target.project_root, target.stage, target.config_path)
    project = project_name(config.name, target.stage)
    console = Console()
    with open_aws(target) as aws:
        try:
            found = aws.get_builds(aws.list_build_ids(project, limit))
        except NotFoundError:
            found = []
    if not found:
        no_builds(console, project, target.stage)
        return
    builds_table(console, found)
