"""``cbdeploy deploy``, ``logs``, ``stop`` and ``builds`` in-process (CliRunner) against
the emulator over loopback (``AWS_ENDPOINT_URL``), on example projects in tmp_path.

The emulator really runs each build's buildspec, so the remote output checked
here was printed by the project's pipeline. Each test uses its own app name:
the emulator is shared by the whole session.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import project_name


def make_project(tmp_path: Path, *, build: str = "", deploy: str = "", extra: str = "") -> Path:
    """A project with a unique name whose pipeline runs ``build`` and ``deploy`` shell lines."""
    name = f"t{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "hello.txt").write_text("hello from the archive\n")
    toml = f'name = "{name}"\n\n[pipeline]\n'
    if build:
        toml += f"build = [{json.dumps(build)}]\n"
    if deploy:
        toml += f"deploy = [{json.dumps(deploy)}]\n"
    (root / "cbdeploy.toml").write_text(toml + extra)
    return root


@pytest.fixture
def cli(emulator_url: str, aws_env: None, tmp_path: Path) -> Callable[..., Result]:
    """``cli(project, "deploy", "--yes")``: run cbdeploy for ``project`` against the emulator."""
    env = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    def run(project: Path | None, *args: str) -> Result:
        argv = list(args) + ["--region", "us-east-1"]
        if project is not None:
            argv += ["--config-path", str(project / "cbdeploy.toml")]
            if args[0] in ("deploy", "builds"):
                argv += ["--stage", "dev"]
        return CliRunner().invoke(main, argv, env=env, catch_exceptions=False)

    return run


def build_id_in(output: str) -> str:
    match = re.search(r"Started build (\S+)", output)
    assert match, output
    return match.group(1)


def test_successful_deploy_shows_remote_output_and_outputs(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    project = make_project(
        tmp_path,
        build="cat hello.txt && echo 'literal [/x] and [bold]markup[/bold]'",
        deploy="echo '{\"url\": \"https://example.test\"}' > outputs.json",
        extra='\n[outputs]\nfile = "outputs.json"\n',
    )
    (project / ".env").write_text("TOKEN=abc\n")  # shipped, but named before the upload
    result = cli(project, "deploy", "--yes")
    assert result.exit_code == 0, result.output
    out = result.output
    warning = out.index("1 file looks like a secret and will be uploaded: .env")
    assert warning < out.index("✓ Uploaded") < out.index("Started build")
    assert "hello from the archive" in out
    assert "literal [/x] and [bold]markup[/bold]" in out
    assert "✓ build" in out and "✓ deploy" in out
    assert "✓ Deploy succeeded" in out
    assert "url: https://example.test" in out
    assert "::cbdeploy::" not in out


def test_failing_pipeline_exits_1_naming_the_failing_step_and_phase(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    project = make_project(tmp_path, build="echo about to fail && exit 3", deploy="echo never")
    result = cli(project, "deploy", "--yes", "--no-cache")  # (the override is accepted too)
    assert result.exit_code == 1, result.output
    assert "about to fail" in result.output
    assert "never" not in result.output.replace("never been", "")
    assert "✗ build failed (exit 3)" in result.output
    assert "Phase BUILD: FAILED" in result.output
    assert "Step build failed (exit 3)" in result.output


def test_unchanged_archive_is_not_uploaded_twice(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    project = make_project(tmp_path, build="echo ok")
    first = cli(project, "deploy", "--yes")
    assert first.exit_code == 0, first.output
    assert "Uploaded" in first.output
    second = cli(project, "deploy", "--yes")
    assert second.exit_code == 0, second.output
    assert "Archive already uploaded, skipping" in second.output
    assert "Infrastructure up to date" in second.output


def test_json_summary_on_stdout(
    emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    project = make_project(tmp_path, build="echo building && exit 4")
    result = CliRunner().invoke(
        main,
        ["deploy", "--stage", "dev", "--region", "us-east-1", "--yes", "--json",
         "--config-path", str(project / "cbdeploy.toml")],
        env={"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )
    assert result.exit_code == 1
    summary: dict[str, Any] = json.loads(result.stdout)
    assert summary["status"] == "FAILED"
    assert summary["exitCode"] == 1
    assert summary["failedStep"] == "build" and summary["failedStepExitCode"] == 4
    assert summary["buildId"].startswith(f"{project_name(project.name, 'dev')}:")
    assert "building" in result.stderr


def test_second_deploy_while_one_runs_is_refused_naming_it(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    project = make_project(tmp_path, build="sleep 30")
    first = cli(project, "deploy", "--yes", "--detach")
    assert first.exit_code == 0, first.output
    running = build_id_in(first.output)
    assert f"cbdeploy logs {running} --follow" in first.output
    assert "Ctrl-C" not in first.output  # --detach does not stay to be interrupted
    try:
        second = cli(project, "deploy", "--yes")
        assert second.exit_code == 2, second.output
        assert f"already running: {running}" in second.output
        assert f"'cbdeploy stop {running} --region us-east-1'" in second.output
        assert "Traceback" not in second.output
        listed = cli(project, "builds")
        assert listed.exit_code == 0
        assert running in listed.output and "IN_PROGRESS" in listed.output
    finally:
        stopped = cli(None, "stop", running)
    assert stopped.exit_code == 0, stopped.output
    assert f"Stopping build {running}" in stopped.output
    follow = cli(None, "logs", running, "--follow")
    assert follow.exit_code == 1  # the build ended STOPPED
    assert "stopped" in follow.output.lower()


def test_logs_prints_a_finished_build_from_the_start(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    project = make_project(tmp_path, build="for i in 1 2 3; do echo line-$i; done")
    deployed = cli(project, "deploy", "--yes")
    assert deployed.exit_code == 0, deployed.output
    build_id = build_id_in(deployed.output)
    result = cli(None, "logs", build_id)
    assert result.exit_code == 0, result.output
    assert re.search(r"line-1\n.*line-2\n.*line-3", result.output, re.S)
    assert "Build succeeded" in result.output


def test_logs_of_an_unknown_build_is_one_clear_error(cli: Callable[..., Result]) -> None:
    result = cli(None, "logs", "cbdeploy-nope-dev:00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 2
    assert "Error:" in result.output and "Traceback" not in result.output


def test_confirm_without_terminal_refuses_and_starts_nothing(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    project = make_project(tmp_path, build="echo hi", extra="\n[stages.dev]\nconfirm = true\n")
    result = cli(project, "deploy")
    assert result.exit_code == 2, result.output
    assert "--yes" in result.output
    assert "Started build" not in result.output


def test_builds_lists_the_git_commit_each_build_deployed(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    import subprocess

    project = make_project(tmp_path, build="echo from git")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=project, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                            capture_output=True, text=True).stdout.strip()
    deployed = cli(project, "deploy", "--yes")
    assert deployed.exit_code == 0, deployed.output
    listed = cli(project, "builds")
    assert listed.exit_code == 0, listed.output
    endpoint, header, row = listed.output.splitlines()[:3]
    assert endpoint.startswith("Endpoint: http://127.0.0.1:")  # AWS_ENDPOINT_URL is set
    assert header.split() == ["BUILD", "STATUS", "STARTED", "DURATION", "COMMIT", "INITIATOR"]
    assert row.startswith(build_id_in(deployed.output))
    assert "SUCCEEDED" in row and commit[:10] in row

    as_json = cli(project, "builds", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert (data["stage"], data["region"], data["project"]) == (
        "dev", "us-east-1", project_name(project.name, "dev")
    )
    [only] = data["builds"]
    assert only["id"] == build_id_in(deployed.output)
    assert (only["status"], only["commit"], only["dirty"]) == ("SUCCEEDED", commit, False)
    assert only["durationSeconds"] >= 0 and only["startTime"] < only["endTime"]
    # Not on AWS (AWS_ENDPOINT_URL names the emulator): no console page to link.
    assert only["consoleUrl"] is None and data["endpoint"].startswith("http://127.0.0.1:")


def test_builds_of_a_stage_never_deployed(cli: Callable[..., Result], tmp_path: Path) -> None:
    project = make_project(tmp_path, build="echo hi")
    result = cli(project, "builds")
    assert result.exit_code == 0, result.output
    assert "No builds of stage dev yet" in result.output
    as_json = cli(project, "builds", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["builds"] == []


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--stage", "Prod_1", "--region", "us-east-1"], {}, "Invalid stage name"),
        (["--stage", "dev"], {"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, "No region given"),
        (["--stage", "dev", "--region", "us-east-1", "--aws-profile", "nope"], {},
         "The AWS profile 'nope' does not exist"),
        (["--stage", "dev", "--region", "us-east-1"], {"AWS_PROFILE": "gone"},
         "The AWS profile 'gone' does not exist"),
        (["--stage", "dev", "--region", "us-east-1"],
         {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "No usable AWS credentials"),
    ],
)
def test_deploy_that_cannot_start_exits_2_with_one_message_and_creates_nothing(
    emulator_url: str, aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    boto_client: Callable[..., Any], args: list[str], env: dict[str, str], message: str,
) -> None:
    codebuild = boto_client("codebuild")  # made while the test's credentials still work
    for name, value in env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    project = make_project(tmp_path, build="echo hi")
    result = CliRunner().invoke(
        main,
        ["deploy", "--yes", "--config-path", str(project / "cbdeploy.toml"), *args],
        env={"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("Error: ") == 1 and message in result.output
    assert "Traceback" not in result.output
    # Checked before any work: nothing packaged, nothing written, nothing created.
    assert "Packaged" not in result.output
    assert not (project / ".cbdeploy").exists()
    assert codebuild.batch_get_projects(names=[project_name(project.name, "dev")])["projects"] == []


def test_package_stats_prints_the_hash_of_the_archive_a_deploy_uploads(
    cli: Callable[..., Result], tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    """``package --stats``'s SHA-256 is the uploaded object's: same plan, runner and file list.

    The emulator (moto's S3 behind it) stores what the deploy uploaded; its key
    names the archive's hash and its bytes are hashed again here.
    """
    import hashlib

    project = make_project(tmp_path, deploy="true")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("print('hi')\n")
    deployed = cli(project, "deploy", "--yes")
    assert deployed.exit_code == 0, deployed.output
    s3 = boto_client("s3", region="us-east-1")
    account = boto_client("sts").get_caller_identity()["Account"]
    bucket = f"cbdeploy-{account}-us-east-1"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"sources/{project.name}/dev/")
    [key] = [o["Key"] for o in listed["Contents"] if re.search(r"/[0-9a-f]{64}\.zip$", o["Key"])]
    uploaded = hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
    assert key.endswith(f"/{uploaded}.zip")

    stats = cli(project, "package", "--stats")
    assert stats.exit_code == 0, stats.output
    shown = re.search(r"SHA-256\s+([0-9a-f]{64})\s+the archive a deploy of stage dev to "
                      r"us-east-1 uploads",
                      stats.output)
    assert shown is not None, stats.output
    assert shown.group(1) == uploaded
