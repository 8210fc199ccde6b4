"""The preflight's plan (references from the config) and its handling of AccessDenied.

The emulator does not enforce IAM, so the "may not check" case uses a fake
door whose calls raise the AccessDeniedError that ``client.aws.errors`` makes
of an AccessDeniedException.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from cbdeploy.client.config.load import load_config
from cbdeploy.client.deploy.preflight import Reference, check_secrets, create_command, references
from cbdeploy.client.errors import AccessDeniedError, ConfigError


class DeniedDoor:
    region = "eu-west-1"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def account_id(self) -> str:
        return "123456789012"

    def parameter_exists(self, name: str) -> bool:
        self.asked.append(name)
        raise AccessDeniedError("denied", action="ssm:DescribeParameters")

    def describe_secret(self, secret_id: str) -> dict[str, Any] | None:
        self.asked.append(secret_id)
        raise AccessDeniedError("denied", action="secretsmanager:DescribeSecret")


class EmptyDoor(DeniedDoor):
    def parameter_exists(self, name: str) -> bool:
        return False

    def describe_secret(self, secret_id: str) -> dict[str, Any] | None:
        return None


def config_with_secrets(tmp_path: Path) -> Any:
    (tmp_path / "cbdeploy.toml").write_text(
        'name = "app"\n[secrets]\nDB = "ssm:/app/db"\n'
        'ARN = "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/t-AbCdEf:k"\n'
        "[stages.prod.secrets]\n"
        'TOKEN = "secretsmanager:app/token:apiToken:AWSPREVIOUS"\n'
    )
    return load_config(tmp_path, "prod")


def test_references_carry_their_keys_and_parts(tmp_path: Path) -> None:
    refs = references(config_with_secrets(tmp_path))
    assert refs == (
        Reference("secrets.DB", "ssm:/app/db", "PARAMETER_STORE", "/app/db"),
        Reference(
            "secrets.ARN",
            "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/t-AbCdEf:k",
            "SECRETS_MANAGER",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/t-AbCdEf",
            json_key="k",
        ),
        Reference(
            "stages.prod.secrets.TOKEN",
            "secretsmanager:app/token:apiToken:AWSPREVIOUS",
            "SECRETS_MANAGER",
            "app/token",
            json_key="apiToken",
            version_stage="AWSPREVIOUS",
        ),
    )
    assert create_command(refs[2], "eu-west-1") == (
        "aws secretsmanager create-secret --region eu-west-1 --name app/token "
        """--secret-string '{"apiToken": "..."}'"""
    )


def test_access_denied_is_said_at_debug_level_and_the_deploy_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    door = DeniedDoor()
    with caplog.at_level(logging.DEBUG, logger="cbdeploy.client.deploy.preflight"):
        check_secrets(door, config_with_secrets(tmp_path))  # no error
    assert len(door.asked) == 3
    assert "cannot check ssm:/app/db" in caplog.text
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_missing_references_name_file_line_key_and_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        check_secrets(EmptyDoor(), config_with_secrets(tmp_path))
    message, hint = raised.value.message, raised.value.hint or ""
    assert f"{tmp_path / 'cbdeploy.toml'}:3: secrets.DB: ssm:/app/db does not exist" in message
    assert f"{tmp_path / 'cbdeploy.toml'}:6: stages.prod.secrets.TOKEN:" in message
    assert "aws ssm put-parameter --region eu-west-1 --name /app/db --type SecureString" in hint


class DeletedDoor(EmptyDoor):
    def describe_secret(self, secret_id: str) -> dict[str, Any] | None:
        self.asked.append(secret_id)
        return {"Name": secret_id, "DeletedDate": "2026-12-01T00:00:00Z"}


def test_a_secret_of_another_account_is_not_checked_and_a_deleted_one_is_missing(
    tmp_path: Path
) -> None:
    (tmp_path / "cbdeploy.toml").write_text(
        'name = "app"\n[secrets]\n'
        'OTHER = "secretsmanager:arn:aws:secretsmanager:eu-west-1:210987654321:secret:x-AbCdEf"\n'
        'GONE = "secretsmanager:app/gone"\n'
    )
    door = DeletedDoor()
    with pytest.raises(ConfigError) as raised:
        check_secrets(door, load_config(tmp_path, "dev"))
    assert door.asked == ["app/gone"]
    assert "secrets.GONE: secretsmanager:app/gone is scheduled for deletion" in raised.value.message
    assert "OTHER" not in raised.value.message
