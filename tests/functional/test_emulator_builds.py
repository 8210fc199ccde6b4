"""The CodeBuild emulator runs builds for real: phases, shell session, environment, logs.

Driven with plain boto3 over loopback against the shared endpoint.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ALL_PHASES = [
    "SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD",
    "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED",
]


@pytest.fixture
def codebuild(boto_client: Callable[..., Any]) -> Any:
    return boto_client("codebuild")


@pytest.fixture
def run_build(codebuild: Any, codebuild_project: Callable[..., str],
              build_waiter: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``run_build(buildspec, **start_build_args)``: start a build, wait for its end."""

    def run(spec: str, project: str | None = None, **overrides: Any) -> dict[str, Any]:
        name = project or codebuild_project()
        build = codebuild.start_build(projectName=name, buildspecOverride=spec, **overrides)["build"]
        return build_waiter(codebuild, build["id"])

    return run


def statuses(build: dict[str, Any]) -> dict[str, str | None]:
    return {p["phaseType"]: p.get("phaseStatus") for p in build["phases"]}


def contexts(build: dict[str, Any], phase: str) -> list[dict[str, str]]:
    return next(p for p in build["phases"] if p["phaseType"] == phase)["contexts"]


def test_passing_build_reports_every_phase_and_logs_output(run_build, log_messages):
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hello from build $CODEBUILD_BUILD_NUMBER\n"
    build = run_build(spec)

    assert build["buildStatus"] == "SUCCEEDED"
    assert build["buildComplete"] is True
    assert build["currentPhase"] == "COMPLETED"
    assert [p["phaseType"] for p in build["phases"]] == ALL_PHASES
    assert set(statuses(build).values()) == {"SUCCEEDED", None}
    for phase in build["phases"][:-1]:
        assert phase["endTime"] >= phase["startTime"]
        assert phase["durationInSeconds"] >= 0
    # The shape of CodeBuild's answers (aws-cli's batch-get-builds and stop-build examples):
    # no contexts on SUBMITTED and QUEUED, one empty context on each later finished phase.
    assert [p.get("contexts") for p in build["phases"][:2]] == [None, None]
    assert {str(p.get("contexts")) for p in build["phases"][2:-1]} == {
        str([{"statusCode": "", "message": ""}])
    }
    assert "contexts" not in build["phases"][-1]
    project, uuid = build["id"].split(":")
    assert build["buildNumber"] == 1
    assert build["arn"] == f"arn:aws:codebuild:us-east-1:123456789012:build/{build['id']}"
    assert build["logs"]["groupName"] == f"/aws/codebuild/{project}"
    assert build["logs"]["streamName"] == uuid
    assert "logEvent:group=" in build["logs"]["deepLink"]
    assert build["endTime"] >= build["startTime"]
    lines = log_messages(build)
    assert "hello from build 1" in lines
    container = [line for line in lines if line.startswith("[Container] ")]
    # The order of CodeBuild's opening lines, as in public build logs (aws-samples/mlops-e2e#68).
    opening = [line.split(" ", 3)[3] for line in container[:6]]
    assert opening[:4] == ["Running on CodeBuild On-demand", "Waiting for agent ping",
                           "Waiting for DOWNLOAD_SOURCE", "Phase is DOWNLOAD_SOURCE"]
    assert opening[4].startswith("CODEBUILD_SRC_DIR=")
    assert opening[5].startswith("YAML location is ") and opening[5].endswith("/readonly/buildspec.yml")
    messages = [line.split(" ", 3)[3] for line in container]
    found = messages.index("Phases found in YAML: 1")
    assert messages[found - 1] == "Registering with agent"
    assert messages[found + 1:found + 4] == [
        " BUILD: 1 commands", "Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED",
        "Phase context status code:  Message: "]
    assert any(line.endswith(" Entering phase BUILD") for line in container)
    assert any(line.endswith(" Running command echo hello from build $CODEBUILD_BUILD_NUMBER") for line in container)
    assert any(line.endswith(" Phase complete: BUILD State: SUCCEEDED") for line in container)


def test_log_names_appear_once_the_stream_exists(codebuild, codebuild_project, build_waiter, boto_client):
    """Like CodeBuild, StartBuild's answer does not name the stream yet; once BatchGetBuilds
    names it, GetLogEvents finds it."""
    started = codebuild.start_build(projectName=codebuild_project())["build"]
    assert started["buildStatus"] == "IN_PROGRESS" and started["buildComplete"] is False
    assert "streamName" not in started["logs"]
    for _ in range(500):
        build = codebuild.batch_get_builds(ids=[started["id"]])["builds"][0]
        if "streamName" in build["logs"]:
            break
        time.sleep(0.02)
    boto_client("logs").get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"]
    )
    build_waiter(codebuild, started["id"])


def test_build_numbers_count_per_project(codebuild, codebuild_project, run_build):
    project = codebuild_project()
    numbers = [run_build("version: 0.2\nphases: {}\n", project=project)["buildNumber"] for _ in range(2)]
    other = run_build("version: 0.2\nphases: {}\n")["buildNumber"]
    assert numbers == [1, 2]
    assert other == 1
    ids = codebuild.list_builds_for_project(projectName=project)["ids"]
    assert [i.split(":")[0] for i in ids] == [project, project]
    ascending = codebuild.list_builds_for_project(projectName=project, sortOrder="ASCENDING")["ids"]
    assert ascending == list(reversed(ids))
    assert set(ids) <= set(codebuild.list_builds()["ids"])


def test_failing_build_still_runs_post_build_with_succeeding_zero(run_build, log_messages):
    """The context names the command as written, unexpanded, as in public logs:
    "COMMAND_EXECUTION_ERROR: Error while executing command: ./prowler $PROWLER_OPTIONS.
    Reason: exit status 3" (prowler-cloud/prowler#888)."""
    spec = """version: 0.2
phases:
  build:
    commands:
      - echo before
      - exit 3
      - echo never
  post_build:
    commands:
      - echo "post succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"""
    build = run_build(spec)

    assert build["buildStatus"] == "FAILED"
    assert statuses(build)["BUILD"] == "FAILED"
    assert statuses(build)["POST_BUILD"] == "SUCCEEDED"
    assert contexts(build, "BUILD") == [{
        "statusCode": "COMMAND_EXECUTION_ERROR",
        "message": "Error while executing command: exit 3. Reason: exit status 3",
    }]
    lines = log_messages(build)
    assert "before" in lines and "never" not in lines
    assert "post succeeding=0" in lines
    assert any(line.endswith("Command did not exit successfully exit 3 exit status 3") for line in lines)
    assert any(line.endswith("Phase complete: BUILD State: FAILED") for line in lines)
    assert any(
        line.endswith("Phase context status code: COMMAND_EXECUTION_ERROR Message: "
                      "Error while executing command: exit 3. Reason: exit status 3")
        for line in lines
    )


@pytest.mark.parametrize("phase", ["install", "pre_build"])
def test_install_or_pre_build_failure_goes_straight_to_finalizing(run_build, log_messages, phase):
    spec = f"""version: 0.2
phases:
  {phase}:
    commands: ["false"]
  build:
    commands: ["echo build ran"]
  post_build:
    commands: ["echo post ran"]
"""
    build = run_build(spec)

    assert build["buildStatus"] == "FAILED"
    names = [p["phaseType"] for p in build["phases"]]
    assert names[-3:] == [phase.upper(), "FINALIZING", "COMPLETED"]
    assert "BUILD" not in names and "UPLOAD_ARTIFACTS" not in names
    lines = log_messages(build)
    assert "build ran" not in lines and "post ran" not in lines


def test_on_failure_continue_runs_the_next_phases_and_the_build_fails(run_build, log_messages):
    spec = """version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands: ["exit 7"]
  build:
    commands: ["echo build ran succeeding=$CODEBUILD_BUILD_SUCCEEDING"]
"""
    build = run_build(spec)

    assert statuses(build)["INSTALL"] == "FAILED"
    assert statuses(build)["BUILD"] == "SUCCEEDED"
    assert build["buildStatus"] == "FAILED"
    assert "build ran succeeding=0" in log_messages(build)


def test_on_failure_abort_skips_post_build(run_build, log_messages):
    spec = """version: 0.2
phases:
  build:
    on-failure: ABORT
    commands: ["false"]
  post_build:
    commands: ["echo post ran"]
"""
    build = run_build(spec)

    names = [p["phaseType"] for p in build["phases"]]
    assert "POST_BUILD" not in names and names[-3:] == ["BUILD", "FINALIZING", "COMPLETED"]
    assert "post ran" not in log_messages(build)


def test_finally_runs_after_a_failing_command_and_after_success(run_build, log_messages):
    spec = """version: 0.2
phases:
  pre_build:
    commands: ["echo pre"]
    finally: ["echo pre finally"]
  build:
    commands: ["false", "echo skipped"]
    finally: ["echo build finally $CODEBUILD_BUILD_SUCCEEDING"]
"""
    build = run_build(spec)

    lines = log_messages(build)
    assert "pre finally" in lines
    assert "build finally 0" in lines
    assert "skipped" not in lines
    assert statuses(build)["BUILD"] == "FAILED"


def test_failing_finally_fails_the_phase(run_build):
    spec = 'version: 0.2\nphases:\n  build:\n    commands: ["true"]\n    finally: ["exit 4"]\n'
    build = run_build(spec)
    assert statuses(build)["BUILD"] == "FAILED"
    assert contexts(build, "BUILD")[0]["message"].endswith("Reason: exit status 4")


def test_one_shell_session_for_the_whole_build(run_build, log_messages):
    spec = """version: 0.2
phases:
  install:
    commands:
      - export FROM_INSTALL=installed
      - PLAIN=kept
      - mkdir -p sub && cd sub
      - export GONE=yes
      - 'greet() { echo "hello $1"; }'
  build:
    commands:
      - echo "$FROM_INSTALL $PLAIN $(basename "$PWD") ${GONE-unset}"
      - unset GONE
      - echo "gone=${GONE-unset}"
      - printf 'no newline at the end'
      - echo next line
      - (exit 42) || echo "status $?"
      - greet function
"""
    build = run_build(spec)

    lines = log_messages(build)
    assert build["buildStatus"] == "SUCCEEDED"
    assert "installed kept sub yes" in lines
    assert "gone=unset" in lines
    assert "no newline at the end" in lines
    assert "next line" in lines
    assert "status 42" in lines
    assert "hello function" in lines


def test_sh_shell_is_honoured(run_build, log_messages):
    spec = """version: 0.2
env:
  shell: /bin/sh
phases:
  install:
    commands: ["export SH_VAR=from-sh"]
  build:
    commands: ["echo $SH_VAR"]
"""
    build = run_build(spec)
    assert build["buildStatus"] == "SUCCEEDED"
    assert "from-sh" in log_messages(build)


def test_exported_variables_are_reported(run_build):
    spec = """version: 0.2
env:
  exported-variables: [DEPLOYED_URL, NEVER_SET]
phases:
  build:
    commands: ["export DEPLOYED_URL=https://example.test/x"]
"""
    build = run_build(spec)
    assert build["exportedEnvironmentVariables"] == [
        {"name": "DEPLOYED_URL", "value": "https://example.test/x"},
        {"name": "NEVER_SET", "value": ""},
    ]


def test_builtin_variables_and_the_host_image(run_build, log_messages, emulator_url):
    spec = """version: 0.2
phases:
  build:
    commands:
      - echo "endpoint=$AWS_ENDPOINT_URL"
      - echo "region=$AWS_REGION/$AWS_DEFAULT_REGION"
      - echo "id=$CODEBUILD_BUILD_ID"
      - echo "arn=$CODEBUILD_BUILD_ARN"
      - echo "number=$CODEBUILD_BUILD_NUMBER"
      - echo "initiator=$CODEBUILD_INITIATOR"
      - echo "log=$CODEBUILD_LOG_PATH"
      - echo "start=$CODEBUILD_START_TIME"
      - echo "version=$CODEBUILD_SOURCE_VERSION"
      - echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING"
      - echo "src=$CODEBUILD_SRC_DIR pwd=$PWD"
      - echo "path=${PATH%%:*}"
      - python3 -c "import boto3; print('sts', boto3.client('sts').get_caller_identity()['Account'])"
"""
    build = run_build(spec, sourceVersion="abc123")
    lines = log_messages(build)
    values = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("["))

    assert build["buildStatus"] == "SUCCEEDED", lines
    assert values["endpoint"] == emulator_url
    assert values["region"] == "us-east-1/us-east-1"
    assert values["id"] == build["id"]
    assert values["arn"] == build["arn"]
    assert values["number"] == "1"
    assert values["initiator"] == build["initiator"]
    assert values["log"] == build["logs"]["streamName"]
    assert abs(int(values["start"]) - build["startTime"].timestamp() * 1000) < 2
    assert values["version"] == "abc123" == build["sourceVersion"]
    assert values["succeeding"] == "1"
    src, pwd = values["src"].split(" pwd=")
    assert src == pwd
    assert values["path"] == os.path.dirname(sys.executable)
    assert "sts 123456789012" in lines


def test_environment_variables_precedence_and_overrides_recorded(codebuild, codebuild_project, run_build, log_messages):
    project = codebuild_project(environment={
        "type": "LINUX_CONTAINER",
        "image": "aws/codebuild/standard:7.0",
        "computeType": "BUILD_GENERAL1_SMALL",
        "environmentVariables": [
            {"name": "FROM_PROJECT", "value": "project", "type": "PLAINTEXT"},
            {"name": "BOTH", "value": "project", "type": "PLAINTEXT"},
        ],
    })
    spec = """version: 0.2
env:
  variables:
    BOTH: buildspec
    ONLY_SPEC: "1"
phases:
  build:
    commands: ["echo vars $FROM_PROJECT $BOTH $ONLY_SPEC $FROM_START"]
"""
    build = run_build(
        spec,
        project=project,
        environmentVariablesOverride=[
            {"name": "BOTH", "value": "start", "type": "PLAINTEXT"},
            {"name": "FROM_START", "value": "start", "type": "PLAINTEXT"},
        ],
        computeTypeOverride="BUILD_GENERAL1_LARGE",
        imageOverride="aws/codebuild/amazonlinux2-x86_64-standard:5.0",
        privilegedModeOverride=True,
        timeoutInMinutesOverride=17,
        cacheOverride={"type": "S3", "location": "bucket/cache"},
    )

    assert "vars project start 1 start" in log_messages(build)
    env = build["environment"]
    assert env["computeType"] == "BUILD_GENERAL1_LARGE"
    assert env["image"] == "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
    assert env["privilegedMode"] is True
    assert {v["name"]: v["value"] for v in env["environmentVariables"]} == {
        "FROM_PROJECT": "project", "BOTH": "start", "FROM_START": "start",
    }
    assert build["timeoutInMinutes"] == 17
    assert build["cache"] == {"type": "S3", "location": "bucket/cache"}
    stored = codebuild.batch_get_projects(names=[project])["projects"][0]
    assert stored["environment"]["computeType"] == "BUILD_GENERAL1_SMALL"


def test_logs_config_override_names_group_and_stream(run_build, log_messages, boto_client):
    group = "/cbdeploy/emulator-test"
    build = run_build(
        "version: 0.2\nphases:\n  build:\n    commands: [\"echo in custom stream\"]\n",
        logsConfigOverride={"cloudWatchLogs": {"status": "ENABLED", "groupName": group, "streamName": "dev"}},
    )
    uuid = build["id"].split(":")[1]
    assert build["logs"]["groupName"] == group
    assert build["logs"]["streamName"] == f"dev/{uuid}"
    assert "in custom stream" in log_messages(build)
    groups = boto_client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]


def test_log_lines_in_order_long_lines_split_partial_line_flushed(run_build, log_messages):
    spec = """version: 0.2
phases:
  build:
    commands:
      - seq 1 3000
      - python3 -c "import sys; sys.stdout.write('x' * 300000 + 'é' * 10 + '\\n')"
      - printf 'partial at the end'
"""
    build = run_build(spec)
    lines = log_messages(build)

    numbers = [line for line in lines if line.isdigit()]
    assert numbers == [str(n) for n in range(1, 3001)]
    long_parts = [line for line in lines if line.startswith("x") or line.startswith("é")]
    assert "".join(long_parts) == "x" * 300000 + "é" * 10
    assert all(len(part.encode()) <= 256 * 1024 - 26 for part in long_parts)
    assert len(long_parts) == 2
    assert lines[-1].endswith("Phase context status code:  Message: ")
    assert "partial at the end" in lines


def test_work_directory_is_removed_when_the_build_ends(run_build, tmp_path: Path):
    marker = tmp_path / "srcdir"
    build = run_build(f"version: 0.2\nphases:\n  build:\n    commands: ['echo $CODEBUILD_SRC_DIR > {marker}']\n")
    assert build["buildStatus"] == "SUCCEEDED"
    src = Path(marker.read_text().strip())
    assert src.name == "src"
    assert not src.exists()


def test_initiator_is_the_caller(boto_client, codebuild_project, build_waiter):
    """CodeBuild names the IAM user, or ``role/session`` for assumed-role credentials."""
    project = codebuild_project()
    creds = boto_client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/deployer", RoleSessionName="alice"
    )["Credentials"]
    as_role = boto_client(
        "codebuild",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    by_role = as_role.start_build(projectName=project)["build"]
    by_default = boto_client("codebuild").start_build(projectName=project)["build"]
    assert by_role["initiator"] == "deployer/alice"
    assert by_default["initiator"] == "moto"  # moto's identity for unknown keys: user/moto
    for build in (by_role, by_default):
        build_waiter(boto_client("codebuild"), build["id"])
