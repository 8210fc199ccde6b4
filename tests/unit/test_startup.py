"""Help and completion start fast: they load no AWS SDK, no rich, no command they do not show.

Issue 16 item 3: `cbdeploy --help`, `cbdeploy deploy --help` and a completion
press must cost little more than starting Python. What makes them slow is
importing boto3/botocore (about 0.2 s), rich, and every command module to
read its one-line help. These tests run each request in a fresh interpreter
and look at ``sys.modules`` when it ends: a behaviour test, no timing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

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


def loaded(args: list[str], cwd: Path | None = None, **env: str) -> tuple[str, set[str]]:
    """What ``cbdeploy ARGS`` prints on stdout, and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, *args], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=60, check=True, cwd=cwd,
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
    assert "difflib" not in modules  # (a mistyped command's suggestions)
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


# What `package` without a cbdeploy.toml never uses: the archive builder (for a listing),
# the deploy's modules, the output session's presenters and report, --stats.
NOT_FOR_PACKAGE = {
    "cbdeploy.client.deploy.delta", "cbdeploy.client.deploy.upload",
    "cbdeploy.client.deploy.runner_plan", "cbdeploy.client.deploy.events",
    "cbdeploy.client.output.terminal", "cbdeploy.client.output.report",
    "cbdeploy.client.output.github", "cbdeploy.client.packaging.stats",
    "cbdeploy.client.packaging.excluded", "concurrent.futures",
}


def git_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('hi')\n" * 50)
    (root / "README.md").write_text("# hello\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def test_package_list_loads_no_rich_nor_the_archive_builder(tmp_path: Path) -> None:
    """Issue 16: `package --list` selects and prints; what it does not run, it does not import."""
    out, modules = loaded(["package", "--list"], cwd=git_project(tmp_path / "p"))
    assert out == "README.md\nsrc/app.py\n"
    assert heavy_in(modules) == []
    assert sorted(NOT_FOR_PACKAGE & modules) == []
    assert "cbdeploy.client.packaging.archive" not in modules
    assert "cbdeploy.client.packaging.workers" not in modules
    # No cbdeploy.toml: nothing reads one (finding out costs no parser, no schema).
    assert sorted({"cbdeploy.client.config.load", "cbdeploy.client.config.model", "tomllib",
                   "pathspec"} & modules) == []


def test_package_list_with_a_config_reads_no_workspace_nor_the_deploy_plan(
    tmp_path: Path,
) -> None:
    """A project of its own (no workspace) lists its files without pathspec (the
    workspace's matching) or the deploy's plan, runner and file list."""
    project = git_project(tmp_path / "p")
    (project / "cbdeploy.toml").write_text('[pipeline]\ndeploy = ["echo deploy"]\n')
    out, modules = loaded(["package", "--list"], cwd=project, AWS_REGION="us-east-1")
    assert out == "README.md\ncbdeploy.toml\nsrc/app.py\n"
    assert "cbdeploy.client.config.load" in modules  # (the config was read: it is the check)
    assert sorted({
        "pathspec", "cbdeploy.client.packaging.tree", "cbdeploy.client.deploy.delta",
        "cbdeploy.client.deploy.runner_plan", "cbdeploy.client.output.terminal", "rich.console",
    } & modules) == []


def test_a_package_into_a_pipe_prints_its_summary_without_rich(tmp_path: Path) -> None:
    """The summary on a plain stream is written straight: the same lines, no rich loaded."""
    project = git_project(tmp_path / "p")
    target = tmp_path / "out.zip"
    out, modules = loaded(["package", "--no-cache", "-o", str(target)], cwd=project)
    sha256 = hashlib.sha256(target.read_bytes()).hexdigest()
    assert re.fullmatch(
        rf"Wrote {re.escape(str(target))}: 2 files, \S+ \S+ raw, zip \S+ \S+\nsha256 {sha256}\n",
        out,
    ), out
    assert heavy_in(modules) == ["rich"]  # (rich.filesize, for the sizes: not its console)
    assert sorted(m for m in modules if m.startswith("rich.")) == ["rich._extension",
                                                                  "rich.filesize"]
    assert sorted(NOT_FOR_PACKAGE & modules) == []


def test_a_package_loads_no_ctypes_in_the_builder(tmp_path: Path) -> None:
    """The worker's deflater (ctypes, about 2 ms to import) is a worker process's alone:
    neither a cold package nor a re-package loads ctypes in the main process (deflater.py
    itself holds the deflate settings the builder reads, and imports ctypes only when a
    compressor is made)."""
    project = git_project(tmp_path / "p")
    for _ in range(2):  # cold, then from the cache
        _, modules = loaded(["package", "-o", str(tmp_path / "out.zip")], cwd=project)
        assert "cbdeploy.client.packaging.archive" in modules
        assert sorted({"ctypes", "_ctypes"} & modules) == []
