"""Ctrl-C and lost terminals, with the installed ``cbdeploy`` as a subprocess.

The CLI runs against the session's emulator over loopback
(``AWS_ENDPOINT_URL``), not with ``--local``: the build must live outside the
CLI process for "the build was stopped" and "re-attach later" to mean anything.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client.names import project_name

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")


def make_project(tmp_path: Path, build: str) -> Path:
    name = f"i{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "cbdeploy.toml").write_text(f'name = "{name}"\n\n[pipeline]\nbuild = ["{build}"]\n')
    return root


@pytest.fixture
def env(emulator_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(
        AWS_ENDPOINT_URL=emulator_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
    )
    return clean


class Cli:
    """A running ``cbdeploy``; its output lines arrive on a queue as they are printed."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [CBDEPLOY, *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} in:\n" + "\n".join(self.lines)) from None
            if line is None:
                raise AssertionError(f"exited without {pattern!r}:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if re.search(pattern, line):
                return line

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code, "\n".join(self.lines)


@pytest.fixture
def cli(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Cli]]:
    started: list[Cli] = []

    def start(*args: str) -> Cli:
        started.append(Cli([*args, "--region", "us-east-1"], env, tmp_path))
        return started[-1]

    yield start
    for c in started:
        if c.proc.poll() is None:
            c.proc.kill()


def deploy_args(project: Path) -> list[str]:
    return ["deploy", "--stage", "dev", "--yes", "--config-path", str(project / "cbdeploy.toml")]


def started_build_id(c: Cli) -> str:
    line = c.wait_for(r"Started build ")
    return line.split("Started build ", 1)[1].strip()


def final_status(boto_client: Callable[..., Any], build_id: str, timeout: float = 20.0) -> str:
    codebuild = boto_client("codebuild")
    deadline = time.monotonic() + timeout
    while True:
        build = codebuild.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildComplete"] or time.monotonic() > deadline:
            return str(build["buildStatus"])
        time.sleep(0.2)


def test_ctrl_c_stops_the_remote_build_and_exits_130(
    cli: Callable[..., Cli], tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    project = make_project(tmp_path, "echo long-build-started && sleep 60 && echo never-printed")
    c = cli(*deploy_args(project))
    build_id = started_build_id(c)
    c.wait_for("long-build-started")
    c.proc.send_signal(signal.SIGINT)
    code, out = c.finish()
    assert code == 130, out
    assert f"Stopping build {build_id}" in out
    assert "never-printed" not in out.splitlines()  # (the runner echoes the command itself)
    assert "STOPPED" in out
    assert final_status(boto_client, build_id) == "STOPPED"


def test_second_ctrl_c_detaches_and_logs_follow_reattaches(
    cli: Callable[..., Cli], tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    project = make_project(tmp_path, "echo first-line && sleep 60")
    c = cli(*deploy_args(project))
    build_id = started_build_id(c)
    c.wait_for("first-line")
    c.proc.send_signal(signal.SIGINT)
    c.wait_for("Stopping build")
    c.proc.send_signal(signal.SIGINT)
    code, out = c.finish(timeout=10)
    assert code == 130, out
    assert "Detached" in out
    assert f"cbdeploy logs {build_id} --follow --region us-east-1" in out
    assert f"cbdeploy stop {build_id} --region us-east-1" in out
    # Re-attach: the whole log from the start, then the end of the build.
    again = cli("logs", build_id, "--follow")
    code, out = again.finish()
    assert out.splitlines().count("first-line") == 1, out
    assert final_status(boto_client, build_id) == "STOPPED"
    assert code == 1 and "stopped" in out.lower()


def test_a_killed_deploy_leaves_a_build_that_logs_follow_reattaches_to(
    cli: Callable[..., Cli], tmp_path: Path
) -> None:
    project = make_project(tmp_path, "echo before-kill && sleep 2 && echo after-kill")
    c = cli(*deploy_args(project))
    build_id = started_build_id(c)
    c.wait_for("before-kill")
    c.proc.kill()
    c.finish()
    again = cli("logs", build_id, "--follow")
    code, out = again.finish()
    assert code == 0, out
    lines = out.splitlines()
    assert lines.index("before-kill") < lines.index("after-kill")
    assert "Build succeeded" in out


def test_ctrl_c_before_the_build_starts_starts_nothing(
    cli: Callable[..., Cli], tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    project = make_project(tmp_path, "echo hi")
    # A big file keeps packaging busy long enough to be interrupted.
    (project / "big.bin").write_bytes(os.urandom(64 * 1024 * 1024))
    c = cli(*deploy_args(project), "--json")
    c.wait_for("Deploy")
    c.proc.send_signal(signal.SIGINT)
    code, out = c.finish()
    assert code == 130, out
    assert "nothing was deployed" in out
    assert '"exitCode": 130' in out  # --json still gives its one object
    assert "Started build" not in out
    projects = boto_client("codebuild").list_builds_for_project
    try:
        ids = projects(projectName=project_name(project.name, "dev"))["ids"]
    except Exception:  # the project was never created: fine, nothing started
        ids = []
    assert ids == []
