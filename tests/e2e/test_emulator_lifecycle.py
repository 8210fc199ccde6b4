"""Builds never outlive the emulator: every way it ends takes its builds and work dirs along.

``cbdeploy emulator`` runs as a subprocess; a build leaves a background process
behind in one command and loops forever in the next (two process groups).
Then the emulator is ended with SIGHUP (a closed terminal), SIGTERM, SIGINT,
SIGKILL (no cleanup runs: the watchdog does it), and an in-process endpoint
is left at interpreter exit. Each time, every process of the build must be
gone and its work directory removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY

pytest.importorskip("cbdeploy.emulator")

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")
BUILDSPEC = textwrap.dedent("""\
    version: 0.2
    phases:
      build:
        commands:
          - sleep 1000 & echo $! > "$MARK/bg.pid"
          - echo $$ > "$MARK/sh.pid"; pwd > "$MARK/dir"; touch "$MARK/ready"; while true; do sleep 0.2; done
""")
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"codebuild.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet does not count)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def start_long_build(url: str, mark: Path, key: str = EMULATOR_ACCESS_KEY_ID,
                     secret: str = EMULATOR_SECRET_ACCESS_KEY) -> None:
    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret)

    name = f"life-{uuid.uuid4().hex[:8]}"
    role = client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    codebuild = client("codebuild")
    codebuild.create_project(
        name=name, source={"type": "NO_SOURCE", "buildspec": BUILDSPEC},
        artifacts={"type": "NO_ARTIFACTS"}, serviceRole=role,
        environment={"type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL",
                     "environmentVariables": [{"name": "MARK", "value": str(mark)}]},
    )
    codebuild.start_build(projectName=name)


def wait_ready(mark: Path) -> tuple[list[int], Path]:
    deadline = time.monotonic() + 30
    while not (mark / "ready").exists():
        assert time.monotonic() < deadline, "the build never started its loop"
        time.sleep(0.05)
    pids = [int((mark / name).read_text()) for name in ("bg.pid", "sh.pid")]
    workdir = Path((mark / "dir").read_text().strip()).parent  # <workdir>/src
    assert all(alive(pid) for pid in pids) and workdir.is_dir()
    return pids, workdir


def assert_cleaned_up(pids: list[int], workdir: Path) -> None:
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in pids) or workdir.exists():
        if time.monotonic() > deadline:
            running = [pid for pid in pids if alive(pid)]
            pytest.fail(f"left behind: processes {running}, work dir exists: {workdir.exists()}")
        time.sleep(0.1)


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [CBDEPLOY, "emulator", "--port", "0", "--access-key-id", EMULATOR_ACCESS_KEY_ID,
         "--secret-access-key", EMULATOR_SECRET_ACCESS_KEY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # signals from this test only, not from the terminal
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().split("=", 1)[1]
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=lambda s: signal.Signals(s).name)
def test_ending_the_emulator_ends_its_builds(
    emulator_process: tuple[subprocess.Popen[str], str], tmp_path: Path, sig: int
) -> None:
    process, url = emulator_process
    mark = tmp_path / "mark"
    mark.mkdir()
    start_long_build(url, mark)
    pids, workdir = wait_ready(mark)
    process.send_signal(sig)
    process.wait(timeout=30)
    if sig != signal.SIGKILL:
        assert process.returncode == 0  # stopped as by Ctrl-C, not killed by the signal
    assert_cleaned_up(pids, workdir)


def test_an_in_process_endpoint_ends_its_builds_at_interpreter_exit(tmp_path: Path) -> None:
    """``--local``'s case: the process ends normally without stopping the endpoint itself."""
    mark = tmp_path / "mark"
    mark.mkdir()
    script = textwrap.dedent(f"""\
        import time, emulator, pathlib
        from tests.e2e.test_emulator_lifecycle import start_long_build
        endpoint = emulator.Endpoint(credentials=emulator.Credentials(
            {EMULATOR_ACCESS_KEY_ID!r}, {EMULATOR_SECRET_ACCESS_KEY!r}))
        endpoint.start()
        start_long_build(endpoint.url, pathlib.Path({str(mark)!r}),
                         {EMULATOR_ACCESS_KEY_ID!r}, {EMULATOR_SECRET_ACCESS_KEY!r})
        while not pathlib.Path({str(mark / "ready")!r}).exists():
            time.sleep(0.05)
        print("exiting", flush=True)
    """)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    pids = [int((mark / name).read_text()) for name in ("bg.pid", "sh.pid")]
    workdir = Path((mark / "dir").read_text().strip()).parent
    assert_cleaned_up(pids, workdir)
