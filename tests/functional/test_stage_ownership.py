"""Stages never take each other's resources (issue 10, item 9), against the emulator.

Tags come from the services that hold the resources: moto keeps IAM role tags
(CreateRole ``Tags``, returned by GetRole) and log group tags (CreateLogGroup
``tags``, ListTagsForResource); CodeBuild is the emulator's own, which keeps a
project's ``tags`` as CreateProject got them and returns them from
BatchGetProjects, as CodeBuild does.
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
from cbdeploy.client.infra.names import stage_names

ACCOUNT = "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def cbdeploy(emulator_url: str, aws_env: None, tmp_path: Path) -> Callable[..., Result]:
    """``cbdeploy(app, "bootstrap", "--stage", "dev", region=...)`` against the emulator."""
    env = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    def run(app: str, *args: str, region: str) -> Result:
        root = tmp_path / app
        root.mkdir(exist_ok=True)
        (root / "cbdeploy.toml").write_text(
            f'name = "{app}"\n\n[pipeline]\ndeploy = ["echo deployed {app}"]\n'
        )
        argv = [*args, "--region", region, "--config-path", str(root / "cbdeploy.toml")]
        return CliRunner().invoke(main, argv, env=env, catch_exceptions=False)

    return run


def tags_of_project(codebuild: Any, name: str) -> dict[str, str]:
    [project] = codebuild.batch_get_projects(names=[name])["projects"]
    return {t["key"]: t["value"] for t in project["tags"]}


def test_apps_whose_old_names_collided_keep_their_own_stages(
    cbdeploy: Callable[..., Result], boto_client: Callable[..., Any]
) -> None:
    """``coll-x``/``prod`` and ``coll``/``x-prod`` were both cbdeploy-coll-x-prod: the second
    deploy rewrote the first's project, and destroying it deleted the first's."""
    region = "eu-west-2"
    base = f"c{uuid.uuid4().hex[:8]}"
    first, second = (f"{base}-x", "prod"), (base, "x-prod")
    for app, stage in (first, second):
        result = cbdeploy(app, "deploy", "--stage", stage, "--yes", region=region)
        assert result.exit_code == 0, result.output
        assert f"deployed {app}" in result.output
    one = stage_names(*first, account=ACCOUNT, region=region)
    two = stage_names(*second, account=ACCOUNT, region=region)
    assert len({one.project, two.project}) == 2 and len({one.role, two.role}) == 2

    codebuild, iam = boto_client("codebuild", region=region), boto_client("iam")
    for names in (one, two):
        assert tags_of_project(codebuild, names.project) == names.tags
        role = iam.get_role(RoleName=names.role)["Role"]
        assert {t["Key"]: t["Value"] for t in role["Tags"]} == names.tags

    gone = cbdeploy(second[0], "destroy", "--stage", second[1], "--yes", region=region)
    assert gone.exit_code == 0, gone.output
    assert codebuild.batch_get_projects(names=[two.project])["projects"] == []
    assert tags_of_project(codebuild, one.project) == one.tags  # the other app's stage stays
    assert iam.get_role(RoleName=one.role)["Role"]["RoleName"] == one.role


def make_foreign(kind: str, names: Any, boto_client: Callable[..., Any]) -> Callable[[], Any]:
    """Create, at one of ``names``, a resource tagged as another app's; return a reader of it."""
    other = {"cbdeploy:app": "someone-else", "cbdeploy:stage": names.stage}
    region = names.region
    iam = boto_client("iam")
    if kind == "role":
        iam.create_role(
            RoleName=names.role,
            AssumeRolePolicyDocument=json.dumps(TRUST),
            Tags=[{"Key": k, "Value": v} for k, v in other.items()],
        )
        iam.put_role_policy(RoleName=names.role, PolicyName="theirs", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}))
        return lambda: (
            iam.get_role(RoleName=names.role)["Role"]["Tags"],
            iam.list_role_policies(RoleName=names.role)["PolicyNames"],
        )
    if kind == "project":
        role = f"foreign-{uuid.uuid4().hex[:8]}"
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
        codebuild = boto_client("codebuild", region=region)
        codebuild.create_project(
            name=names.project,
            source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {}\n"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "theirs:1",
                         "computeType": "BUILD_GENERAL1_SMALL"},
            serviceRole=arn["Role"]["Arn"],
            tags=[{"key": k, "value": v} for k, v in other.items()],
        )
        return lambda: {
            k: v for k, v in codebuild.batch_get_projects(names=[names.project])["projects"][0].items()
            if k in ("environment", "serviceRole", "tags", "lastModified")
        }
    logs = boto_client("logs", region=region)
    logs.create_log_group(logGroupName=names.log_group, tags=other)
    logs.put_retention_policy(logGroupName=names.log_group, retentionInDays=7)
    return lambda: logs.describe_log_groups(logGroupNamePrefix=names.log_group)["logGroups"]


@pytest.mark.parametrize(
    ("kind", "region", "what"),
    [
        ("role", "af-south-1", "IAM role"),
        ("project", "me-south-1", "CodeBuild project"),
        ("log group", "ap-east-1", "log group"),
    ],
)
def test_a_resource_of_another_owner_is_refused_and_nothing_is_touched(
    cbdeploy: Callable[..., Result],
    boto_client: Callable[..., Any],
    kind: str,
    region: str,
    what: str,
) -> None:
    app = f"o{uuid.uuid4().hex[:8]}"
    names = stage_names(app, "dev", account=ACCOUNT, region=region)
    read = make_foreign(kind, names, boto_client)
    before = read()

    for command in (["bootstrap"], ["deploy", "--yes"], ["destroy", "--yes"],
                    ["destroy", "--all", "--yes"]):
        result = cbdeploy(app, *command, "--stage", "dev", region=region)
        assert result.exit_code == 2, (command, result.output)
        assert result.output.count("Error: ") == 1 and "Traceback" not in result.output
        assert f"{what} " in result.output and "tagged as app 'someone-else'" in result.output
        assert "Uploaded" not in result.output and "Started build" not in result.output

    assert read() == before  # the other owner's resource is as it was
    s3 = boto_client("s3", region=region)
    assert all(b["Name"] != names.bucket for b in s3.list_buckets()["Buckets"])
    if kind != "project":
        codebuild = boto_client("codebuild", region=region)
        assert codebuild.batch_get_projects(names=[names.project])["projects"] == []
    if kind != "role":
        roles = [r["RoleName"] for r in boto_client("iam").list_roles()["Roles"]]
        assert names.role not in roles
