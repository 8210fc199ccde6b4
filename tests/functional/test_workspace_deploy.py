"""Deploying a monorepo workspace: a service alone (one StartBuild shipping the workspace)
and every service as one CodeBuild batch build (build-graph), in-process (CliRunner)
against the emulator over loopback.

Batch builds are the emulator's own (emulator/batches.py: moto has none); each build of
the batch is a real build that runs the service's generated buildspec in a shell, so what
the checks below read (``ls ../../libs``, the variables, start and end times) happened.
"""

from __future__ import annotations

import gc
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import project_name


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_workspace(tmp_path: Path, *, infra_sleep: float = 0.5, secret: str | None = None) -> Path:
    """A workspace: libs/shared, infra, services/api (needs infra), services/my-worker (too)."""
    name = f"w{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    write(root / "cbdeploy.toml", f'name = "{name}"\n\n[workspace]\nservices = ["services/*", "infra"]\n')
    write(root / "libs/shared/lib.txt", "shared library\n")
    write(root / "infra/cbdeploy.toml",
          f'name = "infra"\n\n[pipeline]\ndeploy = ["sleep {infra_sleep}", "echo infra done"]\n')
    api_checks = [
        "ls ../../libs/shared",
        'test "$CBDEPLOY_WORKSPACE_ROOT/services/api" = "$PWD"',
        "cat $CBDEPLOY_WORKSPACE_ROOT/libs/shared/lib.txt",
        'test "$CBDEPLOY_SERVICE" = api',
        'echo "flavour=$FLAVOUR"',
    ]
    api = 'name = "api"\ndependsOn = ["infra"]\n\n[pipeline]\n'
    api += f"build = {json.dumps(api_checks)}\n"
    api += '\n[environment]\nFLAVOUR = "spicy"\n\n[codebuild]\ncomputeType = "BUILD_GENERAL1_MEDIUM"\n'
    if secret is not None:
        api += f'\n[secrets]\nAPI_TOKEN = "ssm:{secret}"\n'
        api_checks.append('test "$API_TOKEN" = s3cret')
        api = api.replace("build = [", f'build = [{json.dumps(api_checks[-1])}, ', 1)
    write(root / "services/api/cbdeploy.toml", api)
    write(root / "services/my-worker/cbdeploy.toml",
          'name = "my-worker"\ndependsOn = ["infra"]\n\n[pipeline]\n'
          'build = ["ls ../../libs/shared", "echo worker in $PWD"]\n')
    return root


@pytest.fixture
def cli(emulator_url: str, aws_env: None, tmp_path: Path) -> Callable[..., Result]:
    env = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    def run(folder: Path, *args: str) -> Result:
        argv = [*args, "--region", "us-east-1", "--stage", "dev",
                "--config-path", str(folder / "cbdeploy.toml")]
        return CliRunner().invoke(main, argv, env=env, catch_exceptions=False)

    return run


def wait_batch(codebuild: Any, batch_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        batch: dict[str, Any] = codebuild.batch_get_build_batches(ids=[batch_id])["buildBatches"][0]
        if batch["complete"] or time.monotonic() > deadline:
            return batch
        time.sleep(0.1)


def batch_builds(codebuild: Any, batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The batch's builds by identifier (not the DOWNLOAD_SOURCE one)."""
    ids = {g["identifier"]: g["currentBuildSummary"]["arn"].split(":build/", 1)[1]
           for g in batch["buildGroups"] if g["identifier"] != "DOWNLOAD_SOURCE"}
    builds = codebuild.batch_get_builds(ids=list(ids.values()))["builds"]
    by_id = {b["id"]: b for b in builds}
    return {identifier: by_id[build_id] for identifier, build_id in ids.items()}


def variables(build: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in build["environment"]["environmentVariables"]}


def test_a_service_folder_deploys_that_service_alone_shipping_the_workspace(
    cli: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    root = make_workspace(tmp_path)
    result = cli(root / "services/api", "deploy", "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["project"] == project_name(root.name, "dev")  # the workspace's stage
    assert "lib.txt" in result.stderr and "shared library" in result.stderr
    assert "flavour=spicy" in result.stderr
    codebuild = boto_client("codebuild")
    build = codebuild.batch_get_builds(ids=[report["buildId"]])["builds"][0]
    assert variables(build)["CBDEPLOY_SERVICE"] == "api"
    assert build["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    # One ordinary build: no batch was started.
    assert not codebuild.list_build_batches_for_project(projectName=report["project"])["ids"]
    # The service's folder names the workspace's stage: builds and a UUID prefix find it.
    listed = cli(root / "services/api", "builds", "--json")
    assert report["buildId"] in listed.stdout, listed.output
    prefix = report["buildId"].split(":", 1)[1][:8]
    shown = cli(root / "services/api", "builds", prefix, "--json")
    assert shown.exit_code == 0 and report["buildId"] in shown.stdout, shown.output


def test_the_workspace_root_deploys_every_service_as_one_batch(
    cli: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    ssm = boto_client("ssm")
    secret = f"/{uuid.uuid4().hex[:8]}/token"
    ssm.put_parameter(Name=secret, Value="s3cret", Type="SecureString")
    root = make_workspace(tmp_path, secret=secret)
    result = cli(root, "deploy", "--yes", "--detach", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    batch_id = report["batch"]["batchId"]
    assert report["batchId"] == batch_id and report["status"] == "IN_PROGRESS"
    assert report["detached"] is True
    assert report["batch"]["services"] == {
        "infra": {"identifier": "infra"}, "api": {"identifier": "api"},
        "my-worker": {"identifier": "my_worker"},
    }
    assert f"Started batch build {batch_id}" in result.stderr
    codebuild = boto_client("codebuild")
    batch = wait_batch(codebuild, batch_id)
    assert batch["buildBatchStatus"] == "SUCCEEDED", batch
    spec = yaml.safe_load(batch["source"]["buildspec"])
    assert spec["batch"]["fast-fail"] is True
    groups = {g["identifier"]: g for g in batch["buildGroups"]}
    assert set(groups) == {"DOWNLOAD_SOURCE", "infra", "api", "my_worker"}
    assert groups["api"]["dependsOn"] == ["infra"]
    assert groups["my_worker"]["dependsOn"] == ["infra"]
    assert groups["infra"]["dependsOn"] == []
    builds = batch_builds(codebuild, batch)
    assert {k: variables(b)["CBDEPLOY_SERVICE"] for k, b in builds.items()} == {
        "infra": "infra", "api": "api", "my_worker": "my-worker"}
    assert variables(builds["api"])["FLAVOUR"] == "spicy"
    assert builds["api"]["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    assert builds["infra"]["environment"]["computeType"] == "BUILD_GENERAL1_SMALL"
    # The dependency order was observed: infra ended before its dependants started.
    for dependant in ("api", "my_worker"):
        assert builds["infra"]["endTime"] <= builds[dependant]["startTime"]


def test_keep_going_turns_the_batch_fast_fail_off(
    cli: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    root = make_workspace(tmp_path, infra_sleep=0)
    result = cli(root, "deploy", "--yes", "--detach", "--keep-going", "--json")
    assert result.exit_code == 0, result.output
    batch = wait_batch(boto_client("codebuild"), json.loads(result.stdout)["batch"]["batchId"])
    assert yaml.safe_load(batch["source"]["buildspec"])["batch"]["fast-fail"] is False


def test_one_deploy_of_a_workspace_stage_at_a_time(
    cli: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    """A workspace's project allows parallel builds (its batch's): cbdeploy itself refuses."""
    root = make_workspace(tmp_path, infra_sleep=5)
    first = cli(root, "deploy", "--yes", "--detach", "--json")
    assert first.exit_code == 0, first.output
    batch_id = json.loads(first.stdout)["batch"]["batchId"]
    second = cli(root / "services/api", "deploy", "--yes", "--json")
    assert second.exit_code == 2, second.output
    assert f"A batch build of {project_name(root.name, 'dev')} is already running: {batch_id}" \
        in second.stderr
    boto_client("codebuild").stop_build_batch(id=batch_id)


def test_a_workspace_config_error_exits_2_naming_file_and_line(
    cli: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    root = make_workspace(tmp_path)
    infra = root / "infra/cbdeploy.toml"
    infra.write_text(infra.read_text().replace('name = "infra"\n', 'name = "infra"\ndependsOn = ["api"]\n'))
    api = root / "services/api/cbdeploy.toml"
    for folder in (root, root / "services/api"):
        result = cli(folder, "deploy", "--yes")
        assert result.exit_code == 2, result.output
        assert f"{api}:2: dependsOn: dependency cycle: api -> infra -> api" in \
            " ".join(result.output.split()), result.output
    project = project_name(root.name, "dev")
    assert not boto_client("codebuild").batch_get_projects(names=[project])["projects"]


def test_a_followed_batch_exits_with_its_outcome_and_a_failed_dependency_stops_dependants(
    cli: Callable[..., Result], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    root = make_workspace(tmp_path, infra_sleep=0)
    infra = root / "infra/cbdeploy.toml"
    infra.write_text(infra.read_text().replace('"echo infra done"', '"exit 7"'))
    result = cli(root, "deploy", "--yes", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "FAILED" and report["batchId"] == report["batch"]["batchId"]
    assert report["firstFailedService"] == "infra"
    assert re.search(r"^infra +│", result.stderr, re.M), result.stderr  # the watch: each line behind its service
    batch = boto_client("codebuild").batch_get_build_batches(ids=[report["batchId"]])
    groups = {g["identifier"]: g for g in batch["buildBatches"][0]["buildGroups"]}
    assert groups["infra"]["currentBuildSummary"]["buildStatus"] == "FAILED"
    assert "currentBuildSummary" not in groups["api"]  # never started: infra failed
    assert "currentBuildSummary" not in groups["my_worker"]


def test_a_second_batch_sends_a_delta_that_every_build_rebuilds(
    cli: Callable[..., Result], boto_client: Callable[..., Any],
    log_messages: Callable[[dict[str, Any]], list[str]], tmp_path: Path,
) -> None:
    root = make_workspace(tmp_path, infra_sleep=0)
    codebuild = boto_client("codebuild")
    first = cli(root, "deploy", "--yes", "--detach", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["upload"]["kind"] == "base"
    wait_batch(codebuild, json.loads(first.stdout)["batch"]["batchId"])
    (root / "libs/shared/lib.txt").write_text("shared library, second edition\n")
    second = cli(root, "deploy", "--yes", "--detach", "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["upload"]["kind"] == "delta", report["upload"]
    batch = wait_batch(codebuild, report["batch"]["batchId"])
    assert batch["buildBatchStatus"] == "SUCCEEDED", batch
    api = batch_builds(codebuild, batch)["api"]
    lines = log_messages(api)
    assert any("rebuilt the tree from the delta and its base" in line for line in lines), lines
    assert "shared library, second edition" in lines


def test_ctrl_c_while_a_batch_deploy_follows_stops_the_whole_batch(
    emulator_url: str, aws_env: None, boto_client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The deploy hands the batch to the batch watch with stop_on_signal: a SIGINT (no
    terminal: at once) sends StopBuildBatch and the deploy follows it until it stopped."""
    import signal

    from cbdeploy.client.config.workspace import load_workspace
    from cbdeploy.client.deploy.batch_deploy import deploy_services
    from cbdeploy.client.deploy.service import DeployOptions, DeployService
    from cbdeploy.client.target import Target
    from cbdeploy.client.watch.events import LogLine, ServiceEvent, StopRequested

    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    root = make_workspace(tmp_path, infra_sleep=60)
    events: list[Any] = []

    def sink(event: Any) -> None:
        events.append(event)
        if isinstance(event, ServiceEvent) and isinstance(event.event, LogLine) \
                and not any(isinstance(e, StopRequested) for e in events):
            signal.raise_signal(signal.SIGINT)

    target = Target("dev", "us-east-1", None, root / "cbdeploy.toml", False, "info")
    deploy = DeployService(target, DeployOptions(yes=True), project_root=root, on_event=sink,
                           confirm=lambda _: True, at_terminal=lambda: False)
    workspace = load_workspace(root)
    outcome = deploy_services(deploy, workspace, workspace.services)
    assert outcome is not None and outcome.exit_code == 130 and outcome.status == "STOPPED"
    assert [e.batch for e in events if isinstance(e, StopRequested)] == [True]
    batch = boto_client("codebuild").batch_get_build_batches(ids=[outcome.batch_id])
    assert batch["buildBatches"][0]["buildBatchStatus"] == "STOPPED"


class OnlyApi:
    """A Picker as service selection plugs in: ``--service api --no-deps``, recording."""

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.recorded: list[tuple[list[str], str]] = []

    def pick(self, aws: Any) -> tuple[Any, ...]:
        return (self.workspace.service("api"),)

    def deployed(self, aws: Any, services: Any, batch_id: str) -> None:
        self.recorded.append((list(services), batch_id))


class NothingChanged(OnlyApi):
    def pick(self, aws: Any) -> tuple[Any, ...]:
        return ()


def test_selection_plugs_in_a_picker_and_hears_what_deployed(
    emulator_url: str, aws_env: None, boto_client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from cbdeploy.client.config.workspace import load_workspace
    from cbdeploy.client.deploy.batch_deploy import deploy_services
    from cbdeploy.client.deploy.service import DeployOptions, DeployService
    from cbdeploy.client.target import Target

    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    root = make_workspace(tmp_path)
    workspace = load_workspace(root)
    events: list[Any] = []
    collecting: dict[str, bool] = {}  # per event type: was the cyclic collector on
    target = Target("dev", "us-east-1", None, root / "cbdeploy.toml", False, "info")
    deploy = DeployService(target, DeployOptions(yes=True), project_root=root,
                           on_event=lambda e: (collecting.setdefault(type(e).__name__,
                                                                     gc.isenabled()),
                                               events.append(e)),
                           confirm=lambda _: True, sleep=lambda _: time.sleep(0.2))
    assert deploy_services(deploy, workspace, NothingChanged(workspace)) is None
    picker = OnlyApi(workspace)
    outcome = deploy_services(deploy, workspace, picker)
    assert outcome is not None and outcome.exit_code == 0, outcome
    # Paused while the batch is packaged and sent (as a single deploy's), on again to follow.
    assert not collecting["ArchiveBuilt"] and not collecting["UploadDone"]
    assert collecting["BatchStarted"] and gc.isenabled()
    assert picker.recorded == [(["api"], outcome.batch_id)]
    codebuild = boto_client("codebuild")
    batch = codebuild.batch_get_build_batches(ids=[outcome.batch_id])["buildBatches"][0]
    groups = [(g["identifier"], g.get("dependsOn")) for g in batch["buildGroups"]]
    assert groups == [("DOWNLOAD_SOURCE", None), ("api", [])]  # --no-deps: infra not waited for
