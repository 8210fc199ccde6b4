"""Preflight of ``[secrets]``: ``cbdeploy deploy`` (CliRunner) against the emulator over loopback.

The emulator's SSM and Secrets Manager are moto's; DescribeParameters and
DescribeSecret there answer as AWS does for a missing name. A missing
reference must stop the deploy with exit 2 before anything exists in AWS
for the app: no source object in the bucket, no CodeBuild project, no IAM
role, no log group.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import (
    bucket_name,
    log_group_name,
    project_name,
    role_name,
    sources_prefix,
)


def make_project(tmp_path: Path, secrets: dict[str, str], stage_secrets: str = "") -> Path:
    name = f"pf{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    lines = [f'name = "{name}"', "", "[pipeline]", 'build = ["echo built"]', "", "[secrets]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in secrets.items()]
    (root / "cbdeploy.toml").write_text("\n".join(lines) + "\n" + stage_secrets)
    return root


@pytest.fixture
def deploy(emulator_url: str, aws_env: None, tmp_path: Path) -> Callable[[Path], Result]:
    env = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    def run(project: Path, *extra: str) -> Result:
        argv = ["deploy", "--yes", "--stage", "dev", "--region", "us-east-1",
                "--config-path", str(project / "cbdeploy.toml"), *extra]
        return CliRunner().invoke(main, argv, env=env, catch_exceptions=False)

    return run


def assert_nothing_created(boto_client: Callable[..., Any], app: str) -> None:
    account = boto_client("sts").get_caller_identity()["Account"]
    s3 = boto_client("s3")
    try:
        listed = s3.list_objects_v2(
            Bucket=bucket_name(account, "us-east-1"), Prefix=sources_prefix(app, "dev")
        )
    except s3.exceptions.NoSuchBucket:
        listed = {}
    assert listed.get("KeyCount", 0) == 0
    assert boto_client("codebuild").batch_get_projects(names=[project_name(app, "dev")])["projects"] == []
    iam = boto_client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role_name(app, "dev", "us-east-1"))
    groups = boto_client("logs").describe_log_groups(logGroupNamePrefix=log_group_name(app, "dev"))
    assert groups["logGroups"] == []


def test_a_missing_parameter_stops_the_deploy_before_anything_is_created(
    deploy: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    boto_client("ssm").put_parameter(Name=f"/pf/{suffix}/present", Value="v", Type="SecureString")
    project = make_project(
        tmp_path, {"PRESENT": f"ssm:/pf/{suffix}/present", "DB_URL": f"ssm:/pf/{suffix}/db-url"}
    )
    result = deploy(project)
    assert result.exit_code == 2, result.output
    out = result.output
    assert f"cbdeploy.toml:8: secrets.DB_URL: ssm:/pf/{suffix}/db-url does not exist in us-east-1" in out
    assert "PRESENT" not in out
    assert (
        f"aws ssm put-parameter --region us-east-1 --name /pf/{suffix}/db-url "
        "--type SecureString --value '...'" in out
    )
    assert "Traceback" not in out and "internal error" not in out
    assert_nothing_created(boto_client, project.name)


def test_missing_secrets_are_all_named_with_their_stage_keys_and_create_commands(
    deploy: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    secrets = boto_client("secretsmanager")
    secrets.create_secret(Name=f"pf/{suffix}/present", SecretString='{"apiToken": "t"}')
    project = make_project(
        tmp_path,
        {"TOKEN": f"secretsmanager:pf/{suffix}/present:apiToken"},
        stage_secrets=(
            "\n[stages.dev.secrets]\n"
            f'API_TOKEN = "secretsmanager:pf/{suffix}/token:apiToken"\n'
            f'OLD_TOKEN = "secretsmanager:pf/{suffix}/present:apiToken:NOSUCHSTAGE"\n'
        ),
    )
    result = deploy(project)
    assert result.exit_code == 2, result.output
    out = result.output
    assert "Secrets the build needs are missing:" in out
    assert (
        f"stages.dev.secrets.API_TOKEN: secretsmanager:pf/{suffix}/token:apiToken does not exist"
        in out
    )
    assert "stages.dev.secrets.OLD_TOKEN" in out and "has no version labelled NOSUCHSTAGE" in out
    assert (
        f"aws secretsmanager create-secret --region us-east-1 --name pf/{suffix}/token "
        """--secret-string '{"apiToken": "..."}'""" in out
    )
    assert_nothing_created(boto_client, project.name)


def test_existing_references_pass_the_preflight_and_the_build_reads_them(
    deploy: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    boto_client("ssm").put_parameter(Name=f"/pf/{suffix}/db", Value="db-value", Type="SecureString")
    boto_client("secretsmanager").create_secret(
        Name=f"pf/{suffix}/token", SecretString='{"apiToken": "tok"}'
    )
    project = make_project(
        tmp_path,
        {"DB": f"ssm:/pf/{suffix}/db", "TOKEN": f"secretsmanager:pf/{suffix}/token:apiToken:AWSCURRENT"},
    )
    toml = (project / "cbdeploy.toml").read_text().replace(
        'build = ["echo built"]',
        'build = [\'test "$DB" = db-value && test "$TOKEN" = tok && echo secrets-ok\']',
    )
    (project / "cbdeploy.toml").write_text(toml)
    result = deploy(project)
    assert result.exit_code == 0, result.output
    assert "secrets-ok" in result.output
