"""``defaults:configure`` with options (as in a script) and ``defaults:list`` (CliRunner).

The prompts at a real terminal are driven in ``tests/e2e/test_defaults_e2e.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The defaults file; the AWS config file knows the profiles w and ci, and
    the credentials file the profile keys-only."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "aws-config").write_text("[profile w]\nregion = eu-west-1\n[profile ci]\n")
    (tmp_path / "aws-credentials").write_text("[keys-only]\naws_access_key_id = x\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return tmp_path / "cbdeploy" / "defaults.json"


def cbdeploy(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))  # stdin is not a terminal here


def test_options_are_stored_without_a_question(stored: Path) -> None:
    result = cbdeploy("defaults:configure", "--stage", "qa", "-r", "eu-west-1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Saved to {stored}:", "stage:   qa", "region:  eu-west-1", "profile: -"
    ]
    assert json.loads(stored.read_text()) == {"stage": "qa", "region": "eu-west-1"}


def test_an_option_keeps_the_other_values_and_empty_clears_one(stored: Path) -> None:
    cbdeploy("defaults:configure", "--stage", "qa", "--region", "eu-west-1", "--aws-profile", "w")
    assert cbdeploy("defaults:configure", "--stage", "dev").exit_code == 0
    assert json.loads(stored.read_text()) == {"stage": "dev", "region": "eu-west-1", "profile": "w"}
    assert cbdeploy("defaults:configure", "--aws-profile", "").exit_code == 0
    assert json.loads(stored.read_text()) == {"stage": "dev", "region": "eu-west-1"}


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--stage", "Prod"], "Error: Invalid stage name 'Prod'."),
     (["--region", "mars-1"], "Error: Unknown AWS region 'mars-1'.")],
)
def test_bad_values_are_refused_and_nothing_is_stored(
    stored: Path, args: list[str], message: str
) -> None:
    result = cbdeploy("defaults:configure", *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == message
    assert not stored.exists()


def test_a_profile_that_does_not_exist_is_refused_naming_the_known_ones(
    stored: Path, tmp_path: Path
) -> None:
    result = cbdeploy("defaults:configure", "--stage", "qa", "--aws-profile", "wrok")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"Error: No AWS profile 'wrok' in {tmp_path / 'aws-config'} or "
        f"{tmp_path / 'aws-credentials'} (known profiles: ci, keys-only, w)."
    )
    assert "aws configure --profile wrok" in result.stderr
    assert not stored.exists()
    for known in ("keys-only", "w"):  # from the credentials file, or the config file
        assert cbdeploy("defaults:configure", "--aws-profile", known).exit_code == 0
        assert json.loads(stored.read_text())["profile"] == known


def test_no_options_and_no_terminal_names_the_options(stored: Path) -> None:
    result = cbdeploy("defaults:configure")
    assert result.exit_code == 2
    assert "--stage dev --region us-east-1" in result.stderr
    assert not stored.exists()


def test_list_shows_values_and_where_they_are_kept(stored: Path) -> None:
    empty = cbdeploy("defaults:list")
    assert empty.exit_code == 0
    assert empty.stdout.splitlines() == [
        "stage:   -", "region:  -", "profile: -",
        f"(nothing stored yet in {stored}: run cbdeploy defaults:configure)",
    ]
    cbdeploy("defaults:configure", "--region", "ap-south-1", "--aws-profile", "ci")
    listed = cbdeploy("defaults:list")
    assert listed.stdout.splitlines() == [
        "stage:   -", "region:  ap-south-1", "profile: ci", f"(stored in {stored})"
    ]


def test_a_config_directory_that_cannot_be_written_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))
    result = cbdeploy("defaults:configure", "--stage", "dev")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: Cannot save the defaults to {blocker}/cbdeploy/")
    assert "XDG_CONFIG_HOME" in result.stderr.splitlines()[1]
