"""The deploy pipeline end to end: ``cbdeploy deploy`` in-process against the session's emulator.

The CLI runs in this process (click's runner) pointed at the session's
emulator with ``AWS_ENDPOINT_URL``, as a user would point it at LocalStack-like
endpoints. The emulator really runs the buildspec, so the runner, the plan and
the archive all take part. SSM parameters come from moto behind the same endpoint.
(The installed CLI as a process: tests/e2e/test_deploy_e2e.py.)
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import project_name

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


@pytest.fixture
def env(emulator_url: str, aws_env: None, tmp_path: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": emulator_url,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        "NO_COLOR": "1",
    }


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
    done = CliRunner().invoke(
        main, ["deploy", "--stage", stage, "--region", REGION, "--yes",
               "--config-path", str(project / "cbdeploy.toml"), *args],
        env=env, catch_exceptions=False,
    )
    return Run(done.exit_code, done.stdout, done.stderr)


def lines_with(output: str, text: str) -> list[str]:
    """Output lines holding ``text``, leaving out the runner's ``$ command`` echoes."""
    return [line.strip() for line in output.splitlines() if text in line and "$ " not in line]


def test_pipeline_runs_in_order_with_env_secret_links_outputs_and_the_stages_settings(
    env: dict[str, str], boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    """One deploy to stage prod with --json: the steps' output on stderr, the summary on
    stdout, and prod's [stages.prod.codebuild] compute type on the build."""
    ssm = boto_client("ssm")
    ssm.put_parameter(Name="/e2e-app/db-url", Value=SECRET, Type="SecureString", Overwrite=True)
    project = make_project(tmp_path / "app", CONFIG)
    run = deploy(project, env, "--json", stage="prod")
    assert run.code == 0, run.output
    printed = [line for line in run.stderr.splitlines() if "$ " not in line]
    steps = [
        next(i for i, line in enumerate(printed) if f"step={name}" in line)
        for name in ("install", "build", "check", "deploy", "announce")
    ]
    assert steps == sorted(steps), run.output
    assert lines_with(run.stderr, "step=install")[0].endswith(
        "step=install stage=prod region=us-east-1 project=e2e-app"
    )
    # A script's environment is its own; the build's environment is under it.
    assert lines_with(run.stderr, "step=check")[0].endswith("step=check level=debug greeting=hello")
    assert lines_with(run.stderr, "step=announce")[0].endswith("step=announce level=unset")
    # The SSM secret reached the step; its value was never printed.
    digest = hashlib.sha256(SECRET.encode()).hexdigest()[:16]
    assert lines_with(run.stderr, "secret-sha=")[0].endswith(f"secret-sha={digest}")
    assert "not-for-logs" not in run.output
    # Links and exec bits survived packaging, upload and extraction.
    assert lines_with(run.stderr, "link=")[0].endswith("link=lib/real.txt content=real content")
    assert lines_with(run.stderr, "exec-bit=")[0].endswith("exec-bit=kept")
    # Outputs come at the end, after the last hook.
    tail = run.stderr[run.stderr.rindex("step=announce") :]
    assert "Outputs" in tail and "https://e2e.example" in tail
    # Marker lines are rendered, never shown raw.
    assert "::cbdeploy::" not in run.output
    summary = json.loads(run.stdout)
    assert summary["outputs"] == {"url": "https://e2e.example", "count": 2}
    builds = boto_client("codebuild").batch_get_builds(ids=[summary["buildId"]])["builds"]
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
