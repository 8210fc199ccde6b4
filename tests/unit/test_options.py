"""Stage and region validation, and the stored defaults they fall back to."""

from __future__ import annotations

from pathlib import Path

import pytest

from cbdeploy.client.aws.regions import known_regions
from cbdeploy.client.cli.options import resolve_target
from cbdeploy.client.config import defaults
from cbdeploy.client.errors import UsageError


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    return tmp_path


def target(stage: str | None = "dev", region: str | None = "us-east-1"):  # type: ignore[no-untyped-def]
    return resolve_target(stage, region, None, None, False, "info")


def test_regions_of_every_partition_are_known() -> None:
    regions = known_regions()
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= regions
    assert "mars-1" not in regions


def test_an_unknown_profile_in_the_environment_does_not_break_region_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Credentials are resolved later, with their own message; validation must not trip on them."""
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    assert target().region == "us-east-1"


@pytest.mark.parametrize("stage", ["Dev", "1dev", "dev_1", "a-very-long-stage", ""])
def test_bad_stage_names_are_refused_with_the_rule(stage: str) -> None:
    with pytest.raises(UsageError) as raised:
        resolve_target(stage or None, "us-east-1", None, None, False, "info")
    assert "stage" in raised.value.message.lower()
    assert raised.value.hint


@pytest.mark.parametrize("stage", ["dev", "pr-42", "a", "production12"])
def test_good_stage_names_pass(stage: str) -> None:
    assert target(stage).stage == stage


def test_missing_stage_and_region_fall_back_to_stored_defaults() -> None:
    defaults.save(defaults.Defaults(stage="staging", region="eu-west-1", profile="work"))
    resolved = target(None, None)
    assert (resolved.stage, resolved.region, resolved.profile) == ("staging", "eu-west-1", "work")


def test_unknown_region_names_the_region() -> None:
    with pytest.raises(UsageError, match="mars-1"):
        target(region="mars-1")


def test_stacktape_camel_case_spellings_parse_as_the_kebab_case_options() -> None:
    import click

    from cbdeploy.client.cli.main import main

    with click.Context(main) as parent:
        deploy = main.get_command(parent, "codebuild:deploy")
        assert deploy is not None
        camel = deploy.make_context("deploy", [
            "--configPath", "app/cbdeploy.toml", "--awsProfile", "ops", "--noCache",
            "--preserveTempFiles", "--autoConfirmOperation", "--logLevel", "info",
        ], parent=parent)
        kebab = deploy.make_context("deploy", [
            "--config-path", "app/cbdeploy.toml", "--aws-profile", "ops", "--no-cache",
            "--preserve-temp-files", "--yes", "--log-level", "info",
        ], parent=parent)
        assert camel.params == kebab.params
        assert camel.params["no_cache"] and camel.params["preserve_temp_files"] and camel.params["yes"]
        assert camel.params["aws_profile"] == "ops"
        # Every command that talks to AWS takes the common camelCase spellings.
        for name in ("deploy", "package", "logs", "stop", "builds", "bootstrap", "destroy"):
            command = main.get_command(parent, name)
            assert command is not None
            spellings = {opt for param in command.params for opt in param.opts}
            assert {"--configPath", "--logLevel"} <= spellings, name


def test_region_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert target(region=None).region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    assert target(region=None).region == "eu-west-2"  # AWS_REGION first, as botocore
    assert target(region="us-west-2").region == "us-west-2"  # the flag wins


def test_no_region_anywhere_says_how_to_give_one() -> None:
    with pytest.raises(UsageError, match="No region given") as raised:
        target(region=None)
    assert raised.value.hint is not None and "--region" in raised.value.hint


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AWS config whose default profile says eu-north-1 and profile ops ap-south-1."""
    path = tmp_path / "aws-config"
    path.write_text("[default]\nregion = eu-north-1\n[profile ops]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return path


@pytest.mark.parametrize(
    ("option", "env", "stored", "profile", "expected"),
    [
        ("us-west-2", {"AWS_REGION": "eu-west-1"}, "ca-central-1", None, "us-west-2"),
        (None, {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, "ca-central-1",
         None, "eu-west-1"),
        (None, {"AWS_DEFAULT_REGION": "eu-west-2"}, "ca-central-1", None, "eu-west-2"),
        (None, {}, "ca-central-1", None, "ca-central-1"),
        (None, {}, None, None, "eu-north-1"),
        (None, {}, None, "ops", "ap-south-1"),
        (None, {"AWS_PROFILE": "ops"}, None, None, "ap-south-1"),
    ],
)
def test_region_follows_the_aws_clis_order(
    aws_config: Path, monkeypatch: pytest.MonkeyPatch, option: str | None,
    env: dict[str, str], stored: str | None, profile: str | None, expected: str,
) -> None:
    """--region, AWS_REGION, AWS_DEFAULT_REGION, the stored default, the profile's region:
    a stored region no longer beats AWS_REGION."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    defaults.save(defaults.Defaults(region=stored, profile=profile))
    assert target(region=option).region == expected


def test_a_bad_region_in_the_profile_names_the_file(aws_config: Path) -> None:
    aws_config.write_text("[default]\nregion = mars-1\n")
    with pytest.raises(UsageError) as raised:
        target(region=None)
    assert raised.value.message == (
        f"Unknown AWS region 'mars-1' (from your AWS profile's settings in {aws_config})."
    )
