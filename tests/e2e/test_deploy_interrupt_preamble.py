"""Ctrl-C while the deploy's AWS preamble hangs (issue 16, target 4).

The installed ``cbdeploy deploy`` as a subprocess against an endpoint that takes
every request and never answers, as a stalled network does: the preamble's thread
waits on STS while the main thread runs ``git status`` and the selection, then
waits for it. SIGINT then must end the process at once (exit 130; the issue's
0.3 s, with a margin for a loaded machine), the thread left to die with the
process: the endpoint was asked nothing but who the caller is, and nothing was
written into the project.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.interrupting import interrupt_when

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")


def test_ctrl_c_while_the_preamble_hangs_exits_130_at_once_creating_nothing(
    tmp_path: Path, emulator_env: dict[str, str]
) -> None:
    requests: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def take() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)  # never answered, never closed while the test runs
            conn.settimeout(5)
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += conn.recv(65536)
                request = head + b"\r\n\r\n" + body
            except (OSError, IndexError, ValueError):
                pass
            requests.append(request)

    threading.Thread(target=take, daemon=True).start()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "cbdeploy.toml").write_text('name = "hang"\n[pipeline]\nbuild = ["echo hi"]\n')
    for i in range(200):
        (project / f"f{i}.txt").write_text(f"{i}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    env.update(emulator_env, XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.getsockname()[1]}")
    proc = subprocess.Popen(
        [CBDEPLOY, "deploy", "--yes", "--stage", "dev", "--region", "us-east-1",
         "--config-path", str(project / "cbdeploy.toml")],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:  # (the preamble waits for STS once its request was read whole)
        took = interrupt_when(proc, lambda: bool(requests), "called the endpoint (the preamble)")
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert proc.returncode == 130, proc.communicate()
    assert took < 1.0, f"exited {took:.2f} s after Ctrl-C"
    assert len(requests) == 1 and b"GetCallerIdentity" in requests[0], requests
    assert not (project / ".cbdeploy").exists()
