"""A workspace's batch as data (client/deploy/batch_plan.py): the build graph, each service's
plan and buildspec in the archive, the StartBuildBatch request."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cbdeploy.client.config.workspace import load_workspace
from cbdeploy.client.deploy.batch_plan import BatchPlan, make_batch_plan, start_batch_request
from cbdeploy.client.deploy.workspace_deploy import service_configs


def workspace(tmp_path: Path) -> Path:
    files = {
        "cbdeploy.toml": 'name = "shop"\n[workspace]\nservices = ["services/*", "infra"]\n',
        "infra/cbdeploy.toml": 'name = "shop-infra"\n[pipeline]\ndeploy = ["./up"]\n',
        "services/api/cbdeploy.toml": (
            'name = "api"\ndependsOn = ["shop-infra"]\n[pipeline]\nbuild = ["make"]\n'
            '[environment]\nMODE = "fast"\n[secrets]\nTOKEN = "ssm:/shop/token"\n'
            'KEY = "secretsmanager:shop/key:api"\n'
            '[codebuild]\ncomputeType = "BUILD_GENERAL1_LARGE"\nimage = "my/image:1"\n'
            'timeoutInMinutes = 30\n'
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def plan_for(tmp_path: Path, keep_going: bool = False, only: tuple[str, ...] = ()) -> BatchPlan:
    ws = load_workspace(workspace(tmp_path))
    chosen = [s for s in ws.services if not only or s.name in only]
    return make_batch_plan(chosen, service_configs(ws, "dev"), project="shop-dev", stage="dev",
                           region="eu-west-1", git=None, invocation_id="inv-1",
                           keep_going=keep_going)


def test_the_build_graph_has_one_build_per_service_in_dependency_order(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    spec = yaml.safe_load(plan.buildspec)
    assert spec["batch"]["fast-fail"] is True
    assert spec["batch"]["build-graph"] == [
        {"identifier": "shop_infra", "buildspec": ".cbdeploy/services/shop-infra/buildspec.yml",
         "depend-on": [],
         "env": {"type": "LINUX_CONTAINER", "compute-type": "BUILD_GENERAL1_SMALL",
                 "image": "aws/codebuild/standard:7.0", "privileged-mode": False,
                 "variables": {"STAGE": "dev", "REGION": "eu-west-1",
                               "CBDEPLOY_PROJECT": "shop-infra",
                               "CBDEPLOY_SERVICE": "shop-infra"}}},
        {"identifier": "api", "buildspec": ".cbdeploy/services/api/buildspec.yml",
         "depend-on": ["shop_infra"],
         "env": {"type": "LINUX_CONTAINER", "compute-type": "BUILD_GENERAL1_LARGE",
                 "image": "my/image:1", "privileged-mode": False,
                 "variables": {"STAGE": "dev", "REGION": "eu-west-1", "CBDEPLOY_PROJECT": "api",
                               "MODE": "fast", "CBDEPLOY_SERVICE": "api"}}},
    ]
    assert plan.services == (("shop-infra", "shop_infra"), ("api", "api"))
    assert plan.timeout_in_minutes == 60  # one per-build timeout for all: the longest


def test_each_service_ships_its_plan_and_a_buildspec_with_its_secrets(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    api_plan = json.loads(plan.files[".cbdeploy/services/api/plan.json"])
    assert api_plan["folder"] == "services/api" and api_plan["project"] == "api"
    assert api_plan["secretNames"] == ["KEY", "TOKEN"]
    spec = yaml.safe_load(plan.files[".cbdeploy/services/api/buildspec.yml"])
    assert spec["env"]["parameter-store"] == {"TOKEN": "/shop/token"}
    assert spec["env"]["secrets-manager"] == {"KEY": "shop/key:api"}
    commands = spec["phases"]["build"]["commands"]
    assert commands == ['"$CBDEPLOY_PYTHON" -I -S "$CODEBUILD_SRC_DIR/.cbdeploy/runner" '
                        '"$CODEBUILD_SRC_DIR/.cbdeploy/services/api/plan.json"']
    assert "parameter-store" not in yaml.safe_load(
        plan.files[".cbdeploy/services/shop-infra/buildspec.yml"])["env"]
    assert ".cbdeploy/runner/__main__.py" in plan.files


def test_keep_going_turns_fast_fail_off(tmp_path: Path) -> None:
    assert yaml.safe_load(plan_for(tmp_path, keep_going=True).buildspec)["batch"]["fast-fail"] is False


def test_a_dependency_not_chosen_is_not_waited_for(tmp_path: Path) -> None:
    graph = yaml.safe_load(plan_for(tmp_path, only=("api",)).buildspec)["batch"]["build-graph"]
    assert [(g["identifier"], g["depend-on"]) for g in graph] == [("api", [])]


def test_the_request_starts_the_batch_from_the_upload(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    assert start_batch_request(plan, "bucket", "sources/a.zip") == {
        "projectName": "shop-dev", "sourceTypeOverride": "S3",
        "sourceLocationOverride": "bucket/sources/a.zip", "buildspecOverride": plan.buildspec,
        "buildTimeoutInMinutesOverride": 60, "idempotencyToken": "inv-1",
    }


def test_a_delta_upload_sends_its_base_as_the_secondary_source(tmp_path: Path) -> None:
    request = start_batch_request(plan_for(tmp_path), "bucket", "sources/d.zip", "sources/b.zip")
    assert request["secondarySourcesOverride"] == [
        {"type": "S3", "location": "bucket/sources/b.zip", "sourceIdentifier": "base"}]
