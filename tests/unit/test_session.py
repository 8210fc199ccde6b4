"""The output session: one per command, owning the report, GitHub mode, errors and exit code.

Commands built with the CLI factory's ``command`` run inside it, driven
through click's CliRunner; the presenters learn where the build runs once,
from the session's AWS door.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from cbdeploy.client.aws.endpoint import Endpoint
from cbdeploy.client.cli.factory import command
from cbdeploy.client.deploy.events import BuildStarted, DeployStarting
from cbdeploy.client.errors import UsageError
from cbdeploy.client.output.session import OutputSession
from tests.unit.test_events_closed import BUILD


def refuse_stage(func: Callable[..., Any]) -> Callable[..., Any]:
    """Stands in for ``aws_options()``: validation that fails before the body runs."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        raise UsageError("No stage given.", "Pass --stage.")

    return wrapper


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True)(func)


@pytest.mark.parametrize("order", ["validation-above", "validation-below"])
def test_decorator_order_does_not_matter(order: str) -> None:
    """With json_result, validation had to sit below it, or --json printed no object."""

    def body(as_json: bool, session: OutputSession) -> None:
        raise AssertionError("not reached")

    decorated = (json_option(refuse_stage(body)) if order == "validation-below"
                 else refuse_stage(json_option(body)))
    cmd = command("deploy")(decorated)
    result = CliRunner().invoke(cmd, ["--json"], env={"GITHUB_ACTIONS": None})
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert (data["error"], data["hint"], data["exitCode"]) == ("No stage given.", "Pass --stage.", 2)
    assert result.stderr == "Error: No stage given.\nPass --stage.\n"


@dataclass
class FakeDoor:
    region: str
    endpoint: Endpoint


def test_the_door_tells_every_presenter_where_the_build_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    custom = Endpoint("http://10.0.0.5:4566", "custom")

    @contextmanager
    def opener(target: str) -> Iterator[FakeDoor]:
        yield FakeDoor("eu-west-1", custom)

    out = io.StringIO()
    session = OutputSession("deploy", report=True, as_json=True, environ={},
                            console=Console(file=out, width=100))

    def deploy() -> int:
        with session.door(opener, local=False)("target"):
            session.emit(DeployStarting("app", "dev", "p", "inv"))
            session.emit(BuildStarted(BUILD))
        return 0

    assert session.run(deploy) == 0
    shown = out.getvalue()
    assert "Region:   eu-west-1" in shown and "Endpoint: http://10.0.0.5:4566" in shown
    assert "Console: none, the build runs at http://10.0.0.5:4566" in shown
    data = json.loads(capsys.readouterr().out)
    assert (data["endpoint"], data["region"], data["consoleUrl"]) == (custom.url, "eu-west-1", None)


def test_a_bug_is_one_line_exit_1_and_still_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    session = OutputSession("logs", report=True, as_json=True, deploy=False, environ={},
                            console=Console(file=io.StringIO()))

    def broken() -> None:
        raise ValueError("oops")

    assert session.run(broken) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "internal error: ValueError: oops"
    assert captured.err.startswith("Error: internal error: ValueError: oops\nThis is a bug")


def test_ctrl_c_outside_a_deploy_says_interrupted_and_exits_130(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session = OutputSession("builds")

    def interrupted() -> None:
        raise KeyboardInterrupt

    assert session.run(interrupted) == 130
    assert capsys.readouterr().err.endswith("Interrupted.\n")


def test_json_mode_never_redraws_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --json no bar or spinner on stderr, even a TTY: lines only (issue 17, item 4)."""
    from tests.unit.test_render_modes import FakeTerminal

    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setattr("sys.stderr", FakeTerminal())
    monkeypatch.setattr("sys.stdout", FakeTerminal())
    assert not OutputSession("deploy", report=True, as_json=True).console.is_interactive
    assert OutputSession("deploy", report=True).console.is_interactive  # (the TTY itself would)
