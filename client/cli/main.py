"""The ``cbdeploy`` command line: parse, delegate, render, translate errors.

Commands live in ``client/cli/commands/<name>.py`` and stay thin: they build a
service, call it and hand the result to their output session. Every command
is a :class:`~cbdeploy.client.cli.factory.CbdeployCommand`, run inside the
output session ``client.cli.factory`` makes for it, which translates errors
once (``client.output.session``): a :class:`~client.errors.CbdeployError`
becomes its message and hint on stderr and its exit code; any other exception
is a bug, one line and exit 1; a Ctrl-C exits 130. Shell completion is
click's (``client.cli.completion``).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import click
from click.shell_completion import add_completion_class

from cbdeploy.client.cli.completion import ColonBashComplete

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
    "policy": "cbdeploy.client.cli.commands.policy:policy",
    "init": "cbdeploy.client.cli.commands.init:init",
    "defaults:configure": "cbdeploy.client.cli.commands.defaults:configure",
    "defaults:list": "cbdeploy.client.cli.commands.defaults:list_defaults",
    "emulator": "cbdeploy.client.cli.commands.emulator:emulator_command",
}


class CbdeployGroup(click.Group):
    """Resolves aliases and imports commands lazily (each runs in its output session)."""

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
