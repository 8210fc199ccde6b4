"""The deploy pipeline end to end: the installed `cbdeploy deploy` against the emulator.

The emulator endpoint runs in this test process (``emulator.running()``); the
CLI runs as a subprocess pointed at it with ``AWS_ENDPOINT_URL`` and dummy
credentials, as a user would point it at LocalStack-like endpoints. The
emulator really runs the buildspec, so the runner, the plan and the archive
all take part. SSM parameters come from moto behind the same endpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from cbdeploy.client.infra.names import project_name
from tests.conftest import EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY

emulator = pytest.importorskip("cbdeploy.emulator")
CREDENTIALS = emulator.Credentials(EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY)

CBDEPLOY = Path(sys.executable).parent / "cbdeploy"
REGION = "us-east-1"
SECRET = "postgres://e2e:not-for-logs@db.internal/app"

CONFIG = """\
name = "e2e-app"

[pipeline]
install = ['echo "step=install stage=$STAGE region=$REGION project=$CBDEPLOY_PROJECT"']
build = [
  "echo step=build",
  'test -L current.txt && echo "link=$(readlink current.txt) content=$(cat current.txt)"',
  "test -x bin/run.sh && bin/run.sh",
]
deploy = [
  "echo step=deploy",
  'echo "secret-sha=$(printf %s "$DB_URL" | sha256sum | cut -c1-16)"',
  '''echo '{"url": "https://e2e.example", "count": 2}' > outputs.json''',
]

[hooks]
beforeDeploy = ["check"]
afterDeploy = ["announce"]

[scripts.check]
executeCommand = 'echo "step=check level=$LOG_LEVEL greeting=$GREETING"'
environment = { LOG_LEVEL = "debug" }

[scripts.announce]
executeCommands = ['echo "step=announce level=${LOG_LEVEL:-unset}"']

[environment]
GREETING = "hello"

[secrets]
DB_URL = "ssm:/e2e-app/db-url"

[outputs]
file = "outputs.json"

[stages.prod.codebuild]
computeType = "BUILD_GENERAL1_LARGE"
"""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with emulator.running(credentials=CREDENTIALS) as url:
        yield url


@pytest.fixture
def env(endpoint: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": EMULATOR_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": EMULATOR_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "HOME": str(tmp_path / "home"),
            "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
            "NO_COLOR": "1",
        }
    )
    return clean


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=EMULATOR_ACCESS_KEY_ID,
        aws_secret_access_key=EMULATOR_SECRET_ACCESS_KEY,
    )


def make_project(root: Path, config: str) -> Path:
    root.mkdir(parents=True)
    (root / "cbdeploy.toml").write_text(textwrap.dedent(config), encoding="utf-8")
    (root / "lib").mkdir()
    (root / "lib" / "real.txt").write_text("real content\n", encoding="utf-8")
    (root / "current.txt").symlink_to("lib/real.txt")
    (root / "bin").mkdir()
    (root / "bin" / "run.sh").write_text("#!/bin/sh\necho exec-bit=kept\n", encoding="utf-8")
    (root / "bin" / "run.sh").chmod(0o755)
    return root


def deploy(project: Path, env: dict[str, str], *args: str, stage: str = "dev") -> Run:
    done = subprocess.run(
        [str(CBDEPLOY), "deploy", "--stage", stage, "--region", REGION, "--yes", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def lines_with(output: str, text: str) -> list[str]:
    """Output lines holding ``text``, leaving out the runner's ``$ command`` echoes."""
    return [line.strip() for line in output.splitlines() if text in line and "$ " not in line]


def test_pipeline_runs_in_order_with_env_secret_links_and_outputs(
    endpoint: str, env: dict[str, str], tmp_path: Path
) -> None:
    ssm = aws(endpoint, "ssm")
    ssm.put_parameter(Name="/e2e-app/db-url", Value=SECRET, Type="SecureString", Overwrite=True)
    project = make_project(tmp_path / "app", CONFIG)
    run = deploy(project, env)
    assert run.code == 0, run.output
    printed = [line for line in run.output.splitlines() if "$ " not in line]
    steps = [
        next(i for i, line in enumerate(printed) if f"step={name}" in line)
        for name in ("install", "build", "check", "deploy", "announce")
    ]
    assert steps == sorted(steps), run.output
    assert lines_with(run.output, "step=install")[0].endswith(
        "step=install stage=dev region=us-east-1 project=e2e-app"
    )
    # A script's environment is its own; the build's environment is under it.
    assert lines_with(run.output, "step=check")[0].endswith("step=check level=debug greeting=hello")
    assert lines_with(run.output, "step=announce")[0].endswith("step=announce level=unset")
    # The SSM secret reached the step; its value was never printed.
    digest = hashlib.sha256(SECRET.encode()).hexdigest()[:16]
    assert lines_with(run.output, "secret-sha=")[0].endswith(f"secret-sha={digest}")
    assert "not-for-logs" not in run.output
    # Links and exec bits survived packaging, upload and extraction.
    assert lines_with(run.output, "link=")[0].endswith("link=lib/real.txt content=real content")
    assert lines_with(run.output, "exec-bit=")[0].endswith("exec-bit=kept")
    # Outputs come at the end, after the last hook.
    tail = run.output[run.output.rindex("step=announce") :]
    assert "Outputs" in tail and "https://e2e.example" in tail
    # Marker lines are rendered, never shown raw.
    assert "::cbdeploy::" not in run.output


def test_json_summary_has_outputs_and_stage_override_sets_compute_type(
    endpoint: str, env: dict[str, str], tmp_path: Path
) -> None:
    ssm = aws(endpoint, "ssm")
    ssm.put_parameter(Name="/e2e-app/db-url", Value=SECRET, Type="SecureString", Overwrite=True)
    project = make_project(tmp_path / "app", CONFIG)
    run = deploy(project, env, "--json", stage="prod")
    assert run.code == 0, run.output
    summary = json.loads(run.stdout)
    assert summary["outputs"] == {"url": "https://e2e.example", "count": 2}
    codebuild = aws(endpoint, "codebuild")
    builds = codebuild.batch_get_builds(ids=[summary["buildId"]])["builds"]
    assert builds[0]["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"
    assert builds[0]["projectName"] == project_name("e2e-app", "prod")


def test_failing_before_deploy_stops_the_deploy_and_exits_1(
    env: dict[str, str], tmp_path: Path
) -> None:
    failing = CONFIG.replace(
        """executeCommand = 'echo "step=check level=$LOG_LEVEL greeting=$GREETING"'""",
        """executeCommand = 'echo step=check; exit 3'""",
    ).replace('[secrets]\nDB_URL = "ssm:/e2e-app/db-url"\n', "")
    project = make_project(tmp_path / "app", failing)
    run = deploy(project, env)
    assert run.code == 1, run.output
    assert "step=check" in run.output
    assert "step=deploy" not in run.output and "step=announce" not in run.output
    # The closing summary names the failed step and its exit status.
    summary = "\n".join(run.output.strip().splitlines()[-4:])
    assert "beforeDeploy:check" in summary and "3" in summary, run.output
    assert "Outputs" not in run.output


def test_unknown_config_key_exits_2_naming_it(env: dict[str, str], tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "app",
        '[pipeline]\ndeploy = ["true"]\n\n[codebuild]\ncomputeTyp = "BUILD_GENERAL1_LARGE"\n',
    )
    run = deploy(project, env)
    assert run.code == 2, run.output
    assert "cbdeploy.toml:5: codebuild.computeTyp: unknown key" in run.stderr
    assert "Traceback" not in run.output


def test_own_buildspec_runs_as_written_without_the_runner(
    env: dict[str, str], tmp_path: Path
) -> None:
    project = make_project(
        tmp_path / "app",
        '[pipeline]\ndeploy = ["echo step=pipeline"]\n'
        '[codebuild]\nbuildspec = "ci/buildspec.yml"\n',
    )
    (project / "ci").mkdir()
    (project / "ci" / "buildspec.yml").write_text(
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        '      - echo "own-buildspec stage=$STAGE"\n',
        encoding="utf-8",
    )
    run = deploy(project, env)
    assert run.code == 0, run.output
    assert lines_with(run.output, "own-buildspec")[-1].endswith("own-buildspec stage=dev")
    assert "step=pipeline" not in run.output
    assert "running the pipeline" not in run.output


def test_steps_keep_the_projects_pythonpath_and_import_its_own_runner(
    env: dict[str, str], tmp_path: Path
) -> None:
    """cbdeploy's runner leaks nothing into the steps: not PYTHONPATH, not its package name."""
    project = make_project(
        tmp_path / "app",
        """\
        [pipeline]
        build = [
          'echo "pythonpath=$PYTHONPATH"',
          'python3 -c "import runner; print(runner.WHO)"',
        ]

        [environment]
        PYTHONPATH = "pylib"
        """,
    )
    (project / "pylib").mkdir()
    (project / "pylib" / "runner.py").write_text('WHO = "runner=the-projects-own"\n')
    run = deploy(project, env)
    assert run.code == 0, run.output
    assert lines_with(run.output, "pythonpath=")[-1].endswith("pythonpath=pylib")
    assert lines_with(run.output, "runner=")[-1].endswith("runner=the-projects-own")
