"""A deploy through a flaky endpoint, and log lines of every awkward shape.

``emulator.running(fault_rate=..., fault_seed=...)`` answers a seeded share of
the client's requests with a throttle, a 5xx or a dropped connection. The
deploy must still succeed and print every line of the build's log exactly
once, in order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import project_name

LINES = 2000


def deploy(url: str, project: Path, tmp_path: Path) -> Result:
    return CliRunner().invoke(
        main,
        ["deploy", "--stage", "dev", "--region", "us-east-1", "--yes",
         "--config-path", str(project / "cbdeploy.toml")],
        env={"AWS_ENDPOINT_URL": url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        catch_exceptions=False,
    )


def project_printing(tmp_path: Path, script: str) -> Path:
    name = f"f{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "emit.py").write_text(script)
    (root / "cbdeploy.toml").write_text(
        f'name = "{name}"\n\n[pipeline]\nbuild = ["python3 emit.py"]\n'
    )
    return root


@pytest.fixture
def flaky_url(aws_env: None, emulator_credentials: Any) -> Iterator[str]:
    import cbdeploy.emulator as emulator

    with emulator.running(fault_rate=0.1, fault_seed=20261128,
                          credentials=emulator_credentials) as url:
        yield url


def test_deploy_through_injected_faults_succeeds_with_complete_log(
    flaky_url: str, tmp_path: Path
) -> None:
    # Bursts of numbered lines with pauses, many sharing a millisecond.
    script = (
        "import sys, time\n"
        f"for i in range({LINES}):\n"
        "    print(f'numbered-line {i:05d}', flush=True)\n"
        "    if i % 500 == 499: time.sleep(0.6)\n"
    )
    project = project_printing(tmp_path, script)
    result = deploy(flaky_url, project, tmp_path)
    assert result.exit_code == 0, result.output[-3000:]
    numbered = [line for line in result.output.splitlines() if line.startswith("numbered-line ")]
    assert numbered == [f"numbered-line {i:05d}" for i in range(LINES)]
    # Answers lost after StartBuild took effect were retried with the same
    # idempotency token: one deploy, one build.
    import boto3
    from botocore.config import Config

    codebuild = boto3.client(
        "codebuild", endpoint_url=flaky_url, region_name="us-east-1",
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )
    ids = codebuild.list_builds_for_project(projectName=project_name(project.name, "dev"))["ids"]
    assert len(ids) == 1


def test_lines_over_cloudwatch_limit_and_odd_text_arrive_whole(
    emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    script = (
        "print('A' * 150_000 + 'B' * 150_000 + '<end>')\n"
        "print('[/x] [bold]kept[/bold] \\u00e9\\u4e2d :smile:')\n"
        "print('')\n"
        "print('after blank')\n"
    )
    project = project_printing(tmp_path, script)
    result = deploy(emulator_url, project, tmp_path)
    assert result.exit_code == 0, result.output[-3000:]
    out = result.output
    # CloudWatch caps an event near 256 KB: the long line may come in pieces,
    # printed as they come, but every character arrives, in order.
    joined = "".join(line for line in out.splitlines() if re.fullmatch(r"[AB]+(<end>)?", line))
    assert joined == "A" * 150_000 + "B" * 150_000 + "<end>"
    assert "[/x] [bold]kept[/bold] é中 :smile:" in out
    assert "after blank" in out
