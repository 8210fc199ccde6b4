"""A deploy whose endpoint goes away mid-build, with ``cbdeploy`` and ``cbdeploy emulator``
as subprocesses, as a user runs them.

The emulator is this test's own (not the session's): it is stopped while the
build runs, and a new one is started on the same port, which knows nothing of
the build, as an emulator restarted by its user.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from tests.conftest import EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        # Both emulators take the keys the deploy signs with (the emulator checks SigV4).
        [CBDEPLOY, "emulator", "--port", str(port), "--access-key-id", env["AWS_ACCESS_KEY_ID"],
         "--secret-access-key", env["AWS_SECRET_ACCESS_KEY"]], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the emulator did not start")


class Lines:
    """A subprocess's output lines, each with the time it arrived."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.seen: list[tuple[float, str]] = []
        self._queue: queue.Queue[tuple[float, str] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put((time.monotonic(), line.rstrip("\n")))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} in:\n{self.text}") from None
            if item is None:
                raise AssertionError(f"exited without {text!r}:\n{self.text}")
            self.seen.append(item)
            if text in item[1]:
                return item[0]

    def rest(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        while (item := self._queue.get(timeout=5)) is not None:
            self.seen.append(item)
        return code

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.seen)


def test_a_lost_endpoint_is_said_within_seconds_and_a_forgotten_build_exits_3(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID=EMULATOR_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=EMULATOR_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
    )
    name = f"l{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "cbdeploy.toml").write_text(
        f'name = "{name}"\n\n[pipeline]\nbuild = ["echo build-started && sleep 20"]\n'
    )
    first = start_emulator(port, env)
    second: subprocess.Popen[str] | None = None
    deploy = subprocess.Popen(
        [CBDEPLOY, "deploy", "--stage", "dev", "--region", "us-east-1", "--yes", "--json",
         "--config-path", str(root / "cbdeploy.toml")],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    out = Lines(deploy)
    try:
        out.wait_for("build-started", timeout=60)
        first.terminate()
        first.wait(timeout=60)  # (its own shutdown is not under test; a loaded machine is slow)
        gone = time.monotonic()
        said = out.wait_for("Lost contact with the build", timeout=15)
        assert said - gone <= 10.0, out.text
        out.wait_for("Still trying", timeout=5)
        second = start_emulator(port, env)  # a new emulator: the build is unknown to it
        code = out.rest(timeout=60)
    finally:
        for proc in (deploy, first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert code == 3, out.text
    text = out.text
    assert "Outcome unknown" in text
    assert "No build" not in text and "goes on" not in text
    report = json.loads(text[text.index('{"buildId"'):].splitlines()[0])
    assert report["status"] == "UNKNOWN" and report["exitCode"] == 3
    assert report["error"].startswith("Outcome unknown")
