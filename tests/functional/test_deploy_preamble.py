"""The deploy's AWS preamble runs on a thread of its own while git and the file
selection run (issue 16, target 4); what the user sees, and what a failing deploy
leaves behind, stay as they were (``cli`` and ``make_project``: test_deploy_cli)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import cbdeploy.client.deploy.preamble as preamble_module
import cbdeploy.client.deploy.service as service_module
from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import project_name
from tests.functional.test_deploy_cli import cli, make_project

__all__ = ["cli"]  # the fixture, used by name


def test_the_preamble_opens_aws_on_its_own_thread_while_the_files_are_selected(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real emulator answers; the door to it is opened (boto3 imported, the account
    asked) on the preamble's thread, and it is still opening when the selection starts:
    the factory waits until select_files has been called before it opens."""
    seen: dict[str, Any] = {}
    selecting = threading.Event()
    real_open, real_select = preamble_module.open_aws_later, service_module.select_files

    @contextmanager
    def opening(target: Any) -> Iterator[Any]:
        seen["thread"] = threading.current_thread().name
        seen["overlapped"] = selecting.wait(timeout=30)  # the main thread is selecting
        with real_open(target) as aws:
            yield aws

    def selecting_files(*args: Any, **kwargs: Any) -> Any:
        selecting.set()
        return real_select(*args, **kwargs)

    monkeypatch.setattr(preamble_module, "open_aws_later", opening)
    monkeypatch.setattr(service_module, "select_files", selecting_files)
    project = make_project(tmp_path, build="echo built")
    result = cli(project, "deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert seen == {"thread": "cbdeploy-preamble", "overlapped": True}
    out = result.output
    assert out.index("Account:") < out.index("Packaged") < out.index("Started build")
    assert "built" in out


def test_a_preamble_error_wins_over_a_selection_error_and_nothing_is_written(
    emulator_url: str, aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    boto_client: Callable[..., Any],
) -> None:
    """No credentials and a link out of the project: the deploy said the credentials
    first when AWS came before packaging, and still does (exit 2, one message), with
    nothing written into the project and nothing created."""
    codebuild = boto_client("codebuild")  # made while the test's credentials still work
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    project = make_project(tmp_path, build="echo hi")
    os.symlink("/etc/hostname", project / "outside")
    result = CliRunner().invoke(
        main,
        ["deploy", "--yes", "--stage", "dev", "--region", "us-east-1",
         "--config-path", str(project / "cbdeploy.toml")],
        env={"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("Error: ") == 1 and "No usable AWS credentials" in result.output
    assert "points outside the project" not in result.output
    assert "Traceback" not in result.output
    assert not (project / ".cbdeploy").exists()
    assert codebuild.batch_get_projects(names=[project_name(project.name, "dev")])["projects"] == []


def test_a_selection_error_is_told_once_the_preamble_has_succeeded(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """The other way round: AWS answers, the selection fails; its message, exit 2."""
    project = make_project(tmp_path, build="echo hi")
    os.symlink("/etc/hostname", project / "outside")
    result = cli(project, "deploy", "--yes")
    assert result.exit_code == 2, result.output
    assert "points outside the project" in result.output and "Traceback" not in result.output
    assert "Packaged" not in result.output
