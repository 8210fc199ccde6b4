"""``cbdeploy destroy``: delete a stage's project and role; ``--all`` also the shared pieces."""

from __future__ import annotations

import click

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import aws_options
from cbdeploy.client.config.load import CONFIG_FILE, load_config
from cbdeploy.client.config.model import NAME_RE
from cbdeploy.client.deploy.workspace_deploy import stage_shipping
from cbdeploy.client.errors import Cancelled, UsageError
from cbdeploy.client.infra.calls import execute
from cbdeploy.client.infra.destroy import plan_destroy
from cbdeploy.client.infra.model import names_for
from cbdeploy.client.output import infra as render_infra
from cbdeploy.client.output.console import make_console
from cbdeploy.client.output.place import Place
from cbdeploy.client.target import Target


@command("destroy", short_help="Delete what cbdeploy created for a stage.")
@aws_options()
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also delete the app's log group and the shared bucket of the account and region (with the archives of every app).",
)
@click.option(
    "--name",
    "app_name",
    help="The app's name (as in its cbdeploy.toml), to destroy without the project at hand.",
)
@click.option(
    "--yes", "--autoConfirmOperation", "yes", is_flag=True, help="Do not ask for confirmation."
)
def destroy_command(target: Target, everything: bool, app_name: str | None, yes: bool) -> None:
    """Delete what cbdeploy created for a stage (--all: also the shared infrastructure).

    Lists what it will delete and asks first, unless --yes.

    Examples:

    \b
      cbdeploy destroy --stage pr-42 --region us-east-1
      cbdeploy destroy --stage dev --region us-east-1 --name my-api --all --yes
    """
    name = _app_name(target, app_name)
    console = make_console()
    with open_aws(target) as aws:
        names = names_for(aws, name, target.stage)
        render_infra.header(console, "Destroy", names, Place(aws.region, target.local, aws.endpoint))
        calls = plan_destroy(aws, name, target.stage, everything=everything)
        if calls:
            if not yes:  # (with --yes the steps are listed once, as they are made)
                render_infra.destroy_plan(console, calls)
                if not _confirmed():
                    raise Cancelled()
            execute(aws, calls, on_event=render_infra.progress(console))
    render_infra.destroyed(console, len(calls), names, everything=everything)


def _app_name(target: Target, given: str | None) -> str:
    """``--name``, else the name in the project's config (which then must exist)."""
    if given is not None:
        if not NAME_RE.match(given):
            raise UsageError(
                f"Invalid app name {given!r}.",
                "Pass the name from the app's cbdeploy.toml: 1 to 40 of a-z, 0-9 and '-'.",
            )
        return given
    root = target.project_root
    if target.config_path is None and not (root / CONFIG_FILE).is_file():
        raise UsageError(
            f"No cbdeploy.toml in {root} to say which app to destroy.",
            "Pass --name APP, or run from the project's directory (or pass --config-path).",
        )
    return stage_shipping(target, load_config(root, target.stage, target.config_path)).app


def _confirmed() -> bool:
    try:
        return click.confirm("Destroy these resources?", default=False)
    except click.Abort:
        return False
