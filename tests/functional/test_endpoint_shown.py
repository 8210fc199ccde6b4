"""A custom endpoint is never invisible: ``AWS_ENDPOINT_URL`` (here the shared emulator's,
as ``cbdeploy emulator``'s banner exports it) shows as ``Endpoint: <url>`` in the header
of every command that talks to AWS, no AWS console link is printed, and ``--json`` says
``"endpoint"``."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.aws.endpoint import AWS, from_client_url
from cbdeploy.client.cli.main import main


def run(env: dict[str, str], root: Path, *args: str) -> Result:
    argv = [*args, "--region", "us-east-1", "--config-path", str(root / "cbdeploy.toml")]
    return CliRunner().invoke(main, argv, env=env, catch_exceptions=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    name = f"e{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "cbdeploy.toml").write_text(f'name = "{name}"\n\n[pipeline]\nbuild = ["echo hi"]\n')
    return root


def test_every_command_names_the_endpoint_and_links_no_console(
    emulator_url: str, aws_env: None, root: Path
) -> None:
    env = {"AWS_ENDPOINT_URL": emulator_url}
    deployed = run(env, root, "deploy", "--stage", "dev", "--yes", "--json")
    assert deployed.exit_code == 0, deployed.output
    report = json.loads(deployed.stdout)
    assert (report["endpoint"], report["consoleUrl"], report["local"]) == (emulator_url, None, False)
    assert f"Endpoint: {emulator_url}" in deployed.stderr
    assert "console.aws.amazon.com" not in deployed.output
    build_id = report["buildId"]
    for args in (["logs", build_id], ["builds", "--stage", "dev"], ["stop", build_id],
                 ["bootstrap", "--stage", "dev", "--dry-run"]):
        done = run(env, root, *args)
        assert done.exit_code == 0, done.output
        assert re.search(rf"Endpoint:\s+{re.escape(emulator_url)}", done.output), args
        assert "console.aws.amazon.com" not in done.output, args
    listed = json.loads(run(env, root, "builds", "--stage", "dev", "--json").stdout)
    assert listed["endpoint"] == emulator_url and listed["builds"][0]["consoleUrl"] is None
    followed = json.loads(run(env, root, "logs", build_id, "--json").stdout)
    assert followed["endpoint"] == emulator_url and followed["consoleUrl"] is None


@pytest.mark.parametrize(("url", "custom"), [
    ("https://codebuild.us-east-1.amazonaws.com", False),
    ("https://codebuild.cn-north-1.amazonaws.com.cn", False),
    ("https://codebuild-fips.us-gov-west-1.amazonaws.com", False),
    ("http://127.0.0.1:4566", True),
    ("https://localstack.internal:4566/", True),
])
def test_aws_own_hosts_are_not_a_custom_endpoint(url: str, custom: bool) -> None:
    endpoint = from_client_url(url)
    assert (endpoint != AWS) is custom
    if custom:
        assert endpoint.url == url.rstrip("/")
