"""Benchmark: deploying three services of a workspace in one batch vs deploying one of them.

Issue 15's "Measured": a workspace (in a git repository) of three independent
services whose pipelines each sleep 8 s, and one shared library they all list
in their ``paths``. It is deployed with the installed ``cbdeploy`` as a user
runs it, against a standing ``cbdeploy emulator`` started here (``--local``
finds it through ``CBDEPLOY_EMULATOR_URL``):

- batch:  ``cbdeploy deploy -s bench --local --yes`` at the workspace root (all three)
- single: the same command in ``services/a`` (that service alone)

Both are timed as whole processes, from start to exit (the build followed to
its end), in alternating pairs in the same run after one warm-up of each (the
first deploy of a stage bootstraps it). Prints each pair, the medians and the
ratio batch / single (target <= 1.4: the three builds run side by side, so a
batch should cost little more than its slowest build).

Figures only, no assertions; on a shared machine they are noisy.
Run: ``.venv/bin/python bench/monorepo.py [--pairs 3] [--keep]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")
REGION = "us-east-1"
SERVICES = ("a", "b", "c")
SLEEP = 8


def workspace(root: Path) -> None:
    """Three independent services and a shared library, committed to git."""
    files = {
        "cbdeploy.toml": 'name = "bench"\n\n[workspace]\nservices = ["services/*"]\n',
        "libs/shared/util.py": "def greet(name):\n    return f'hello {name}'\n",
    }
    for name in SERVICES:
        files[f"services/{name}/cbdeploy.toml"] = (
            f'name = "bench-{name}"\npaths = ["services/{name}/**", "libs/shared/**"]\n\n'
            f'[pipeline]\nbuild = ["sleep {SLEEP}", "echo {name} built"]\n'
        )
        files[f"services/{name}/app.py"] = f"print({name!r})\n"
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(env: dict[str, str], url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen([CBDEPLOY, "emulator", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/__cbdeploy/emulator", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"the emulator ended at start:\n{log.read_text()}") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the emulator did not answer within 60 s")


def deploy(folder: Path, env: dict[str, str], label: str) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        [CBDEPLOY, "deploy", "-s", "bench", "-r", REGION, "--local", "--yes"],
        cwd=folder, env=env, capture_output=True, text=True, check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{label} deploy in {folder} exited {done.returncode}:\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="alternating pairs to time")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cbdeploy-bench-monorepo-"))
    root = tmp / "shop"
    root.mkdir()
    workspace(root)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "CBDEPLOY_", "GITHUB_"))}
    env.update(HOME=str(tmp / "home"), XDG_STATE_HOME=str(tmp / "state"),
               XDG_CONFIG_HOME=str(tmp / "config"), CBDEPLOY_EMULATOR_URL=url,
               AWS_CONFIG_FILE=str(tmp / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp / "none"))
    emulator = start_emulator(env, url, port, tmp / "emulator.log")
    single_folder = root / "services" / SERVICES[0]
    try:
        warm_batch = deploy(root, env, "batch")
        warm_single = deploy(single_folder, env, "single")
        print(f"warm-up (bootstrap): batch {warm_batch:.1f}s, single {warm_single:.1f}s")
        batch: list[float] = []
        single: list[float] = []
        for i in range(args.pairs):
            # Alternate which goes first, so a drift in the machine's load hits both.
            order = [("batch", root, batch), ("single", single_folder, single)]
            for label, folder, times in order if i % 2 == 0 else reversed(order):
                times.append(deploy(folder, env, label))
            print(f"pair {i + 1}: batch {batch[-1]:.1f}s, single {single[-1]:.1f}s, "
                  f"ratio {batch[-1] / single[-1]:.2f}")
        b, s = statistics.median(batch), statistics.median(single)
        print(f"batch of {len(SERVICES)} services (each sleeping {SLEEP}s): median {b:.1f}s "
              f"(min {min(batch):.1f}, max {max(batch):.1f})")
        print(f"single service: median {s:.1f}s (min {min(single):.1f}, max {max(single):.1f})")
        print(f"ratio batch / single (medians): {b / s:.2f} (target <= 1.4)")
        print(f"cores: {os.cpu_count()}; {args.pairs} alternating pairs; noisy if shared")
    finally:
        emulator.send_signal(signal.SIGINT)
        try:
            emulator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            emulator.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
