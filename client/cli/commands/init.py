"""``cbdeploy init``: write a commented starter ``cbdeploy.toml``."""

from __future__ import annotations

from pathlib import Path

import click

from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import not_empty_callback
from cbdeploy.client.config.load import CONFIG_FILE, load_config
from cbdeploy.client.config.scaffold import starter_config
from cbdeploy.client.errors import UsageError
from cbdeploy.client.target import project_directory


@command("init", short_help="Write a starter cbdeploy.toml for this project.")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option(
    "--config-path",
    "--configPath",
    "config_path",
    type=click.Path(dir_okay=False),
    callback=not_empty_callback,
    help=f"Where to write the config (default: ./{CONFIG_FILE}).",
)
def init(force: bool, config_path: str | None) -> None:
    """Write a starter cbdeploy.toml for the project in the current directory.

    The pipeline is guessed from what the project holds (package.json, CDK,
    Serverless, Terraform ...); review it before the first deploy.

    Examples:

    \b
      cbdeploy init
      cbdeploy init --config-path deploy/cbdeploy.toml --force
    """
    root = project_directory(None)
    path = Path(config_path) if config_path else root / CONFIG_FILE
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists; cbdeploy init leaves it alone.",
            "Pass --force to replace it with a fresh starter config.",
        )
    text, found = starter_config(root)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"Cannot write {path}: {error.strerror}.",
            "Run cbdeploy init from the project's directory, or give --config-path a "
            "file in an existing, writable directory.",
        ) from None
    load_config(root, "dev", path)  # what we write must load; a failure here is our bug
    click.echo(f"Wrote {path} for: {', '.join(found.labels)}.")
    click.echo("Review the [pipeline] commands, then deploy with:")
    click.echo("  cbdeploy deploy --stage dev --region us-east-1")
