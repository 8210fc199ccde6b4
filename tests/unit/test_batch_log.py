"""A batch's lines behind each service's name (``client.output.batch_log``), untrusted text kept harmless."""

from __future__ import annotations

import io

from rich.console import Console

from cbdeploy.client.output.place import Place
from cbdeploy.client.output.terminal import Renderer
from cbdeploy.client.watch.events import LogLine, ServiceEvent, ServiceStarted, StillRunning
from tests.factories import make_build

HOSTILE = "osc52 \x1b]52;c;ZXZpbA==\x07 markup [bold]x[/bold] [/x] \x1b[31mred\x1b[0m \x1b[2J end"


def render(terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=60, force_terminal=terminal,
                      color_system="truecolor" if terminal else None)
    renderer = Renderer(console, place=Place("eu-west-1"))
    names = ("api", "web-app")
    for name in names:
        renderer.handle(ServiceStarted(name, name, make_build(id=f"p:{name}"), names))
    renderer.handle(ServiceEvent("api", LogLine(1, HOSTILE)))
    renderer.handle(ServiceEvent("web-app", LogLine(2, "x" * 100)))
    renderer.handle(ServiceEvent("web-app", StillRunning(50.0)))
    return out.getvalue()


def test_plain_output_prefixes_every_line_and_keeps_no_control_sequence() -> None:
    lines = render(terminal=False).splitlines()
    assert lines[0] == "api     │ build p:api"
    assert lines[1] == "web-app │ build p:web-app"
    assert lines[2].startswith("api     │ osc52 ") and "[bold]x[/bold] [/x]" in lines[2]
    assert "\x1b" not in "".join(lines) and "\x07" not in "".join(lines)
    assert lines[3] == "web-app │ " + "x" * 100  # never wrapped: one line is one line
    assert lines[4] == "web-app │ … still running: build (50s)"


def test_at_a_terminal_only_colours_survive_and_each_name_has_its_own() -> None:
    out = render(terminal=True)
    api = next(line for line in out.splitlines() if "osc52" in line)
    assert "\x1b]" not in out and "\x07" not in out and "\x1b[2J" not in out
    assert "[bold]x[/bold] [/x]" in api  # markup is text
    assert "\x1b[31mred" in api  # the build's own colour stays
    assert out.count("\x1b[36mapi") >= 2 and "\x1b[35mweb-app" in out  # cyan, magenta
    # No spinner per service: a quiet one says so at a terminal too.
    assert "still running: build (50s)" in out
