"""``cbdeploy bootstrap``: create or update a stage's bucket, role, log group and project."""

from __future__ import annotations

import click

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import aws_options
from cbdeploy.client.config.load import load_config
from cbdeploy.client.deploy.workspace_deploy import settings_for, stage_shipping
from cbdeploy.client.infra.bootstrap import bootstrap, plan_bootstrap
from cbdeploy.client.infra.model import names_for
from cbdeploy.client.output import infra as render_infra
from cbdeploy.client.output.console import make_console
from cbdeploy.client.output.place import Place
from cbdeploy.client.target import Target


@command("bootstrap", short_help="Create or update a stage's infrastructure on AWS.")
@aws_options()
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
def bootstrap_command(target: Target, dry_run: bool) -> None:
    """Create or update what a stage needs on AWS; changes only what differs.

    That is the account's bucket for archives, the app's log group, and the
    stage's IAM role and CodeBuild project. deploy does this itself when
    needed; run it alone to prepare an account or see what would change.

    Examples:

    \b
      cbdeploy bootstrap --stage dev --region us-east-1 --dry-run
      cbdeploy bootstrap --stage dev --region us-east-1
    """
    config = load_config(target.project_root, target.stage, target.config_path)
    console = make_console()
    with open_aws(target) as aws:
        shipping = stage_shipping(target, config)  # a workspace's service: the workspace's stage
        names = names_for(aws, shipping.app, target.stage)
        render_infra.header(console, "Bootstrap", names, Place(aws.region, target.local, aws.endpoint))
        settings = settings_for(shipping, config, target.stage, aws.region,
                                aws.account_id())  # a workspace's: every service's needs
        if dry_run:
            render_infra.would_change(console, plan_bootstrap(aws, settings))
            return
        infra = bootstrap(aws, settings, on_event=render_infra.progress(console))
    render_infra.infrastructure(console, infra)
