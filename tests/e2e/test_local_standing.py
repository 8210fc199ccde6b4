"""``--local`` with a standing ``cbdeploy emulator``: detach, then re-attach; and the seed file.

The installed ``cbdeploy`` as a subprocess, as a user runs it: one terminal runs
``cbdeploy emulator`` (here on a free port, named by ``CBDEPLOY_EMULATOR_URL``;
its default is 4566), another deploys with ``--local --detach`` and follows
with ``logs --local --follow``. Without a standing emulator ``--detach`` is
refused. A project with ``[secrets]`` deploys locally with seeded values.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("cbdeploy.emulator")

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")
SEED = """\
[parameters]
"/seeded/db-url" = "postgres://seeded-user@db/app"

[secrets]
"seeded/api" = { token = "tok-from-seed" }
"""


def project(tmp_path: Path, build: str, extra: str = "") -> Path:
    name = f"s{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "cbdeploy.toml").write_text(
        f'name = "{name}"\n\n[pipeline]\nbuild = [{json.dumps(build)}]\n{extra}', encoding="utf-8"
    )
    return root


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CBDEPLOY_"))}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"),
        NO_COLOR="1", **extra,
    )
    return env


def cbdeploy(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CBDEPLOY, *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def standing(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A ``cbdeploy emulator`` of this user; (its URL, the env of a user's other terminal)."""
    env = user_env(tmp_path)
    process = subprocess.Popen([CBDEPLOY, "emulator", "--port", "0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().split("=", 1)[1]
        yield url, user_env(tmp_path, CBDEPLOY_EMULATOR_URL=url)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    records = list((tmp_path / "state" / "cbdeploy" / "emulators").glob("*.json"))
    assert records == []  # the credentials file goes with the emulator


def test_detach_then_follow_against_a_standing_emulator(
    standing: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = standing
    record = next((tmp_path / "state" / "cbdeploy" / "emulators").glob("*.json"))
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    root = project(tmp_path, "sleep 1; echo from-the-standing-emulator")
    started = cbdeploy(root, env, "deploy", "--stage", "dev", "--region", "us-east-1", "--local",
                       "--detach", "--json")
    assert started.returncode == 0, started.stderr
    report = json.loads(started.stdout)
    assert (report["local"], report["endpoint"], report["consoleUrl"]) == (True, url, None)
    assert f"Endpoint: {url} (cbdeploy emulator, --local)" in started.stderr
    build_id = report["buildId"]
    assert f"cbdeploy logs {build_id} --follow --region us-east-1 --local" in started.stderr
    followed = cbdeploy(root, env, "logs", build_id, "--region", "us-east-1", "--local", "--follow")
    assert followed.returncode == 0, followed.stderr
    assert "from-the-standing-emulator" in followed.stdout + followed.stderr
    assert f"Endpoint: {url} (cbdeploy emulator, --local)" in followed.stdout + followed.stderr
    listed = cbdeploy(root, env, "builds", "--stage", "dev", "--region", "us-east-1", "--local",
                      "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["builds"][0]["id"] == build_id


def test_detach_without_a_standing_emulator_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path, "echo never")
    # Nothing of this user's answers on the default port (its records live in this test's state dir).
    done = cbdeploy(root, user_env(tmp_path), "deploy", "--stage", "dev", "--region", "us-east-1",
                    "--local", "--detach")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cbdeploy emulator" in done.stderr and "another terminal" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Started build" not in done.stdout + done.stderr


def test_a_named_emulator_that_does_not_answer_is_an_error(tmp_path: Path) -> None:
    root = project(tmp_path, "echo never")
    env = user_env(tmp_path, CBDEPLOY_EMULATOR_URL="http://127.0.0.1:9")
    done = cbdeploy(root, env, "builds", "--stage", "dev", "--region", "us-east-1", "--local")
    assert done.returncode == 2
    assert "No cbdeploy emulator answers at http://127.0.0.1:9" in done.stderr


def test_seeded_secrets_reach_a_local_build(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(SEED, encoding="utf-8")
    root = project(
        tmp_path, 'echo "db=${DB_URL#postgres://} token-len=${#API_TOKEN}"',
        '\n[secrets]\nDB_URL = "ssm:/seeded/db-url"\nAPI_TOKEN = "secretsmanager:seeded/api:token"\n',
    )
    env = user_env(tmp_path, CBDEPLOY_EMULATOR_SEED=str(seed))
    done = cbdeploy(root, env, "deploy", "--stage", "dev", "--region", "us-east-1", "--local")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert re.search(r"token-len=13\b", out), out
    assert "seeded-user@db/app" in out or "db=***" in out


def test_a_bad_seed_file_is_a_usage_error(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text('[parameters]\n"/x" = 3\n', encoding="utf-8")
    root = project(tmp_path, "echo never")
    done = cbdeploy(root, user_env(tmp_path, CBDEPLOY_EMULATOR_SEED=str(seed)), "deploy",
                    "--stage", "dev", "--region", "us-east-1", "--local")
    assert done.returncode == 2
    assert "parameters./x" in done.stderr and "Traceback" not in done.stderr
    emulator = subprocess.run([CBDEPLOY, "emulator", "--port", "0", "--seed", str(seed)],
                              env=user_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert emulator.returncode == 2 and "parameters./x" in emulator.stderr


def test_logs_local_without_a_standing_emulator_says_why_nothing_is_found(tmp_path: Path) -> None:
    root = project(tmp_path, "echo never")
    done = cbdeploy(root, user_env(tmp_path), "logs", "cbdeploy-x-dev:0000", "--region",
                    "us-east-1", "--local")
    assert done.returncode == 2
    assert "start 'cbdeploy emulator' in another terminal" in done.stderr
