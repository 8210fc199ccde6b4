"""`cbdeploy init` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.main import main
from cbdeploy.client.config.load import load_config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "my-service"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def test_init_writes_a_config_that_loads(project: Path) -> None:
    (project / "cdk.json").write_text("{}", encoding="utf-8")
    (project / "package.json").write_text("{}", encoding="utf-8")
    (project / "package-lock.json").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {project / 'cbdeploy.toml'} for: AWS CDK app, npm." in result.output
    config = load_config(project, "dev")
    assert config.name == "my-service"
    assert config.pipeline.install == ("npm ci",)


def test_init_refuses_to_overwrite_without_force(project: Path) -> None:
    (project / "cbdeploy.toml").write_text('name = "mine"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 2
    assert "already exists" in result.output and "--force" in result.output
    assert "Traceback" not in result.output
    assert (project / "cbdeploy.toml").read_text(encoding="utf-8") == 'name = "mine"\n'
    forced = CliRunner().invoke(main, ["init", "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_config(project, "dev").name == "my-service"


def test_init_config_path(project: Path) -> None:
    result = CliRunner().invoke(main, ["init", "--config-path", "deploy/cbdeploy.toml"])
    assert result.exit_code == 2  # the directory does not exist: a clear error, no traceback
    assert "Traceback" not in result.output
    (project / "deploy").mkdir()
    result = CliRunner().invoke(main, ["init", "--configPath", "deploy/cbdeploy.toml"])
    assert result.exit_code == 0, result.output
    assert load_config(project, "dev", project / "deploy" / "cbdeploy.toml").name == "my-service"
