"""Wildcards in secret references are refused (issue 10, item 11).

IAM reads ``*`` and ``?`` in a resource as wildcards: ``secretsmanager:*``
became a grant of GetSecretValue on every secret of the account. The config
is refused before anything is packaged or created.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import project_name, role_name


@pytest.mark.parametrize(
    "reference",
    [
        "secretsmanager:*",
        "secretsmanager:prod/*",
        "secretsmanager:db-??????:password",
        "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
        "secretsmanager:arn:aws:secretsmanager:*:123456789012:secret:db-AbCdEf",
        "ssm:/prod/*",
    ],
)
def test_wildcard_secret_reference_exits_2_naming_the_key_and_creates_nothing(
    emulator_url: str, aws_env: None, boto_client: Callable[..., Any], tmp_path: Path,
    reference: str,
) -> None:
    app = f"w{uuid.uuid4().hex[:8]}"
    config = tmp_path / "cbdeploy.toml"
    config.write_text(
        f'name = "{app}"\n\n[pipeline]\ndeploy = ["echo hi"]\n\n[secrets]\nDB_PASSWORD = "{reference}"\n'
    )
    for command in (["deploy", "--yes"], ["bootstrap"]):
        result = CliRunner().invoke(
            main,
            [*command, "--stage", "dev", "--region", "us-east-1", "--config-path", str(config)],
            env={"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        )
        assert result.exit_code == 2, result.output
        assert result.output.count("Error: ") == 1 and "Traceback" not in result.output
        assert "secrets.DB_PASSWORD" in result.output and str(config) in result.output
        assert "Packaged" not in result.output
    codebuild = boto_client("codebuild")
    assert codebuild.batch_get_projects(names=[project_name(app, "dev")])["projects"] == []
    roles = [r["RoleName"] for r in boto_client("iam").list_roles()["Roles"]]
    assert role_name(app, "dev", "us-east-1") not in roles
