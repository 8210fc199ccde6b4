"""``defaults:configure`` and ``defaults:list``."""

from __future__ import annotations

import click

from client import defaults as store
from client.options import validate_region, validate_stage


@click.command("defaults:configure")
@click.option("--stage", "-s", help="Default stage.")
@click.option("--region", "-r", help="Default AWS region.")
@click.option("--aws-profile", "--awsProfile", "aws_profile", help="Default AWS profile.")
def configure(stage: str | None, region: str | None, aws_profile: str | None) -> None:
    """Store the default stage, region and AWS profile (prompts for what is not given)."""
    current = store.load()
    if stage is None and region is None and aws_profile is None:
        stage = click.prompt("Default stage", default=current.stage or "dev")
        region = click.prompt("Default region", default=current.region or "us-east-1")
        aws_profile = click.prompt("Default AWS profile", default=current.profile or "default")
    new = store.Defaults(
        stage=validate_stage(stage) if stage else current.stage,
        region=validate_region(region) if region else current.region,
        profile=aws_profile or current.profile,
    )
    where = store.save(new)
    click.echo(f"Saved defaults to {where}")


@click.command("defaults:list")
def list_defaults() -> None:
    """Show the stored default stage, region and AWS profile."""
    values = store.load()
    click.echo(f"stage:   {values.stage or '-'}")
    click.echo(f"region:  {values.region or '-'}")
    click.echo(f"profile: {values.profile or '-'}")
