"""``--log-level debug`` shows cbdeploy's decisions and one line per AWS call (operation,
duration, retries), not botocore's internals; ``--log-level trace`` adds those.

Through the emulator over loopback (CliRunner): the shared endpoint, and one of
the test's own with seeded fault injection (throttles, 5xx, dropped
connections) so that botocore retries some calls.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import project_name

CALL = re.compile(r"^cbdeploy\.aws: (\w+) (\w+) (\d+) ms(, (\d+) retr(?:y|ies))?( -> \w+)?$")


@pytest.fixture
def app(tmp_path: Path, codebuild_project: Callable[..., str]) -> tuple[Path, str]:
    """(config path, project): an app whose stage dev has a CodeBuild project."""
    name = f"d{uuid.uuid4().hex[:10]}"
    config = tmp_path / name / "cbdeploy.toml"
    config.parent.mkdir()
    config.write_text(f'name = "{name}"\n')
    return config, codebuild_project(name=project_name(name, "dev"))


def run(url: str, tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--region", "us-east-1"],
                              env={"AWS_ENDPOINT_URL": url,
                                   "XDG_CONFIG_HOME": str(tmp_path / "xdg")})


def test_debug_shows_decisions_and_one_line_per_call_without_botocore(
    emulator_url: str, aws_env: None, tmp_path: Path, app: tuple[Path, str],
    boto_client: Callable[..., Any], build_waiter: Callable[..., Any],
) -> None:
    config, project = app
    codebuild = boto_client("codebuild")
    build_waiter(codebuild, codebuild.start_build(projectName=project)["build"]["id"])
    result = run(emulator_url, tmp_path, "logs", "--stage", "dev", "--config-path", str(config),
                 "--log-level", "debug")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    calls = [m.group(1, 2) for m in map(CALL.match, lines) if m]
    assert ("codebuild", "ListBuildsForProject") in calls
    assert ("codebuild", "BatchGetBuilds") in calls and ("logs", "GetLogEvents") in calls
    assert any(line.startswith("cbdeploy.options: stage dev (from option), region us-east-1 "
                               "(from option)") and str(config) in line for line in lines)
    assert any(line.startswith("cbdeploy.client.deploy.build_ref: build: " + project)
               and "the latest of stage dev" in line for line in lines)
    assert not [line for line in lines if line.startswith(("botocore", "urllib3", "s3transfer"))]

    traced = run(emulator_url, tmp_path, "logs", "--stage", "dev", "--config-path", str(config),
                 "--log-level", "trace")
    assert traced.exit_code == 0, traced.output
    assert any(line.startswith("botocore.") for line in traced.stderr.splitlines())
    assert any(CALL.match(line) for line in traced.stderr.splitlines())

    quiet = run(emulator_url, tmp_path, "logs", "--stage", "dev", "--config-path", str(config))
    assert "cbdeploy.aws" not in quiet.stderr and "botocore" not in quiet.stderr


@pytest.fixture
def flaky_url(aws_env: None, emulator_credentials: Any) -> Iterator[str]:
    import cbdeploy.emulator as emulator

    with emulator.running(fault_rate=0.5, fault_seed=17,
                          credentials=emulator_credentials) as url:
        yield url


def test_a_retried_call_says_how_many_retries_and_a_refused_one_its_code(
    flaky_url: str, tmp_path: Path
) -> None:
    """Half the requests fail (seeded): within a few runs some call is retried."""
    config = tmp_path / "cbdeploy.toml"
    config.write_text('name = "flaky"\n')
    calls: list[re.Match[str]] = []
    for _ in range(10):
        result = run(flaky_url, tmp_path, "builds", "--stage", "dev", "--config-path",
                     str(config), "--log-level", "debug")
        calls += [m for m in map(CALL.match, result.stderr.splitlines()) if m]
        if any(m.group(5) for m in calls):
            break
    assert any(m.group(5) for m in calls), [m.group(0) for m in calls]
    # The project does not exist on this fresh endpoint: the call's line names the code.
    assert any(m.group(2) == "ListBuildsForProject" and m.group(6) == " -> ResourceNotFoundException"
               for m in calls), [m.group(0) for m in calls]
