"""Watching a batch build: ``logs <batch-id> [--follow]``, ``stop`` and ``builds`` of a batch.

Batches are started with boto3 against the emulator, which runs each task of
the build graph as a real build (``emulator/batches.py``; moto has no batch
builds). Each build runs cbdeploy's real runner on its service's plan
(``<service>/.cbdeploy/plan.json`` in the source archive) from a buildspec
file of its own under ``.cbdeploy/services/``, as a workspace's deploy
writes them, so the step lines and outputs come from its signed markers; each task carries its service's
name in ``CBDEPLOY_SERVICE``, and its graph identifier differs from it
(``web_app`` for ``web-app``) to show that the name comes from the build.
The CLI runs in-process with click's CliRunner (plain output unless
``FORCE_COLOR``).
"""

from __future__ import annotations

import io
import json
import re
import signal
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main
from cbdeploy.client.deploy.runner_plan import RUNNER_DIR, runner_modules
from cbdeploy.client.infra.names import project_name

SPEC = """version: 0.2
phases:
  build:
    commands: ["false"]
batch:
  fast-fail: %(fast_fail)s
  build-graph:
%(graph)s
"""
# Each task's own buildspec, a file in the archive as a workspace's deploy writes it:
# BatchGetBuilds then names the file, and the follower reads its runner's markers.
SERVICE_SPEC = """version: 0.2
phases:
  build:
    commands:
      - cd "$CBDEPLOY_SERVICE" && python3 -I -S "$CODEBUILD_SRC_DIR/.cbdeploy/runner" .cbdeploy/plan.json
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plan(service: str, commands: list[str]) -> bytes:
    return json.dumps({
        "version": 1, "project": f"shop-{service}", "stage": "dev", "outputsFile": "outputs.json",
        "secretNames": [],
        "steps": [{"name": "build", "kind": "build", "commands": commands, "environment": {},
                   "workingDirectory": None}],
    }).encode()


def ok(service: str, sleep: float = 0) -> list[str]:
    return [f"echo hello from {service}", f"sleep {sleep}",
            f"echo '{{\"url\": \"https://{service}.example\"}}' > outputs.json"]


def task(service: str, depend_on: tuple[str, ...] = ()) -> str:
    lines = [f"    - identifier: {service.replace('-', '_')}",
             f"      buildspec: .cbdeploy/services/{service}/buildspec.yml"]
    if depend_on:
        lines.append(f"      depend-on: [{', '.join(d.replace('-', '_') for d in depend_on)}]")
    lines += ["      env:", "        variables:", f"          CBDEPLOY_SERVICE: {service}"]
    return "\n".join(lines)


@pytest.fixture
def start_batch(
    boto_client: Callable[..., Any], codebuild_project: Callable[..., str], codebuild_role: str
) -> Callable[..., str]:
    """``start_batch(services, graph, fast_fail=..., project=...)``: the started batch's id.

    ``services`` maps each service to its pipeline's commands; ``graph`` is the
    batch's build-graph tasks (:func:`task`).
    """
    s3, codebuild = boto_client("s3"), boto_client("codebuild")

    def start(services: dict[str, list[str]], graph: list[str], *, fast_fail: bool = True,
              project: str | None = None) -> str:
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            for name, content in runner_modules().items():
                archive.writestr(f"{RUNNER_DIR}/{name}", content)
            for service, commands in services.items():
                archive.writestr(f"{service}/.cbdeploy/plan.json", plan(service, commands))
                archive.writestr(f".cbdeploy/services/{service}/buildspec.yml", SERVICE_SPEC)
        bucket = f"batch-watch-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="src.zip", Body=data.getvalue())
        name = codebuild_project(
            name=project, source={"type": "S3", "location": f"{bucket}/src.zip"},
            buildBatchConfig={"serviceRole": codebuild_role, "timeoutInMins": 30})
        spec = SPEC % {"fast_fail": "true" if fast_fail else "false", "graph": "\n".join(graph)}
        batch = codebuild.start_build_batch(projectName=name, buildspecOverride=spec)
        return str(batch["buildBatch"]["id"])

    return start


def cli(emulator_url: str, tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> Result:
    environ = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    environ.update(env or {})
    return CliRunner().invoke(main, [*argv, "--region", "us-east-1"], env=environ,
                              catch_exceptions=False)


def wait_running(codebuild: Any, batch_id: str, count: int, timeout: float = 30.0) -> None:
    """Until ``count`` builds of the batch run (their step has begun)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = codebuild.batch_get_build_batches(ids=[batch_id])["buildBatches"][0]
        running = [g for g in batch["buildGroups"] if g["identifier"] != "DOWNLOAD_SOURCE"
                   and g.get("currentBuildSummary", {}).get("buildStatus") == "IN_PROGRESS"]
        if len(running) >= count:
            time.sleep(1.0)  # (their runner has printed its first lines)
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} builds of {batch_id} did not start")


def test_following_a_batch_prefixes_each_service_s_lines_and_ends_with_a_table(
    start_batch: Callable[..., str], emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    batch_id = start_batch({"api": ok("api", 1), "web-app": ok("web-app", 1)},
                           [task("api"), task("web-app")])

    result = cli(emulator_url, tmp_path, "logs", batch_id, "--follow")

    assert result.exit_code == 0, result.output[-3000:]
    lines = result.output.splitlines()
    # Each line behind its service's name, padded to the longest (web-app).
    assert "api     │ hello from api" in lines
    assert "web-app │ hello from web-app" in lines
    assert "api     │ ▸ build (1/1)" in lines
    assert any(re.fullmatch(r"web-app │ ✓ build \(\d+(\.\d+)?s\)", line) for line in lines)
    assert any(re.fullmatch(r"api     │ ✓ BUILD +[\d.]+s", line) for line in lines)  # its phases
    assert not any("hello from" in line and "│" not in line for line in lines)
    # The table: service, status, duration, outputs.
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("  ")
            and len(line.split()) >= 4 and line.split()[0] in ("SERVICE", "api", "web-app")}
    assert rows["SERVICE"] == ["SERVICE", "STATUS", "DURATION", "OUTPUTS"]
    assert rows["api"][1] == "SUCCEEDED" and rows["api"][3] == "url=https://api.example"
    assert rows["web-app"][1] == "SUCCEEDED" and rows["web-app"][3] == "url=https://web-app.example"
    assert lines[-1].startswith("✓ Build succeeded in ") and lines[-1].endswith("(2 services)")
    assert lines.index("api     │ hello from api") < lines.index(
        next(line for line in lines if line.startswith("  SERVICE")))


def test_at_a_terminal_each_service_s_prefix_has_its_own_colour(
    start_batch: Callable[..., str], emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    batch_id = start_batch({"api": ok("api"), "web-app": ok("web-app")},
                           [task("api"), task("web-app")])

    result = cli(emulator_url, tmp_path, "logs", batch_id, "--follow",
                 env={"FORCE_COLOR": "1", "TERM": "xterm-256color"})

    assert result.exit_code == 0, result.output[-3000:]
    out = result.output
    api = next(line for line in out.splitlines() if ANSI.sub("", line).endswith("│ hello from api"))
    web = next(line for line in out.splitlines()
               if ANSI.sub("", line).endswith("│ hello from web-app"))
    assert ANSI.sub("", api) == "api     │ hello from api"
    assert ANSI.sub("", web) == "web-app │ hello from web-app"
    colour = re.compile(r"^(\x1b\[[0-9;]*m)")
    api_colour, web_colour = colour.match(api), colour.match(web)
    assert api_colour and web_colour and api_colour.group(1) != web_colour.group(1)


def test_json_gives_the_batch_and_each_service_s_build_object(
    start_batch: Callable[..., str], emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    batch_id = start_batch({"api": ok("api"), "web-app": ok("web-app")},
                           [task("api"), task("web-app", depend_on=("api",))])

    result = cli(emulator_url, tmp_path, "logs", batch_id, "--follow", "--json")

    assert result.exit_code == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["batchId"] == batch_id and report["buildId"] == batch_id
    assert report["status"] == "SUCCEEDED" and report["exitCode"] == 0
    assert report["firstFailedService"] is None
    assert [p["name"] for p in report["phases"]][:3] == [
        "SUBMITTED", "DOWNLOAD_BATCHSPEC", "IN_PROGRESS"]
    assert list(report["services"]) == ["api", "web-app"]  # the graph's order
    api, web = report["services"]["api"], report["services"]["web-app"]
    assert api["status"] == "SUCCEEDED" and api["buildId"].startswith(batch_id.split(":")[0])
    assert api["buildId"] != web["buildId"]
    assert api["outputs"] == {"url": "https://api.example"}
    assert [s["name"] for s in api["steps"]] == ["build"] and api["steps"][0]["status"] == "ok"
    assert web["identifier"] == "web_app" and web["started"] is True
    assert web["stoppedBy"] is None and web["logStream"]
    assert {"durationSeconds", "failedStep", "phases", "exitCode"} <= set(web)
    assert "web-app │ hello from web-app" in result.stderr  # the log on stderr


def test_fast_fail_names_the_service_that_failed_first_and_the_others_as_stopped(
    start_batch: Callable[..., str], emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    batch_id = start_batch(
        {"broken": ["echo about to fail", "sleep 1", "exit 3"], "slow": ok("slow", 60),
         "after": ok("after")},
        [task("broken"), task("slow"), task("after", depend_on=("broken",))],
        fast_fail=True)

    result = cli(emulator_url, tmp_path, "logs", batch_id, "--follow", "--json")

    assert result.exit_code == 1, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["status"] == "FAILED" and report["firstFailedService"] == "broken"
    services = report["services"]
    assert services["broken"]["status"] == "FAILED"
    assert services["broken"]["failedStep"] == "build"
    assert services["broken"]["failedStepExitCode"] == 3
    assert services["slow"]["status"] == "STOPPED" and services["slow"]["stoppedBy"] == "fast-fail"
    assert services["after"]["status"] is None and services["after"]["started"] is False
    err = result.stderr.splitlines()
    assert "  broken failed first" in err
    assert "  slow has not failed" not in err
    assert not any(line.strip().startswith("slow failed") for line in err)
    assert any("stopped by fast-fail when broken failed" in line and "slow" in line
               for line in err)
    rows = {line.split()[0]: line for line in err if line.startswith("  ") and line.split()}
    assert "STOPPED (fast-fail)" in rows["slow"] and "not started" in rows["after"]


def test_without_fast_fail_the_others_finish_and_a_failure_still_exits_1(
    start_batch: Callable[..., str], emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    batch_id = start_batch(
        {"broken": ["exit 4"], "slow": ok("slow", 2), "after": ok("after")},
        [task("broken"), task("slow"), task("after", depend_on=("broken",))],
        fast_fail=False)

    summary = tmp_path / "step-summary.md"
    followed = cli(emulator_url, tmp_path, "logs", batch_id, "--follow", "--json",
                   env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})

    assert followed.exit_code == 1, followed.stderr[-3000:]
    services = json.loads(followed.stdout)["services"]
    assert services["slow"]["status"] == "SUCCEEDED" and services["slow"]["stoppedBy"] is None
    assert services["slow"]["outputs"] == {"url": "https://slow.example"}
    assert services["broken"]["status"] == "FAILED" and services["after"]["started"] is False
    # GitHub Actions: one annotation, naming the service that failed; lines keep the prefix.
    errors = [line for line in followed.stderr.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1 and errors[0].startswith("::error title=Service broken%3A failed")
    assert "slow   │ hello from slow" in followed.stderr.splitlines()
    markdown = summary.read_text()
    assert "First to fail: service broken" in markdown
    assert "| slow | ✅ SUCCEEDED |" in markdown and "| after | ⏳ not started | - |  |" in markdown

    # Without --follow, the same batch's logs: each service in turn, the table, exit 0.
    shown = cli(emulator_url, tmp_path, "logs", batch_id)
    assert shown.exit_code == 0, shown.output[-3000:]
    lines = shown.output.splitlines()
    broken = [i for i, line in enumerate(lines) if line.startswith("broken │")]
    slow = [i for i, line in enumerate(lines) if line.startswith("slow   │")]
    assert broken and slow and (max(broken) < min(slow) or max(slow) < min(broken))
    assert "✗ Build failed after" in shown.output


def test_stop_with_a_batch_id_stops_every_build_of_the_batch(
    start_batch: Callable[..., str], boto_client: Callable[..., Any], emulator_url: str,
    aws_env: None, tmp_path: Path
) -> None:
    codebuild = boto_client("codebuild")
    batch_id = start_batch({"one": ok("one", 60), "two": ok("two", 60)},
                           [task("one"), task("two")])
    wait_running(codebuild, batch_id, 2)

    stopped = cli(emulator_url, tmp_path, "stop", batch_id)
    assert stopped.exit_code == 0, stopped.output
    assert f"Stopping batch {batch_id}" in stopped.output

    followed = cli(emulator_url, tmp_path, "logs", batch_id, "--follow", "--json")
    assert followed.exit_code == 1, followed.stderr[-3000:]
    report = json.loads(followed.stdout)
    assert report["status"] == "STOPPED"
    assert {s["status"] for s in report["services"].values()} == {"STOPPED"}
    again = cli(emulator_url, tmp_path, "stop", batch_id)
    assert again.exit_code == 0 and "had already ended: STOPPED" in again.output
    unknown = cli(emulator_url, tmp_path, "stop", f"{batch_id.split(':')[0]}:{uuid.uuid4()}")
    assert unknown.exit_code == 2 and "No build" in unknown.output


def test_builds_lists_batches_marked_as_batches_without_their_own_builds(
    start_batch: Callable[..., str], boto_client: Callable[..., Any], emulator_url: str,
    aws_env: None, tmp_path: Path
) -> None:
    app = f"b{uuid.uuid4().hex[:8]}"
    root = tmp_path / app
    root.mkdir()
    (root / "cbdeploy.toml").write_text(f'name = "{app}"\n[pipeline]\nbuild = ["true"]\n')
    project = project_name(app, "dev")
    batch_id = start_batch({"api": ok("api"), "web-app": ok("web-app")},
                           [task("api"), task("web-app")], project=project)
    codebuild = boto_client("codebuild")
    deadline = time.monotonic() + 60
    while not codebuild.batch_get_build_batches(ids=[batch_id])["buildBatches"][0]["complete"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    single = codebuild.start_build(projectName=project)["build"]["id"]

    listed = cli(emulator_url, tmp_path, "builds", "--stage", "dev", "--json",
                 "--config-path", str(root / "cbdeploy.toml"))
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [b["id"] for b in data["builds"]] == [single]  # the batch's builds are its row
    assert [b["id"] for b in data["batches"]] == [batch_id]
    assert data["batches"][0]["batch"] is True and data["batches"][0]["status"] == "SUCCEEDED"
    assert data["batches"][0]["services"] == ["api", "web_app"]

    table = cli(emulator_url, tmp_path, "builds", "--stage", "dev",
                "--config-path", str(root / "cbdeploy.toml"))
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line for line in table.output.splitlines() if line.strip()}
    assert rows["BUILD"].rstrip().endswith("KIND")
    assert rows[batch_id].rstrip().endswith("batch: api, web_app")
    assert rows[single].rstrip().endswith("build")

    # A batch named by its id alone, or by its UUID within the stage, as a build is.
    config = ("--stage", "dev", "--config-path", str(root / "cbdeploy.toml"))
    one = cli(emulator_url, tmp_path, "builds", batch_id, "--json", *config)
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["builds"] == []
    assert [b["id"] for b in json.loads(one.stdout)["batches"]] == [batch_id]
    by_uuid = cli(emulator_url, tmp_path, "logs", batch_id.split(":")[1], *config)
    assert by_uuid.exit_code == 0, by_uuid.output
    assert "web-app │ hello from web-app" in by_uuid.output.splitlines()


# ---------------------------------------------------------------------- signals
#
# follow_batch in this process, with real signals raised in it (the handlers are
# the ones a command installs): what Ctrl-C, a second Ctrl-C and SIGTERM do.


def follow_with_signals(
    aws_client: Any, batch_id: str, signals: dict[type, int], **kwargs: Any
) -> tuple[Any, list[Any]]:
    """Follow the batch; raise ``signals[type]`` the first time an event of that type
    comes (a LogLine counts inside its ServiceEvent)."""
    from cbdeploy.client.watch.batch import follow_batch
    from cbdeploy.client.watch.events import ServiceEvent

    seen: list[Any] = []
    pending = dict(signals)

    def sink(event: Any) -> None:
        seen.append(event)
        inner = type(event.event) if isinstance(event, ServiceEvent) else type(event)
        if inner in pending:
            signal.raise_signal(pending.pop(inner))

    outcome = follow_batch(aws_client, batch_id, on_event=sink, **kwargs)
    return outcome, seen


@pytest.fixture
def aws_client(emulator_url: str, aws_env: None) -> Any:
    import boto3

    from cbdeploy.client.aws.client import AwsClient

    return AwsClient(boto3.session.Session(region_name="us-east-1"), "us-east-1",
                     endpoint_url=emulator_url)


def test_ctrl_c_stops_the_whole_batch_and_follows_it_until_it_stopped(
    start_batch: Callable[..., str], aws_client: Any
) -> None:
    from cbdeploy.client.watch.events import LogLine, StopRequested, StopScheduled

    batch_id = start_batch({"one": ok("one", 60), "two": ok("two", 60)},
                           [task("one"), task("two")])

    outcome, seen = follow_with_signals(aws_client, batch_id, {LogLine: signal.SIGINT},
                                        stop_on_signal=True, at_terminal=True, window=0.5)

    assert outcome.exit_code == 130 and outcome.interrupted and not outcome.detached
    assert outcome.status == "STOPPED"
    assert {s.status for s in outcome.services} == {"STOPPED"}
    assert {s.stopped_by for s in outcome.services} == {"stop"}  # not a failure, not fast-fail
    assert StopScheduled(batch_id, 0.5, batch=True) in seen
    requested = [e for e in seen if isinstance(e, StopRequested)]
    assert requested == [StopRequested(batch_id, None, None, batch=True)]
    assert aws_client.get_build_batch(batch_id).status == "STOPPED"


def test_a_second_ctrl_c_within_the_window_leaves_the_batch_running(
    start_batch: Callable[..., str], aws_client: Any
) -> None:
    from cbdeploy.client.watch.events import Detached, LogLine, StopScheduled

    batch_id = start_batch({"one": ok("one", 60)}, [task("one")])

    outcome, seen = follow_with_signals(
        aws_client, batch_id, {LogLine: signal.SIGINT, StopScheduled: signal.SIGINT},
        stop_on_signal=True, at_terminal=True, window=30.0)

    assert outcome.exit_code == 130 and outcome.detached
    assert seen[-1] == Detached(batch_id, True, batch=True)
    assert aws_client.get_build_batch(batch_id).status == "IN_PROGRESS"  # no stop was sent
    aws_client.stop_build_batch(batch_id)


def test_sigterm_stops_the_batch_at_once_and_logs_follow_s_ctrl_c_leaves_it(
    start_batch: Callable[..., str], aws_client: Any
) -> None:
    from cbdeploy.client.watch.events import Detached, LogLine, StopRequested

    batch_id = start_batch({"one": ok("one", 60)}, [task("one")])
    left, seen = follow_with_signals(aws_client, batch_id, {LogLine: signal.SIGINT})
    assert left.exit_code == 130 and left.detached  # logs --follow: nothing is stopped
    assert seen[-1] == Detached(batch_id, True, batch=True)
    assert aws_client.get_build_batch(batch_id).status == "IN_PROGRESS"

    outcome, seen = follow_with_signals(aws_client, batch_id, {LogLine: signal.SIGTERM},
                                        stop_on_signal=True)

    assert outcome.exit_code == 143 and outcome.status == "STOPPED"
    assert [e.signal for e in seen if isinstance(e, StopRequested)] == ["SIGTERM"]
