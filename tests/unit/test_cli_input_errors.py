"""Input that used to crash or be silently ignored is a one-message error with exit 2.

Through the CLI in-process (CliRunner). Cases that can hang or need another
user (a FIFO, /dev/zero, unreadable directories) are in
``tests/e2e/test_config_errors_e2e.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main


def run(tmp_path: Path, *argv: str, **env: str) -> Result:
    settings = {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        # Nothing listens here: a command that got as far as AWS fails differently.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    settings.update(env)
    return CliRunner().invoke(main, list(argv), env=settings)


def assert_one_error(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("Error:") == 1, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    for word in words:
        assert word in result.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "cbdeploy.toml").write_text('name = "errs"\n[pipeline]\nbuild = ["echo hi"]\n')
    return root


def test_deeply_nested_toml_is_a_config_error(tmp_path: Path, project: Path) -> None:
    """tomllib recurses once per level: 5,000 nested arrays raise RecursionError."""
    (project / "cbdeploy.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    result = run(tmp_path, "package", "--list", "--config-path", str(project / "cbdeploy.toml"))
    assert_one_error(result, "nested too deeply", str(project / "cbdeploy.toml"))


def test_deeply_nested_tables_in_a_stage_are_a_config_error(tmp_path: Path, project: Path) -> None:
    """The stage merge walks tables recursively too: 3,000 levels in base and stage."""
    path = ".".join(["t"] * 3000)
    (project / "cbdeploy.toml").write_text(
        f"[environment.{path}]\nx = 1\n[stages.dev.environment.{path}]\ny = 1\n"
    )
    result = run(tmp_path, "package", "--list", "--stage", "dev",
                 "--config-path", str(project / "cbdeploy.toml"))
    assert_one_error(result, "nested too deeply")


@pytest.mark.parametrize("option", ["--region", "--stage", "--config-path"])
def test_an_empty_option_is_an_error_not_the_stored_default(
    tmp_path: Path, project: Path, option: str
) -> None:
    run(tmp_path, "defaults:configure", "--stage", "prod", "--region", "eu-west-1")
    values = {"--region": "us-east-1", "--stage": "dev",
              "--config-path": str(project / "cbdeploy.toml")}
    values[option] = ""
    argv = ["deploy", "--yes"] + [a for pair in values.items() for a in pair]
    assert_one_error(run(tmp_path, *argv), f"{option} is empty")


def test_package_refuses_an_empty_config_path(tmp_path: Path, project: Path) -> None:
    assert_one_error(run(tmp_path, "package", "--list", "--config-path", ""), "--config-path is empty")


@pytest.mark.parametrize("rate", ["nan", "inf"])
def test_fault_rate_nan_is_refused(tmp_path: Path, rate: str) -> None:
    result = run(tmp_path, "emulator", "--port", "0", "--fault-rate", rate)
    assert result.exit_code == 2, result.output
    assert "--fault-rate" in result.output and "internal error" not in result.output


def test_a_malformed_aws_config_file_is_a_config_error(tmp_path: Path, project: Path) -> None:
    bad = tmp_path / "aws-config"
    bad.write_text("[default\nregion = us-east-1\n")
    for extra in ([], ["--aws-profile", "work"]):
        result = run(
            tmp_path, "deploy", "--yes", "--stage", "dev", "--region", "us-east-1",
            "--config-path", str(project / "cbdeploy.toml"), *extra, AWS_CONFIG_FILE=str(bad),
        )
        assert_one_error(result, f"The AWS configuration file {bad} cannot be parsed")


def test_a_malformed_aws_credentials_file_is_a_config_error(
    tmp_path: Path, project: Path
) -> None:
    bad = tmp_path / "aws-credentials"
    bad.write_text("[default\naws_access_key_id = x\n")
    result = run(
        tmp_path, "deploy", "--yes", "--stage", "dev", "--region", "us-east-1",
        "--config-path", str(project / "cbdeploy.toml"),
        AWS_SHARED_CREDENTIALS_FILE=str(bad), AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="",
    )
    assert_one_error(result, f"The AWS configuration file {bad} cannot be parsed")


def test_a_config_path_that_is_a_directory_is_refused(tmp_path: Path, project: Path) -> None:
    (project / "dir.toml").mkdir()
    result = run(tmp_path, "package", "--list", "--config-path", str(project / "dir.toml"))
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
