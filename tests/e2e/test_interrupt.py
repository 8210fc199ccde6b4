"""Ctrl-C, SIGTERM, SIGHUP and lost terminals, with the installed ``cbdeploy`` as a subprocess.

The CLI runs against the session's emulator over loopback
(``AWS_ENDPOINT_URL``), not with ``--local``: the build must live outside the
CLI process for "the build was stopped" and "re-attach later" to mean anything.
Without a terminal (pipes, as in CI) the first SIGINT stops the build at once;
the Ctrl-C tests at a terminal run the CLI in a real pseudo-terminal (stdlib
``pty``) and press Ctrl-C there.
"""

from __future__ import annotations

import json
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

from cbdeploy.client.infra.names import project_name
from tests.conftest import EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY
from tests.pty_terminal import Terminal

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
        AWS_ACCESS_KEY_ID=EMULATOR_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=EMULATOR_SECRET_ACCESS_KEY,
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


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_before_the_build_starts_starts_nothing(
    cli: Callable[..., Cli], tmp_path: Path, boto_client: Callable[..., Any], signum: int,
    status: int,
) -> None:
    project = make_project(tmp_path, "echo hi")
    # A big file keeps packaging busy long enough to be interrupted.
    (project / "big.bin").write_bytes(os.urandom(64 * 1024 * 1024))
    c = cli(*deploy_args(project), "--json")
    c.wait_for("Deploy")
    c.proc.send_signal(signum)
    code, out = c.finish()
    assert code == status, out
    assert "nothing was deployed" in out
    assert f'"exitCode": {status}' in out  # --json still gives its one object
    assert "Started build" not in out
    projects = boto_client("codebuild").list_builds_for_project
    try:
        ids = projects(projectName=project_name(project.name, "dev"))["ids"]
    except Exception:  # the project was never created: fine, nothing started
        ids = []
    assert ids == []


def json_object(out: str) -> dict[str, Any]:
    """The --json object: stdout's one line, the last one written (stderr shares the pipe)."""
    last = [line for line in out.splitlines() if line.startswith("{")][-1]
    data: dict[str, Any] = json.loads(last)
    return data


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_the_build_say_so_and_write_the_json_within_8_seconds(
    cli: Callable[..., Cli], tmp_path: Path, boto_client: Callable[..., Any], signum: int,
    status: int,
) -> None:
    """A CI cancel (GitHub Actions kills about 10 s after its signal), ``timeout``, a closed
    terminal: the build is stopped, not left running for the next deploy to trip on."""
    project = make_project(tmp_path, "echo long-build-started && sleep 60 && echo never-printed")
    c = cli(*deploy_args(project), "--json")
    build_id = started_build_id(c)
    c.wait_for("^long-build-started$")
    sent = time.monotonic()
    c.proc.send_signal(signum)
    code, out = c.finish()
    took = time.monotonic() - sent
    name = signal.Signals(signum).name
    assert code == status, out
    assert took < 8.0, out
    assert "A cancel (SIGINT, SIGTERM) stops the build." in out  # (no terminal: no window)
    assert f"{name}: stopping build {build_id}" in out
    assert f"Interrupted by {name}. Build {build_id} ended STOPPED" in out
    assert "■ build stopped after" in out
    assert "failed with exit status" not in out
    report = json_object(out)
    assert (report["buildId"], report["status"], report["exitCode"]) == (build_id, "STOPPED", status)
    assert report["interrupted"] is True and report["signal"] == name
    assert report["failedStep"] is None
    assert [(s["name"], s["status"], s["exitCode"]) for s in report["steps"]] == [
        ("build", "stopped", 143)
    ]
    assert final_status(boto_client, build_id, timeout=0) == "STOPPED"


# ----------------------------------------------------------------------------- at a terminal


@pytest.fixture
def terminal(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    started: list[Terminal] = []

    def start(*args: str, stdout: Any = None) -> Terminal:
        started.append(Terminal([CBDEPLOY, *args, "--region", "us-east-1"],
                                dict(env, TERM="xterm", NO_COLOR="1"), tmp_path, stdout))
        return started[-1]

    yield start
    for t in started:
        if t.process.poll() is None:
            t.process.kill()


def build_status(boto_client: Callable[..., Any], build_id: str) -> str:
    build = boto_client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    return str(build["buildStatus"])


def test_at_a_terminal_a_second_ctrl_c_within_3_seconds_leaves_the_build_running(
    terminal: Callable[..., Terminal], tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    project = make_project(tmp_path, "echo first-line && sleep 60")
    t = terminal(*deploy_args(project))
    build_id = t.wait_for(r"Started build (\S+)").group(1)
    t.wait_for("^first-line$")
    t.ctrl_c()
    pressed = time.monotonic()
    t.wait_for(f"Build {re.escape(build_id)} will be stopped in 3 seconds. "
               "Press Ctrl-C again to leave it running.")
    t.ctrl_c()
    code, out = t.finish(timeout=10)
    assert code == 130, out
    assert "Ctrl-C stops the build; press it twice to leave the build running." in out
    assert "Detached" in out and "Stopping build" not in out
    assert f"cbdeploy logs {build_id} --follow --region us-east-1" in out
    assert f"cbdeploy stop {build_id} --region us-east-1" in out
    time.sleep(max(0.0, pressed + 3.0 + 1.0 - time.monotonic()))  # past the window: not stopped
    try:
        assert build_status(boto_client, build_id) == "IN_PROGRESS"
    finally:
        boto_client("codebuild").stop_build(id=build_id)


def test_at_a_terminal_one_ctrl_c_stops_the_build_when_the_window_ends(
    terminal: Callable[..., Terminal], tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    project = make_project(tmp_path, "echo first-line && sleep 60")
    t = terminal(*deploy_args(project))
    build_id = t.wait_for(r"Started build (\S+)").group(1)
    t.wait_for("^first-line$")
    t.ctrl_c()
    t.wait_for("will be stopped in 3 seconds")
    time.sleep(1.0)
    assert build_status(boto_client, build_id) == "IN_PROGRESS"  # not stopped at the press
    t.wait_for(f"Stopping build {re.escape(build_id)}", timeout=10)
    code, out = t.finish()
    assert code == 130, out
    assert "■ build stopped after" in out and "failed with exit status" not in out
    assert f"Interrupted. Build {build_id} ended STOPPED" in out
    assert final_status(boto_client, build_id) == "STOPPED"


def test_closing_the_terminal_stops_the_build_and_still_writes_the_json(
    terminal: Callable[..., Terminal], tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    """The kernel sends SIGHUP when the terminal goes, and writes to it fail from then on:
    the build is stopped all the same, and ``--json > file`` still gets its object."""
    project = make_project(tmp_path, "echo first-line && sleep 60")
    with (tmp_path / "result.json").open("w") as result:
        t = terminal(*deploy_args(project), "--json", stdout=result)
        build_id = t.wait_for(r"Started build (\S+)").group(1)
        t.wait_for("^first-line$")
        t.close()  # the terminal window is closed
        code = t.process.wait(timeout=8)
    assert code == 129
    assert final_status(boto_client, build_id, timeout=0) == "STOPPED"
    report = json.loads((tmp_path / "result.json").read_text())
    assert (report["buildId"], report["status"], report["exitCode"]) == (build_id, "STOPPED", 129)
    assert report["signal"] == "SIGHUP"
