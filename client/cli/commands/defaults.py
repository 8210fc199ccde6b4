"""``defaults:configure`` and ``defaults:list``: the stage, region and profile to assume."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from cbdeploy.client.aws.regions import profile_files, profile_names
from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import (
    complete_profile,
    complete_region,
    validate_region,
    validate_stage,
)
from cbdeploy.client.config import defaults as store
from cbdeploy.client.errors import CbdeployError, UsageError
from cbdeploy.client.tty import stdin_is_terminal

CLEAR = "-"  # at the profile prompt: no profile (the default credential chain)


@command("defaults:configure", short_help="Store the default stage, region and AWS profile.")
@click.option("--stage", "-s", help="Default stage ('' clears it).")
@click.option("--region", "-r", help="Default AWS region ('' clears it).",
              shell_complete=complete_region)
@click.option("--aws-profile", "--awsProfile", "aws_profile",
              help="Default AWS profile ('' clears it).", shell_complete=complete_profile)
def configure(stage: str | None, region: str | None, aws_profile: str | None) -> None:
    """Store the default stage, region and AWS profile.

    Commands use them when --stage, --region or --aws-profile is not given
    (a region in AWS_REGION or AWS_DEFAULT_REGION comes first, as in the AWS
    CLI). The profile must exist in your AWS config or credentials file.
    At a terminal and without options it asks for each (Enter keeps the value
    shown). With options it asks nothing and stores those, keeping the other
    stored values. Without a terminal, pass options.

    Examples:

    \b
      cbdeploy defaults:configure
      cbdeploy defaults:configure --stage dev --region eu-west-1
      cbdeploy defaults:configure --aws-profile ''
    """
    current = store.load()
    if stage is None and region is None and aws_profile is None:
        if not stdin_is_terminal():
            raise UsageError(
                "No defaults given, and no terminal to ask for them.",
                "Pass what to store, for example: cbdeploy defaults:configure --stage dev "
                "--region us-east-1 [--aws-profile NAME]",
            )
        try:
            new = _ask(current)
        except click.Abort:  # Ctrl-C or Ctrl-D at a prompt (click turns both into Abort)
            click.echo("Nothing saved.", err=True)
            sys.exit(130)
    else:
        new = store.Defaults(
            stage=_given(stage, validate_stage, current.stage),
            region=_given(region, validate_region, current.region),
            profile=_given(aws_profile, validate_profile, current.profile),
        )
    where = store.save(new)
    click.echo(f"Saved to {where}:")
    _show(new)


def _given(value: str | None, check: Callable[[str], str], stored: str | None) -> str | None:
    """An option's value: None keeps what is stored, '' clears it."""
    if value is None:
        return stored
    return check(value) if value else None


def _ask(current: store.Defaults) -> store.Defaults:
    stage = click.prompt(
        "Default stage", default=current.stage or "dev", value_proc=_checked(validate_stage)
    )
    region = click.prompt(
        "Default region",
        default=current.region or "us-east-1",
        value_proc=_checked(validate_region),
    )
    profile = click.prompt(
        f"Default AWS profile ('{CLEAR}' for none)", default=current.profile or CLEAR,
        value_proc=_checked(lambda name: name if name == CLEAR else validate_profile(name)),
    ).strip()
    return store.Defaults(stage=stage, region=region, profile=None if profile == CLEAR else profile)


def validate_profile(name: str) -> str:
    """``name`` if the AWS config or credentials file has that profile; else UsageError."""
    known = profile_names()
    if name in known:
        return name
    config, credentials = profile_files()
    listed = ", ".join(sorted(known)) if known else "none"
    raise UsageError(
        f"No AWS profile {name!r} in {config} or {credentials} (known profiles: {listed}).",
        f"Create it first (aws configure --profile {name}, or aws configure sso), "
        "or pass one of the known profiles.",
    )


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """Turn our validation error into click's, which makes the prompt ask again."""

    def convert(value: str) -> str:
        try:
            return check(value.strip())
        except CbdeployError as error:
            raise click.UsageError(f"{error.message} {error.hint or ''}".strip()) from None

    return convert


@command("defaults:list", short_help="Show the stored defaults and where they are kept.")
def list_defaults() -> None:
    """Show the stored default stage, region and AWS profile, and the file they are kept in.

    A value given on the command line wins over these. The region is, as in
    the AWS CLI: --region, then AWS_REGION, then AWS_DEFAULT_REGION, then the
    stored default, then the region of the AWS profile in use.

    Examples:

    \b
      cbdeploy defaults:list
    """
    _show(store.load())
    where = store.path()
    if where.is_file():
        click.echo(f"(stored in {where})")
    else:
        click.echo(f"(nothing stored yet in {where}: run cbdeploy defaults:configure)")


def _show(values: store.Defaults) -> None:
    click.echo(f"stage:   {values.stage or '-'}")
    click.echo(f"region:  {values.region or '-'}")
    click.echo(f"profile: {values.profile or '-'}")
