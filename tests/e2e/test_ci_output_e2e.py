"""What a CI job gets from the installed ``cbdeploy``: ``--json`` and GitHub Actions output.

Each test runs ``cbdeploy deploy --local`` as a subprocess in a project made
in tmp_path: the CLI starts the emulator in its own process, which really runs
the pipeline, so phases, steps and outputs come from a real (emulated) build.
GitHub Actions is simulated the way the runner tells a step it runs there:
``GITHUB_ACTIONS=true`` and ``GITHUB_STEP_SUMMARY`` naming a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cbdeploy.client.infra.names import project_name
from tests.conftest import EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY
from tests.github_runner import workflow_commands

pytest.importorskip("cbdeploy.emulator")

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")

# Remote lines that would be workflow commands if the runner read them.
FORGED = ["::error::forged by the build", "::add-mask::visible", "see ##[set-output name=x;]y"]

SUCCEEDING = """\
name = "ci-ok"

[pipeline]
build = ["echo building", "echo '::warning::from the build'"]
deploy = ["echo '{\\"siteUrl\\": \\"http://site.test/\\", \\"n\\": 2}' > outputs.json"]

[outputs]
file = "outputs.json"
"""

FORGED_STEPS = ", ".join(json.dumps(f"echo '{line}'") for line in FORGED)
FAILING = f"""\
name = "ci-fail"

[pipeline]
install = ["echo installed"]
build = [{FORGED_STEPS}, "exit 3"]
deploy = ["echo never deployed"]
"""


def project(tmp_path: Path, config: str) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "cbdeploy.toml").write_text(config, encoding="utf-8")
    (root / "index.html").write_text("<h1>hello</h1>\n", encoding="utf-8")
    return root


def run(
    root: Path, tmp_path: Path, *args: str, command: str = "deploy", local: bool = True,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``cbdeploy deploy --local`` (or ``command``) in ``root`` with a clean environment."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AWS_", "GITHUB_")) and k not in ("FORCE_COLOR", "TTY_COMPATIBLE")
    }
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )
    env.update(env_extra or {})
    argv = [CBDEPLOY, command, *args, "--region", "us-east-1"]
    if command == "deploy":
        argv += ["--stage", "dev", "--yes"]
    if local:
        argv.append("--local")
    return subprocess.run(
        argv,
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def github(summary: Path) -> dict[str, str]:
    """What the runner sets for a step: we are in Actions, and where the summary goes."""
    return {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}


def test_json_of_a_succeeding_deploy_in_github_actions_is_the_whole_of_stdout(
    tmp_path: Path,
) -> None:
    """--json in GitHub Actions: stdout is the object alone; groups, the build's lines and
    people's lines go to stderr; the step summary gets the outputs."""
    root = project(tmp_path, SUCCEEDING)
    summary = tmp_path / "step-summary.md"
    done = run(root, tmp_path, "--json", "--preserve-temp-files", env_extra=github(summary))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # one object, nothing else on stdout
    assert (report["status"], report["exitCode"], report["error"]) == ("SUCCEEDED", 0, None)
    assert report["outputs"] == {"siteUrl": "http://site.test/", "n": 2}
    assert [(s["name"], s["status"], s["exitCode"]) for s in report["steps"]] == [
        ("build", "ok", 0), ("deploy", "ok", 0),
    ]
    assert all(isinstance(s["durationSeconds"], float) for s in report["steps"])
    phases = {p["name"]: p for p in report["phases"]}
    assert [p["name"] for p in report["phases"]][:4] == [
        "SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE",
    ]
    assert phases["BUILD"]["status"] == "SUCCEEDED"
    assert 0 < phases["BUILD"]["durationSeconds"] < 60  # from its start and end: not 0
    # The archive described is the one uploaded: the kept copy has that size and hash.
    (kept,) = [p for p in (root / ".cbdeploy").iterdir() if p.is_dir() and p.name != "cache"]
    archive = (kept / "archive.zip").read_bytes()
    assert report["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert report["archive"]["sizeBytes"] == len(archive)
    assert report["archive"]["fileCount"] == 2  # cbdeploy.toml and index.html
    assert report["upload"]["skipped"] is False
    assert report["upload"]["key"] == f"sources/ci-ok/dev/{report['archive']['sha256']}.zip"
    assert (report["stage"], report["region"], report["project"]) == (
        "dev", "us-east-1", project_name("ci-ok", "dev"))
    assert report["consoleUrl"] is None and report["local"] is True  # no console for --local
    assert report["buildId"].startswith(project_name("ci-ok", "dev") + ":")
    timings = report["timings"]
    assert timings["totalSeconds"] >= timings["packagingSeconds"] + timings["uploadSeconds"]
    # People still read the deploy: on stderr, with the phases' groups.
    assert "building" in done.stderr.splitlines()
    assert "✓ Deploy succeeded" in done.stderr
    commands = workflow_commands(done.stderr)
    assert "::group::BUILD" in commands
    assert not [c for c in commands if c.startswith(("::error", "::warning"))]
    assert "::warning::from the build" in done.stderr.splitlines()  # printed, not a command
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### ✅ cbdeploy deploy succeeded (")
    assert "| n | 2 |\n| siteUrl | http://site.test/ |\n" in text


def test_json_of_a_deploy_that_cannot_start_is_still_one_object(tmp_path: Path) -> None:
    root = project(tmp_path, 'name = "ci-bad"\n\n[pipline]\nbuild = ["true"]\n')
    done = run(root, tmp_path, "--json")
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert report["exitCode"] == 2 and report["buildId"] is None
    assert "pipline" in report["error"]
    assert report["archive"] is None and report["upload"] is None
    assert f"Error: {report['error']}" in done.stderr


def test_github_actions_gets_groups_one_error_annotation_and_a_step_summary(
    tmp_path: Path,
) -> None:
    root = project(tmp_path, FAILING)
    summary = tmp_path / "step-summary.md"
    summary.write_text("## earlier step\n", encoding="utf-8")
    done = run(root, tmp_path, env_extra=github(summary))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    for line in FORGED:  # printed as the build wrote them ...
        assert line.replace("'", "") in out.splitlines()
    commands = workflow_commands(out)  # ... and not one of them is a command
    groups = [c for c in commands if c.startswith("::group::")]
    # The phases with something to show; the quiet ones get no empty group.
    assert groups == ["::group::INSTALL", "::group::BUILD"]
    assert commands.count("::endgroup::") == len(groups)
    lines = out.splitlines()
    build_group = lines[lines.index("::group::BUILD"):]
    build_group = build_group[:build_group.index("::endgroup::")]
    assert any(line.startswith("▸ build") for line in build_group), build_group
    assert any(line.startswith("✗ BUILD") for line in lines[lines.index("::group::BUILD"):])
    errors = [c for c in commands if c.startswith("::error")]
    assert len(errors) == 1
    assert errors[0].startswith(
        "::error title=Deploy failed in phase BUILD%2C step build::Step build failed (exit 3).")
    assert set(commands) == {*groups, "::endgroup::", *errors}
    # The pipeline runs in CodeBuild's BUILD phase: its steps' output is in that group,
    # the runner's start (INSTALL phase) is not.
    build_group = out[out.index("::group::BUILD"):]
    build_group = build_group[:build_group.index("::endgroup::")]
    assert all(line in build_group for line in ("installed", *FORGED))
    assert "running the pipeline" not in build_group and "running the pipeline" in out
    assert out.rstrip().endswith("::") and workflow_commands(out + "::notice::after\n")[-1] == (
        "::notice::after")  # the runner reads commands again after cbdeploy
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## earlier step\n### ❌ cbdeploy deploy failed (")
    assert "(local emulator) · stage dev · region us-east-1\n" in text
    assert "\nFailed in phase BUILD, step build (exit 3)\n" in text
    assert "| BUILD | ❌ FAILED |" in text
    assert "| INSTALL | ✅ SUCCEEDED |" in text
    assert re.search(r"\n\| install \| ✅ ok \| \d+\.\ds \| 0 \|\n\| build \| ❌ failed \| \d+\.\ds \| 3 \|\n",
                     text), text


def test_json_of_a_failing_deploy_and_of_logs_names_the_failed_step_and_phase(
    tmp_path: Path, emulator_url: str
) -> None:
    """Against the shared emulator endpoint (not --local: the build must outlive the deploy
    for ``logs`` to read it); ``logs --json`` is the build part of deploy's object."""
    root = project(tmp_path, FAILING.replace('"ci-fail"', '"ci-logs"'))
    endpoint = {"AWS_ENDPOINT_URL": emulator_url, "AWS_ACCESS_KEY_ID": EMULATOR_ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": EMULATOR_SECRET_ACCESS_KEY}
    deployed = run(root, tmp_path, "--json", local=False, env_extra=endpoint)
    assert deployed.returncode == 1, deployed.stderr
    report = json.loads(deployed.stdout)
    assert (report["status"], report["exitCode"]) == ("FAILED", 1)
    assert (report["failedStep"], report["failedStepExitCode"]) == ("build", 3)
    assert (report["failedPhase"], report["failedPhaseStatus"]) == ("BUILD", "FAILED")
    assert [(s["name"], s["status"], s["exitCode"]) for s in report["steps"]] == [
        ("install", "ok", 0), ("build", "failed", 3),
    ]
    assert {p["name"]: p["status"] for p in report["phases"]}["BUILD"] == "FAILED"
    assert report["error"] is None  # the deploy worked; the build failed
    assert "never deployed" not in deployed.stderr
    build_id = report["buildId"]
    for args in (["--follow"], []):
        done = run(root, tmp_path, build_id, "--json", *args, command="logs", local=False,
                   env_extra=endpoint)
        assert done.returncode == (1 if args else 0), done.stderr
        report = json.loads(done.stdout)
        assert (report["buildId"], report["status"], report["failedStep"]) == (
            build_id, "FAILED", "build")
        assert report["exitCode"] == done.returncode  # the process's status, always
        assert [s["name"] for s in report["steps"]] == ["install", "build"]
        assert not {"archive", "upload", "stage"} & set(report)
        # The build is not on AWS (AWS_ENDPOINT_URL): no console link, the endpoint instead.
        assert (report["consoleUrl"], report["endpoint"]) == (None, emulator_url)
        assert FORGED[0] in done.stderr.splitlines()
