"""bootstrap gives the stage's project a batch configuration and a batch service role
(emulator over loopback: its CodeBuild checks the role and runs the batch; moto's IAM
keeps the role, tags and policy); destroy removes the role again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.infra import bootstrap as b
from cbdeploy.client.infra.calls import execute
from cbdeploy.client.infra.destroy import plan_destroy
from cbdeploy.client.infra.model import StageSettings, names_for

REGION = "ca-central-1"
GRAPH = """version: 0.2
phases:
  build:
    commands: ["echo built $SERVICE"]
batch:
  fast-fail: true
  build-graph:
    - identifier: infra
      env: {variables: {SERVICE: infra}}
    - identifier: api
      depend-on: [infra]
      env: {variables: {SERVICE: api}}
"""


@pytest.fixture
def endpoint(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return emulator_url


def test_bootstrap_enables_batch_builds_with_a_stage_scoped_role(
    endpoint: str, boto_client: Callable[..., Any]
) -> None:
    aws = AwsClient(boto3.session.Session(region_name=REGION), REGION)
    settings = StageSettings(name="batchy", stage="dev")
    infra = b.bootstrap(aws, settings)
    names = names_for(aws, "batchy", "dev")
    assert f"Create IAM role {names.batch_role}" in infra.changes

    iam = boto_client("iam", region=REGION)
    role = iam.get_role(RoleName=names.batch_role)["Role"]
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {"cbdeploy:app": "batchy", "cbdeploy:stage": "dev"}
    document = iam.get_role_policy(RoleName=names.batch_role, PolicyName="cbdeploy-batch")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document["Statement"][0]["Resource"] == [names.project_arn]

    codebuild = boto_client("codebuild", region=REGION)
    project = codebuild.batch_get_projects(names=[names.project])["projects"][0]
    assert project["buildBatchConfig"]["serviceRole"] == names.batch_role_arn
    assert b.bootstrap(aws, settings).changes == ()  # up to date: nothing written again

    # The bootstrapped project runs a batch: the configuration is one CodeBuild accepts.
    started = codebuild.start_build_batch(projectName=names.project, buildspecOverride=GRAPH)
    batch_id = started["buildBatch"]["id"]
    deadline = time.monotonic() + 60
    while True:
        batch = codebuild.batch_get_build_batches(ids=[batch_id])["buildBatches"][0]
        if batch["complete"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert batch["buildBatchStatus"] == "SUCCEEDED"
    assert [g["identifier"] for g in batch["buildGroups"]] == ["DOWNLOAD_SOURCE", "infra", "api"]

    calls = plan_destroy(aws, "batchy", "dev")
    assert f"Delete IAM role {names.batch_role}" in [c.what for c in calls]
    execute(aws, calls)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=names.batch_role)
