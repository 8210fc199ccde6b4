"""Every command explains itself: a description, examples that parse, a README entry."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.main import ALIASES, COMMANDS, main

README = Path(__file__).resolve().parents[2] / "README.md"
NAMES = [*COMMANDS, *ALIASES]


def command(name: str) -> click.Command:
    found = main.get_command(click.Context(main), name)
    assert found is not None, name
    return found


def examples(help_text: str) -> list[str]:
    """The lines of the help's ``Examples:`` block, stripped."""
    lines = help_text.splitlines()
    heading = [i for i, line in enumerate(lines) if line.strip() == "Examples:"]
    assert heading, help_text
    found = []
    for line in lines[heading[0] + 1 :]:
        if line and not line.startswith(" "):
            break  # the next section (Options:)
        if line.strip():
            found.append(line.strip())
    return found


@pytest.mark.parametrize("name", NAMES)
def test_help_has_a_description_and_examples_of_the_command(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: main {name} ")
    description = result.output.splitlines()[2].strip()
    assert len(description) > 10
    real_name = ALIASES.get(name, name)
    lines = examples(result.output)
    assert any(line.startswith(f"cbdeploy {real_name}") for line in lines), lines


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_example_is_a_valid_command_line(name: str) -> None:
    """Parsing, not running: a renamed option or a typo in an example fails here."""
    text = CliRunner().invoke(main, [name, "--help"]).output
    for line in examples(text):
        if not line.startswith("cbdeploy "):
            continue
        args = shlex.split(line.split(" > ")[0])[1:]
        ctx = click.Context(main, info_name="cbdeploy")
        sub_name, sub, rest = main.resolve_command(ctx, args)
        assert sub is not None and sub_name == name, line
        sub.make_context(sub_name, rest, parent=ctx).close()


@pytest.mark.parametrize("name", NAMES)
def test_readme_documents_the_command(name: str) -> None:
    assert f"cbdeploy {name}" in README.read_text(encoding="utf-8")


def test_command_list_shows_each_description_whole() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listing = result.output.split("Commands:\n", 1)[1]
    for name in COMMANDS:
        short = command(name).get_short_help_str(limit=1000)
        assert not short.endswith("..."), name
        assert f"  {name}  " in listing
        assert " ".join(short.split()[:3]) in listing, name
    assert "..." not in listing


@pytest.mark.parametrize("name", list(COMMANDS))
def test_short_description_fits_one_line_of_the_listing(name: str) -> None:
    """The listing's second column is 80 - 6 - len('defaults:configure') = 56 wide."""
    assert len(command(name).get_short_help_str(limit=1000)) <= 56, name


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [("deplyo", "Did you mean deploy?"),
     ("defaults", "Did you mean defaults:list or defaults:configure?"),
     ("xyz", None)],
)
def test_an_unknown_command_suggests_close_names(typed: str, suggestion: str | None) -> None:
    result = CliRunner().invoke(main, [typed])
    assert result.exit_code == 2
    last = result.stderr.splitlines()[-1]
    expected = f"Error: No such command {typed!r}."
    assert last == (f"{expected} {suggestion}" if suggestion else expected)
