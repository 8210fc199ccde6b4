"""Every ``cbdeploy`` command and flag that docs/stacktape.md and docs/ci.md name exists
(issue 17: the docs and every command's ``--help`` agree)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from cbdeploy.client.cli.main import ALIASES, COMMANDS, main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def mentions() -> list[tuple[str, str]]:
    """(document, command line) for each `cbdeploy ...` in backticks or in a code block."""
    found = []
    for doc in ("stacktape.md", "ci.md"):
        text = (DOCS / doc).read_text()
        lines = re.findall(r"`(cbdeploy [^`]+)`", text)
        for block in re.findall(r"^```\w*\n(.*?)^```", text, re.M | re.S):
            lines += re.findall(r"^\s*(?:- |\$ )?(cbdeploy [a-z:]+.*)$", block, re.M)
        found += [(doc, line) for line in lines]
    return found


@pytest.mark.parametrize(("doc", "line"), mentions())
def test_named_commands_and_flags_exist(doc: str, line: str) -> None:
    words = line.split()
    command = main.get_command(click.Context(main), words[1])
    assert command is not None, f"{doc}: no command {words[1]!r} in {line!r}"
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for word in words[2:]:
        flag = word.split("=", 1)[0]
        if flag.startswith("-"):
            assert flag in known, f"{doc}: {words[1]} has no option {flag} ({line!r})"


# ----------------------------------------------------------------------------- the README

README = DOCS.parent / "README.md"
FLAG = re.compile(r"(?<![\w-])(--[A-Za-z][\w-]*|-[a-z])(?![\w-])")


def commands_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Commands\n"):text.index("\n### ", text.index("## Commands\n"))]


def rows() -> dict[str, str]:
    """Command name -> its row of the README's Commands table (all three columns)."""
    found = {}
    for line in commands_section().splitlines():
        match = re.match(r"\| `cbdeploy ([a-z:]+)[^`]*` \|", line)
        if match:
            found[match.group(1)] = line
    return found


def common_paragraph() -> str:
    """The paragraph above the table: the options every command that talks to AWS takes."""
    paragraph = commands_section().split("\n\n")[1]
    assert "talk to AWS" in paragraph, paragraph
    return paragraph


def options(name: str) -> list[click.Option]:
    command = main.get_command(click.Context(main), name)
    assert command is not None, name
    return [p for p in command.params if isinstance(p, click.Option) and p.name != "help"]


def spellings(name: str) -> set[str]:
    return {"--help", "-h"} | {o for p in options(name) for o in (*p.opts, *p.secondary_opts)}


def main_spelling(option: click.Option) -> str:
    """The spelling the docs use: the first long one (``--yes``), else the short (``-z``)."""
    return next((o for o in option.opts if o.startswith("--")), option.opts[0])


def talks_to_aws(name: str) -> bool:
    return "--local" in spellings(name)


def test_the_commands_table_has_one_row_per_command() -> None:
    assert set(rows()) == set(COMMANDS) | set(ALIASES)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_of_a_command_is_in_its_readme_row_or_the_common_options(name: str) -> None:
    """The README's row of a command, or the paragraph of the options shared by the commands
    that talk to AWS, names each of its options (issue 17: README and --help agree)."""
    row, common = rows()[name], common_paragraph()
    missing = [
        main_spelling(o) for o in options(name)
        if main_spelling(o) not in FLAG.findall(row) and main_spelling(o) not in FLAG.findall(common)
    ]
    assert missing == [], f"README.md, Commands: the row of {name} lacks {missing}"


@pytest.mark.parametrize("name", [*COMMANDS, *ALIASES])
def test_every_flag_a_readme_row_names_is_an_option_of_that_command(name: str) -> None:
    real = ALIASES.get(name, name)
    unknown = [f for f in FLAG.findall(rows()[name]) if f not in spellings(real)]
    assert unknown == [], f"README.md, Commands: {name} has no option {unknown}"


def test_the_common_options_are_options_of_every_command_that_talks_to_aws() -> None:
    flags = set(FLAG.findall(common_paragraph()))
    aws_commands = [n for n in COMMANDS if talks_to_aws(n)]
    assert len(aws_commands) >= 6
    for flag in flags:
        holders = [n for n in COMMANDS if flag in spellings(n)]
        assert holders, f"README.md, Commands: no command has {flag}"
    shared = {"--stage", "-s", "--region", "-r", "--aws-profile", "--config-path", "--local",
              "--log-level"}
    assert shared <= flags
    for name in aws_commands:
        assert shared <= spellings(name), name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_explains_itself_in_help(name: str) -> None:
    vague = [main_spelling(o) for o in options(name) if len((o.help or "").split()) < 3]
    assert vague == [], f"{name}: options without a help text: {vague}"


# ----------------------------------------------------------------------------- docs/ci.md


def test_ci_md_names_every_input_and_output_of_the_action() -> None:
    """docs/ci.md's table of the action's inputs, and its list of outputs, are action.yml's."""
    import yaml

    action = yaml.safe_load((DOCS.parent / "action.yml").read_text(encoding="utf-8"))
    text = (DOCS / "ci.md").read_text(encoding="utf-8")
    table = text[text.index("| input |"):text.index("\n\n", text.index("| input |"))]
    documented = re.findall(r"^\| `([\w-]+)` \|", table, re.M)
    assert documented == list(action["inputs"])
    outputs = text[text.index("Outputs:"):text.index("\n\n", text.index("Outputs:"))]
    named = {w for w in re.findall(r"`([\w-]+)`", outputs) if w in action["outputs"]}
    assert named == set(action["outputs"])
    for name, spec in action["inputs"].items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert ("(required)" in row) == bool(spec.get("required")), name
