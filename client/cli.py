"""The ``cbdeploy`` command line: parse, delegate, render, translate errors.

Commands live in ``client/commands/<name>.py`` and stay thin: they build a
service, call it and hand the result to the terminal layer. Errors are
translated here, once: a :class:`~client.errors.CbdeployError` becomes its
message and hint on stderr and its exit code; a traceback is shown only with
``--log-level debug``.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from client.errors import CbdeployError

ALIASES = {"codebuild:deploy": "deploy"}


class CbdeployGroup(click.Group):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CbdeployError as error:
            debug = _debug_requested(ctx)
            if debug:
                traceback.print_exc()
            report_error(error)
            ctx.exit(error.exit_code)


def _debug_requested(ctx: click.Context) -> bool:
    if ctx.meta.get("cbdeploy.log_level") == "debug":
        return True
    argv = sys.argv[1:]
    return any(
        a in ("--log-level=debug", "--logLevel=debug")
        or (a in ("--log-level", "--logLevel") and i + 1 < len(argv) and argv[i + 1] == "debug")
        for i, a in enumerate(argv)
    )


def report_error(error: CbdeployError) -> None:
    """Print one readable error: what went wrong, then what to do next."""
    click.echo(f"Error: {error.message}", err=True)
    if error.hint:
        click.echo(error.hint, err=True)


@click.group(cls=CbdeployGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cbdeploy")
def main() -> None:
    """Run your project's deploy pipeline on AWS CodeBuild and stream it here."""


def _register() -> None:
    # Each command module owns one command; importing it here keeps cli.py small.
    from client.commands import defaults as defaults_cmd

    main.add_command(defaults_cmd.configure)
    main.add_command(defaults_cmd.list_defaults)

    from client.commands import init as init_cmd

    main.add_command(init_cmd.init)

    from client.commands import bootstrap as bootstrap_cmd
    from client.commands import destroy as destroy_cmd

    main.add_command(bootstrap_cmd.bootstrap_command)
    main.add_command(destroy_cmd.destroy_command)

    from client.commands import emulator as emulator_cmd

    main.add_command(emulator_cmd.emulator_command)

    from client.commands import builds as builds_cmd
    from client.commands import deploy as deploy_cmd
    from client.commands import logs as logs_cmd
    from client.commands import stop as stop_cmd

    main.add_command(deploy_cmd.deploy)
    main.add_command(logs_cmd.logs)
    main.add_command(stop_cmd.stop)
    main.add_command(builds_cmd.builds)

    from client.commands import package as package_cmd

    main.add_command(package_cmd.package)


_register()
