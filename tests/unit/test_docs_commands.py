"""Every ``cbdeploy`` command and flag that docs/stacktape.md and docs/ci.md name exists
(issue 17: the docs and every command's ``--help`` agree)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from cbdeploy.client.cli.main import main

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
