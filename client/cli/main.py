"""The ``cbdeploy`` command line: parse, delegate, render, translate errors.

Commands live in ``client/cli/commands/<name>.py`` and stay thin: they build a
service, call it and hand the result to the terminal layer. Errors are
translated here, once: a :class:`~client.errors.CbdeployError` becomes its
message and hint on stderr and its exit code; a traceback is shown only with
``--log-level debug``. Any other exception is a bug: one line naming it and
exit 1 (the traceback again only at debug level). A Ctrl-C that no command
handled exits 130. Shell completion is click's (``client.cli.completion``).
"""

from __future__ import annotations

import difflib
import importlib
import sys
import traceback
from typing import Any

import click
from click.shell_completion import add_completion_class

from cbdeploy.client.aws.notices import connection_notices
from cbdeploy.client.cli.completion import ColonBashComplete
from cbdeploy.client.errors import CbdeployError

# A bug, as opposed to an error the user can fix (2) or a failed build (1), still
# exits 1: "did not succeed" is the truthful answer for a script.
INTERNAL_ERROR_EXIT = 1
ALIASES = {"codebuild:deploy": "deploy"}
# Command name -> "module:attribute", in the order `--help` lists them.
COMMANDS = {
    "deploy": "cbdeploy.client.cli.commands.deploy:deploy",
    "package": "cbdeploy.client.cli.commands.package:package",
    "logs": "cbdeploy.client.cli.commands.logs:logs",
    "stop": "cbdeploy.client.cli.commands.stop:stop",
    "builds": "cbdeploy.client.cli.commands.builds:builds",
    "bootstrap": "cbdeploy.client.cli.commands.bootstrap:bootstrap_command",
    "destroy": "cbdeploy.client.cli.commands.destroy:destroy_command",
    "init": "cbdeploy.client.cli.commands.init:init",
    "defaults:configure": "cbdeploy.client.cli.commands.defaults:configure",
    "defaults:list": "cbdeploy.client.cli.commands.defaults:list_defaults",
    "emulator": "cbdeploy.client.cli.commands.emulator:emulator_command",
}


class CbdeployGroup(click.Group):
    """Resolves aliases, imports commands lazily, and translates errors once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, str] = {}

    def add_lazy_command(self, name: str, target: str) -> None:
        self._lazy[name] = target

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self._lazy, *(n for n in super().list_commands(ctx) if n not in self._lazy)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = ALIASES.get(cmd_name, cmd_name)
        target = self._lazy.get(name)
        if target is not None and name not in self.commands:
            module_name, attribute = target.split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = [*self._lazy, *ALIASES]
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            maybe = f" Did you mean {' or '.join(close)}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{maybe}", ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Each command's first sentence whole (wrapped if need be), never cut with "...".
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with connection_notices(_warn):
                return super().invoke(ctx)
        except CbdeployError as error:
            if _debug_requested(ctx):
                traceback.print_exc()
            report_error(error)
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.Abort, click.ClickException, BrokenPipeError):
            raise  # click's own ways out (Exit and Abort are RuntimeErrors)
        except KeyboardInterrupt:
            # Commands with something to stop (deploy) handle Ctrl-C themselves;
            # elsewhere it just ends the command, with the status the spec gives it.
            if sys.stderr.isatty():
                click.echo(err=True)  # end the line the terminal's "^C" is on
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception as error:  # a bug: one line, not a bare traceback
            debug = _debug_requested(ctx)
            if debug:
                traceback.print_exc()
            click.echo(f"Error: internal error: {type(error).__name__}: {error}", err=True)
            if not debug:
                click.echo(
                    "This is a bug in cbdeploy: rerun with --log-level debug for the "
                    "traceback and report it.",
                    err=True,
                )
            ctx.exit(INTERNAL_ERROR_EXIT)


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


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
    # Each command module owns one command and is imported only when that
    # command runs: a `cbdeploy package` should not pay for importing boto3.
    for name, target in COMMANDS.items():
        main.add_lazy_command(name, target)
    # `defaults:<TAB>` in bash (which splits words at colons).
    add_completion_class(ColonBashComplete, "bash")


_register()
