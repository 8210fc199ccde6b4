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

import importlib
from typing import Any

import click
from click.shell_completion import CompletionItem, add_completion_class

from cbdeploy.client.cli.completion import ColonBashComplete

ALIASES = {"codebuild:deploy": "deploy"}
# Command name -> ("module:attribute", one-line help), in the order `--help` lists
# them. The help is here so that `cbdeploy --help` and completing a command
# name import no command module (nor boto3, nor rich): tests/unit/test_startup.py
# checks that each line is its command's own short_help.
COMMANDS = {
    "deploy": ("cbdeploy.client.cli.commands.deploy:deploy",
               "Package, run the pipeline on CodeBuild, stream its logs."),
    "package": ("cbdeploy.client.cli.commands.package:package",
                "Build the deploy archive here, without uploading it."),
    "logs": ("cbdeploy.client.cli.commands.logs:logs",
             "Print a build's log, or follow it to the end."),
    "stop": ("cbdeploy.client.cli.commands.stop:stop", "Stop a running build."),
    "builds": ("cbdeploy.client.cli.commands.builds:builds",
               "List the recent builds of a stage."),
    "bootstrap": ("cbdeploy.client.cli.commands.bootstrap:bootstrap_command",
                  "Create or update a stage's infrastructure on AWS."),
    "destroy": ("cbdeploy.client.cli.commands.destroy:destroy_command",
                "Delete what cbdeploy created for a stage."),
    "policy": ("cbdeploy.client.cli.commands.policy:policy",
               "Print the IAM policy cbdeploy itself needs for a stage."),
    "init": ("cbdeploy.client.cli.commands.init:init",
             "Write a starter cbdeploy.toml for this project."),
    "defaults:configure": ("cbdeploy.client.cli.commands.defaults:configure",
                           "Store the default stage, region and AWS profile."),
    "defaults:list": ("cbdeploy.client.cli.commands.defaults:list_defaults",
                      "Show the stored defaults and where they are kept."),
    "emulator": ("cbdeploy.client.cli.commands.emulator:emulator_command",
                 "Serve a local AWS endpoint that really runs builds."),
}


class CbdeployGroup(click.Group):
    """Resolves aliases and imports commands lazily (each runs in its output session)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, str] = {}
        self._short_help: dict[str, str] = {}

    def add_lazy_command(self, name: str, target: str, short_help: str) -> None:
        self._lazy[name] = target
        self._short_help[name] = short_help

    def _short_help_of(self, ctx: click.Context, name: str) -> str | None:
        """A command's one-line help, from the table when it has not been imported (None: hidden)."""
        if name in self._short_help and name not in self.commands:
            return self._short_help[name]
        command = self.get_command(ctx, name)
        if command is None or command.hidden:
            return None
        return command.get_short_help_str(limit=1000)

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
            import difflib  # (a typo's suggestions only)

            known = [*self._lazy, *ALIASES]
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            maybe = f" Did you mean {' or '.join(close)}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{maybe}", ctx)
        return super().resolve_command(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        # click's own would import every command whose name matches to read its help.
        results = []
        for name in self.list_commands(ctx):
            if name.startswith(incomplete):
                short_help = self._short_help_of(ctx, name)
                if short_help is not None:
                    results.append(CompletionItem(name, help=short_help))
        # The group's own options (click.Command's completion, not Group's).
        results.extend(click.Command.shell_complete(self, ctx, incomplete))
        return results

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Each command's first sentence whole (wrapped if need be), never cut with "...".
        rows = []
        for name in self.list_commands(ctx):
            short_help = self._short_help_of(ctx, name)
            if short_help is not None:
                rows.append((name, short_help))
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
    for name, (target, short_help) in COMMANDS.items():
        main.add_lazy_command(name, target, short_help)
    # `defaults:<TAB>` in bash (which splits words at colons).
    add_completion_class(ColonBashComplete, "bash")


_register()
