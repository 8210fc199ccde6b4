"""The emulator runs CodeBuild batch builds (build graphs) as real builds.

Driven with plain boto3 over loopback against the shared endpoint. The shapes
and phases are CodeBuild's (botocore's service model, aws-cli's
``batch-get-build-batches`` example); moto has no batch builds, so every
behaviour here is the emulator's own (emulator/batches.py).
"""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

TASK_SPEC = """version: 0.2
phases:
  build:
    commands:
      - echo "task $TASK says hello"
      - sleep "${SLEEP:-0}"
      - if [ -n "${MEET:-}" ]; then touch "$RENDEZVOUS/$TASK"; for i in $(seq 600); do [ -e "$RENDEZVOUS/$MEET" ] && break; sleep 0.1; done; test -e "$RENDEZVOUS/$MEET"; fi
      - test "${FAIL:-0}" != 1
batch:
  fast-fail: %(fast_fail)s
  build-graph:
%(graph)s
"""


def batchspec(graph: str, fast_fail: bool = False) -> str:
    return TASK_SPEC % {"fast_fail": "true" if fast_fail else "false", "graph": graph}


def task(identifier: str, *, depend_on: tuple[str, ...] = (), sleep: float = 0, fail: bool = False,
         ignore_failure: bool = False, meet: tuple[str, str] | None = None) -> str:
    """One build-graph task. ``meet=(folder, other)``: the task waits (up to 60 s) until
    ``other`` has started too, so it can only succeed if the two run at the same time."""
    lines = [f"    - identifier: {identifier}"]
    if depend_on:
        lines.append(f"      depend-on: [{', '.join(depend_on)}]")
    if ignore_failure:
        lines.append("      ignore-failure: true")
    lines += ["      env:", "        variables:", f"          TASK: {identifier}",
              f'          SLEEP: "{sleep}"', f'          FAIL: "{1 if fail else 0}"']
    if meet is not None:
        lines += [f'          RENDEZVOUS: "{meet[0]}"', f"          MEET: {meet[1]}"]
    return "\n".join(lines)


@pytest.fixture
def codebuild(boto_client: Callable[..., Any]) -> Any:
    return boto_client("codebuild")


@pytest.fixture
def batch_project(codebuild_project: Callable[..., str], codebuild_role: str) -> Callable[..., str]:
    def make(**settings: Any) -> str:
        settings.setdefault("buildBatchConfig", {"serviceRole": codebuild_role, "timeoutInMins": 30})
        return codebuild_project(**settings)

    return make


def wait_batch(codebuild: Any, batch_id: str, timeout: float = 60.0,
               seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        batch: dict[str, Any] = codebuild.batch_get_build_batches(ids=[batch_id])["buildBatches"][0]
        if seen is not None:
            seen.append(batch)
        if batch["complete"] or time.monotonic() > deadline:
            return batch
        time.sleep(0.1)


def groups(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["identifier"]: g for g in batch["buildGroups"]}


def builds_of(codebuild: Any, batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each group's current build, as BatchGetBuilds reports it, by identifier."""
    arns = {g["identifier"]: g["currentBuildSummary"]["arn"]
            for g in batch["buildGroups"] if "currentBuildSummary" in g}
    found = codebuild.batch_get_builds(ids=list(arns.values()))["builds"]
    by_arn = {b["arn"]: b for b in found}
    return {identifier: by_arn[arn] for identifier, arn in arns.items()}


def run_batch(codebuild: Any, project: str, spec: str, **kwargs: Any) -> dict[str, Any]:
    started = codebuild.start_build_batch(projectName=project, buildspecOverride=spec)["buildBatch"]
    return wait_batch(codebuild, started["id"], **kwargs)


def test_graph_runs_dependants_after_their_dependency_and_independents_in_parallel(
    codebuild, batch_project, log_messages, tmp_path
):
    project = batch_project()
    # api and web each wait for the other to have started: both succeed only if
    # they run at the same time, however slow the machine.
    spec = batchspec("\n".join([
        task("infra", sleep=1),
        task("api", depend_on=("infra",), meet=(str(tmp_path), "web")),
        task("web", depend_on=("infra",), meet=(str(tmp_path), "api")),
    ]))
    started = codebuild.start_build_batch(projectName=project, buildspecOverride=spec)["buildBatch"]
    assert started["buildBatchStatus"] == "IN_PROGRESS"
    assert started["id"].startswith(f"{project}:")
    assert started["arn"].endswith(f":build-batch/{started['id']}")
    assert started["buildBatchNumber"] == 1
    seen: list[dict[str, Any]] = []
    batch = wait_batch(codebuild, started["id"], seen=seen)

    assert batch["buildBatchStatus"] == "SUCCEEDED" and batch["complete"] is True
    assert [p["phaseType"] for p in batch["phases"]] == [
        "SUBMITTED", "DOWNLOAD_BATCHSPEC", "IN_PROGRESS", "COMBINE_ARTIFACTS", "SUCCEEDED"]
    assert [p.get("phaseStatus") for p in batch["phases"]] == ["SUCCEEDED"] * 4 + [None]
    assert batch["currentPhase"] == "SUCCEEDED" and batch["endTime"] >= batch["startTime"]
    assert batch["buildBatchConfig"]["timeoutInMins"] == 30
    by_id = groups(batch)
    assert list(by_id) == ["DOWNLOAD_SOURCE", "infra", "api", "web"]
    assert "dependsOn" not in by_id["DOWNLOAD_SOURCE"]
    assert by_id["infra"]["dependsOn"] == [] and by_id["api"]["dependsOn"] == ["infra"]
    for group in by_id.values():
        summary = group["currentBuildSummary"]
        assert summary["buildStatus"] == "SUCCEEDED"
        assert summary["primaryArtifact"] == {"type": "no_artifacts", "identifier": group["identifier"]}

    builds = builds_of(codebuild, batch)
    infra, api, web = builds["infra"], builds["api"], builds["web"]
    # Dependency order: the dependants were started after infra had finished.
    assert api["startTime"] >= infra["endTime"] and web["startTime"] >= infra["endTime"]
    # Independents ran at the same time: their runs overlap.
    assert api["startTime"] < web["endTime"] and web["startTime"] < api["endTime"]
    for build in builds.values():
        assert build["buildBatchArn"] == batch["arn"]
        assert build["projectName"] == project
    streams = {b["logs"]["streamName"] for b in builds.values()}
    assert len(streams) == 4  # each build logs to its own stream
    assert "task api says hello" in log_messages(api)
    assert not any("task web" in line for line in log_messages(api))

    # While it ran, the batch said IN_PROGRESS and showed builds as they started.
    running = [b for b in seen if b["currentPhase"] == "IN_PROGRESS"]
    assert running and all(b["buildBatchStatus"] == "IN_PROGRESS" for b in running)
    def status(batch: dict[str, Any], task: str) -> str | None:
        summary = groups(batch)[task].get("currentBuildSummary")
        return summary["buildStatus"] if summary else None

    # Seen while infra ran, with no build for api yet; and never a build for api
    # before infra had succeeded (a poll may fall between the two: that is fine).
    assert any(status(b, "infra") == "IN_PROGRESS" and status(b, "api") is None for b in running)
    assert all(status(b, "infra") == "SUCCEEDED" for b in running if status(b, "api") is not None)


def test_fast_fail_stops_the_running_builds_and_starts_no_more(codebuild, batch_project):
    spec = batchspec("\n".join([
        task("broken", fail=True, sleep=0.5),
        task("slow", sleep=60),
        task("after", depend_on=("broken",)),
    ]), fast_fail=True)
    begun = time.monotonic()
    batch = run_batch(codebuild, batch_project(), spec)

    assert time.monotonic() - begun < 40  # slow was stopped, not waited for
    assert batch["buildBatchStatus"] == "FAILED"
    assert [p["phaseType"] for p in batch["phases"]][-2:] == ["IN_PROGRESS", "FAILED"]
    assert batch["phases"][-2]["phaseStatus"] == "FAILED"
    by_id = groups(batch)
    assert by_id["broken"]["currentBuildSummary"]["buildStatus"] == "FAILED"
    assert by_id["slow"]["currentBuildSummary"]["buildStatus"] == "STOPPED"
    assert "currentBuildSummary" not in by_id["after"]


def test_without_fast_fail_running_and_independent_builds_finish(codebuild, batch_project):
    spec = batchspec("\n".join([
        task("broken", fail=True),
        task("slow", sleep=2),
        task("next", depend_on=("slow",)),
        task("after", depend_on=("broken",)),
    ]))
    batch = run_batch(codebuild, batch_project(), spec)

    assert batch["buildBatchStatus"] == "FAILED"
    by_id = groups(batch)
    assert by_id["broken"]["currentBuildSummary"]["buildStatus"] == "FAILED"
    assert by_id["slow"]["currentBuildSummary"]["buildStatus"] == "SUCCEEDED"
    assert by_id["next"]["currentBuildSummary"]["buildStatus"] == "SUCCEEDED"
    assert "currentBuildSummary" not in by_id["after"]  # its dependency failed


def test_ignored_failure_lets_dependants_run_and_the_batch_succeed(codebuild, batch_project):
    spec = batchspec("\n".join([
        task("flaky", fail=True, ignore_failure=True),
        task("after", depend_on=("flaky",)),
    ]))
    batch = run_batch(codebuild, batch_project(), spec)

    assert batch["buildBatchStatus"] == "SUCCEEDED"
    by_id = groups(batch)
    assert by_id["flaky"]["ignoreFailure"] is True
    assert by_id["flaky"]["currentBuildSummary"]["buildStatus"] == "FAILED"
    assert by_id["after"]["currentBuildSummary"]["buildStatus"] == "SUCCEEDED"


def test_stop_build_batch_stops_every_build(codebuild, batch_project):
    spec = batchspec("\n".join([task("one", sleep=60), task("two", sleep=60),
                                task("three", depend_on=("one",))]))
    started = codebuild.start_build_batch(projectName=batch_project(), buildspecOverride=spec)["buildBatch"]
    deadline = time.monotonic() + 30
    while True:  # wait until both builds run
        batch = codebuild.batch_get_build_batches(ids=[started["id"]])["buildBatches"][0]
        states = [g.get("currentBuildSummary", {}).get("buildStatus") for g in batch["buildGroups"]]
        if states.count("IN_PROGRESS") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    builds = builds_of(codebuild, batch)
    assert all(b["currentPhase"] not in ("COMPLETED",) for k, b in builds.items() if k != "DOWNLOAD_SOURCE")

    stopped = codebuild.stop_build_batch(id=started["arn"])["buildBatch"]
    batch = wait_batch(codebuild, stopped["id"], timeout=20)

    assert batch["buildBatchStatus"] == "STOPPED"
    assert [p["phaseType"] for p in batch["phases"]][-2:] == ["IN_PROGRESS", "STOPPED"]
    by_id = groups(batch)
    assert by_id["one"]["currentBuildSummary"]["buildStatus"] == "STOPPED"
    assert by_id["two"]["currentBuildSummary"]["buildStatus"] == "STOPPED"
    assert "currentBuildSummary" not in by_id["three"]
    with pytest.raises(ClientError) as missing:
        codebuild.stop_build_batch(id=f"{started['id']}x")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_batch_build_needs_a_valid_batch_configuration(codebuild, codebuild_project, batch_project):
    plain = codebuild_project()
    with pytest.raises(ClientError) as error:
        codebuild.start_build_batch(projectName=plain, buildspecOverride=batchspec(task("a")))
    assert error.value.response["Error"]["Code"] == "InvalidInputException"
    assert "buildBatchConfig" in error.value.response["Error"]["Message"]

    missing_role = {"serviceRole": "arn:aws:iam::123456789012:role/not-there"}
    with pytest.raises(ClientError) as error:
        codebuild_project(buildBatchConfig=missing_role)
    assert "sts:AssumeRole" in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as error:
        batch_project(buildBatchConfig={"restrictions": {"maximumBuildsAllowed": 2}})
    assert "serviceRole" in error.value.response["Error"]["Message"]

    project = batch_project()
    role = codebuild.batch_get_projects(names=[project])["projects"][0]["buildBatchConfig"]["serviceRole"]
    with pytest.raises(ClientError) as error:
        codebuild.update_project(name=project, buildBatchConfig={"serviceRole": role, "timeoutInMins": 1})
    assert "timeoutInMins" in error.value.response["Error"]["Message"]

    # Restrictions are applied to the build graph once it is read.
    limited = batch_project(buildBatchConfig={
        "serviceRole": role, "restrictions": {"maximumBuildsAllowed": 1}})
    batch = run_batch(codebuild, limited, batchspec("\n".join([task("a"), task("b")])))
    assert batch["buildBatchStatus"] == "FAILED"
    download = batch["phases"][1]
    assert download["phaseType"] == "DOWNLOAD_BATCHSPEC" and download["phaseStatus"] == "FAILED"
    assert "maximumBuildsAllowed" in download["contexts"][0]["message"]
    assert list(groups(batch)) == ["DOWNLOAD_SOURCE"]


@pytest.mark.parametrize("graph, message", [
    (task("a", depend_on=("b",)) + "\n" + task("b", depend_on=("a",)), "cycle"),
    (task("a", depend_on=("nowhere",)), "nowhere"),
    (task("a") + "\n" + task("a"), "Duplicate identifier a"),
    ("    - identifier: has-dash", "Invalid identifier"),
])
def test_a_bad_build_graph_fails_the_batch_while_reading_it(codebuild, batch_project, graph, message):
    batch = run_batch(codebuild, batch_project(), batchspec(graph))

    assert batch["buildBatchStatus"] == "FAILED"
    assert [p["phaseType"] for p in batch["phases"]] == ["SUBMITTED", "DOWNLOAD_BATCHSPEC", "FAILED"]
    context = batch["phases"][1]["contexts"][0]
    assert context["statusCode"] == "YAML_FILE_ERROR" and message in context["message"]
    assert groups(batch)["DOWNLOAD_SOURCE"]["currentBuildSummary"]["buildStatus"] == "FAILED"


def test_list_build_batches_by_project_and_status(codebuild, batch_project):
    project = batch_project()
    good = run_batch(codebuild, project, batchspec(task("a")))
    bad = run_batch(codebuild, project, batchspec(task("a", fail=True)))

    listed = codebuild.list_build_batches_for_project(projectName=project)["ids"]
    assert listed == [bad["id"], good["id"]]  # newest first
    ascending = codebuild.list_build_batches_for_project(projectName=project, sortOrder="ASCENDING")
    assert ascending["ids"] == [good["id"], bad["id"]]
    failed = codebuild.list_build_batches_for_project(projectName=project, filter={"status": "FAILED"})
    assert failed["ids"] == [bad["id"]]
    assert {good["id"], bad["id"]} <= set(codebuild.list_build_batches()["ids"])
    paged = codebuild.list_build_batches_for_project(projectName=project, maxResults=1)
    assert paged["ids"] == [bad["id"]] and paged["nextToken"]
    assert bad["buildBatchNumber"] == good["buildBatchNumber"] + 1
    found = codebuild.batch_get_build_batches(ids=[good["arn"], f"{project}:nope"])
    assert [b["id"] for b in found["buildBatches"]] == [good["id"]]
    assert found["buildBatchesNotFound"] == [f"{project}:nope"]
    with pytest.raises(ClientError) as error:
        codebuild.list_build_batches_for_project(projectName=f"none-{uuid.uuid4().hex[:8]}")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_s3_source_batch_runs_each_task_with_its_own_buildspec_and_settings(
    codebuild, batch_project, boto_client, log_messages
):
    """Each task's build downloads the archive; ``buildspec`` and ``env`` per task apply."""
    s3 = boto_client("s3")
    bucket = f"batch-src-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("buildspec.yml", (
            "version: 0.2\nphases:\n  build:\n    commands: [\"echo root $TASK\"]\n"
            "batch:\n  build-graph:\n"
            "    - identifier: infra\n      env:\n        variables: {TASK: infra}\n"
            "    - identifier: api\n      buildspec: services/api/buildspec.yml\n"
            "      depend-on: [infra]\n"
            "      env:\n        compute-type: BUILD_GENERAL1_MEDIUM\n        variables: {TASK: api}\n"
        ))
        archive.writestr("services/api/buildspec.yml",
                         "version: 0.2\nphases:\n  build:\n    commands: [\"echo own spec $TASK\"]\n")
    s3.put_object(Bucket=bucket, Key="src.zip", Body=data.getvalue())
    project = batch_project(source={"type": "S3", "location": f"{bucket}/src.zip"})

    started = codebuild.start_build_batch(projectName=project)["buildBatch"]
    batch = wait_batch(codebuild, started["id"])

    assert batch["buildBatchStatus"] == "SUCCEEDED", batch
    builds = builds_of(codebuild, batch)
    assert "root infra" in log_messages(builds["infra"])
    assert "own spec api" in log_messages(builds["api"])
    assert builds["api"]["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    assert builds["infra"]["environment"]["computeType"] == "BUILD_GENERAL1_SMALL"


def test_batch_timeout_stops_its_builds_and_ends_timed_out(codebuild_role, emulator_credentials):
    """A "minute" lasts 0.4 s on this endpoint (``minute_seconds``): timeoutInMins 5 is 2 s,
    while each build's own timeout (60 minutes, 24 s) is far away."""
    import boto3

    import cbdeploy.emulator as emulator

    with emulator.running(minute_seconds=0.4, credentials=emulator_credentials) as url:
        codebuild = boto3.client(
            "codebuild", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id=emulator_credentials.access_key_id,
            aws_secret_access_key=emulator_credentials.secret_access_key,
        )
        name = f"batch-timeout-{uuid.uuid4().hex[:8]}"
        codebuild.create_project(
            name=name, source={"type": "NO_SOURCE", "buildspec": batchspec(task("a", sleep=60))},
            artifacts={"type": "NO_ARTIFACTS"}, serviceRole=codebuild_role,
            environment={"type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL"},
            buildBatchConfig={"serviceRole": codebuild_role, "timeoutInMins": 5},
        )
        started = codebuild.start_build_batch(projectName=name)["buildBatch"]
        batch = wait_batch(codebuild, started["id"], timeout=20)

    assert batch["buildBatchStatus"] == "TIMED_OUT"
    assert batch["phases"][-2]["phaseType"] == "IN_PROGRESS"
    assert batch["phases"][-2]["phaseStatus"] == "TIMED_OUT"
    assert groups(batch)["a"]["currentBuildSummary"]["buildStatus"] == "STOPPED"
