"""Help and completion start fast: they load no AWS SDK, no rich, no command they do not show.

Issue 16 item 3: `cbdeploy --help`, `cbdeploy deploy --help` and a completion
press must cost little more than starting Python. What makes them slow is
importing boto3/botocore (about 0.2 s), rich, and every command module to
read its one-line help. These tests run each request in a fresh interpreter
and look at ``sys.modules`` when it ends: a behaviour test, no timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cbdeploy.client.cli.main import COMMANDS, main

# Drives the real entry point (as the console script does) and prints what got imported.
DRIVER = """
import json, sys
sys.argv = ["cbdeploy", *sys.argv[1:]]
from cbdeploy.client.cli.main import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
sys.stderr.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
"""
HEAVY = ("boto3", "botocore", "rich", "yaml", "moto", "tenacity")
COMMAND_MODULES = "cbdeploy.client.cli.commands."


def loaded(args: list[str], **env: str) -> tuple[str, set[str]]:
    """What ``cbdeploy ARGS`` prints on stdout, and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, *args], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=60, check=True,
    )
    marker = done.stderr.rindex("MODULES=")
    return done.stdout, set(json.loads(done.stderr[marker + len("MODULES="):]))


def heavy_in(modules: set[str]) -> list[str]:
    return [name for name in HEAVY if name in modules]


def test_group_help_imports_no_command_module_nor_sdk_nor_rich() -> None:
    out, modules = loaded(["--help"])
    assert "Package, run the pipeline on CodeBuild, stream its logs." in out
    assert all(name in out for name in COMMANDS)
    assert heavy_in(modules) == []
    assert sorted(m for m in modules if m.startswith(COMMAND_MODULES)) == []


def test_command_help_imports_only_that_command_and_no_sdk_nor_rich() -> None:
    out, modules = loaded(["deploy", "--help"])
    assert "--no-cache" in out and "Exit status:" in out
    assert heavy_in(modules) == []
    assert sorted(m for m in modules if m.startswith(COMMAND_MODULES)) == [
        "cbdeploy.client.cli.commands.deploy"]


def test_completing_a_command_name_imports_no_command_module() -> None:
    out, modules = loaded([], _CBDEPLOY_COMPLETE="bash_complete",
                          COMP_WORDS="cbdeploy de", COMP_CWORD="1")
    assert out.split() == ["plain,deploy", "plain,destroy",
                           "plain,defaults:configure", "plain,defaults:list"]
    assert heavy_in(modules) == []
    assert sorted(m for m in modules if m.startswith(COMMAND_MODULES)) == []


def test_completing_an_option_of_deploy_loads_no_sdk() -> None:
    out, modules = loaded([], _CBDEPLOY_COMPLETE="bash_complete",
                          COMP_WORDS="cbdeploy deploy --no-c", COMP_CWORD="2")
    assert out.split() == ["plain,--no-cache"]
    assert heavy_in(modules) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_table_help_is_the_command_own_short_help(name: str) -> None:
    """The group shows the table's line without importing the command: they must agree."""
    import click

    command = main.get_command(click.Context(main), name)
    assert command is not None
    assert COMMANDS[name][1] == command.short_help
