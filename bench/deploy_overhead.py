"""Benchmark: a deploy's overhead, process start to StartBuild, against git archive (issue 16).

A standing ``cbdeploy emulator`` is started here (its own port and state folder),
``cbdeploy.toml`` is written into the project (removed at the end), one deploy
fills the stage (bucket, role, project, base archive). Then, in alternating pairs,
``git archive --format=zip HEAD`` of the project and ``cbdeploy deploy --local
--detach --yes`` after a one-file change, timed from just before the process is
started to the ``startTime`` the emulator gives the build when StartBuild reaches
it (the same machine's clock). Each build is then stopped, untimed, before the
next pair, so that it does not share the cores with the next measurement. Prints
the medians and the pair-by-pair ratio (target <= 0.5 on babel/babel).
With ``--cold`` each pair is followed by a cold one: the package cache removed
(untimed) before the deploy, as on a CI runner's fresh checkout.
Run: ``.venv/bin/python bench/deploy_overhead.py --repo PATH [--runs 5] [--cold]``; without
``--repo``, on a synthetic monorepo (bench/package.py's).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from package import make_repo  # noqa: E402 - the bench's own synthetic monorepo

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")
COMMAND = [CBDEPLOY]  # --cbdeploy: another build of it, for a before/after
CONFIG = 'name = "overhead-bench"\n\n[pipeline]\nbuild = ["true"]\n'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(state: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    port = free_port()
    env = dict(os.environ, XDG_STATE_HOME=str(state))
    proc = subprocess.Popen([CBDEPLOY, "emulator", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    exports: dict[str, str] = {}
    deadline = time.monotonic() + 60
    for raw in proc.stdout:
        line = raw.decode()
        if line.startswith("export "):
            key, _, value = line[len("export "):].strip().partition("=")
            exports[key] = value
        if "listening on" in line or time.monotonic() > deadline:
            break
    if "AWS_ACCESS_KEY_ID" not in exports:
        proc.kill()
        raise SystemExit("the emulator did not start")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(exports, XDG_STATE_HOME=str(state),
               CBDEPLOY_EMULATOR_URL=f"http://127.0.0.1:{port}")
    env.pop("AWS_ENDPOINT_URL", None)  # --local finds it through CBDEPLOY_EMULATOR_URL
    return proc, env


def deploy(root: Path, env: dict[str, str]) -> tuple[float, str]:
    """Seconds from process start to the build's start in the emulator, and its id."""
    started = time.time()
    proc = subprocess.run(
        [*COMMAND, "deploy", "--stage", "dev", "--region", "us-east-1", "--local",
         "--detach", "--yes", "--json"], cwd=root, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed ({proc.returncode}): {proc.stderr.decode()[-3000:]}")
    build_id = json.loads(proc.stdout)["buildId"]
    build = _client(env).batch_get_builds(ids=[build_id])["builds"][0]
    return build["startTime"].timestamp() - started, build_id


def _client(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "codebuild", region_name="us-east-1", endpoint_url=env["CBDEPLOY_EMULATOR_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def stop(build_id: str, env: dict[str, str]) -> None:
    """Stop the build and wait until it has stopped: only StartBuild is measured, and a
    build extracting the project would share the cores with the next pair."""
    client = _client(env)
    client.stop_build(id=build_id)
    deadline = time.monotonic() + 900  # a stop lands between steps: extracting takes a while
    while time.monotonic() < deadline:
        if client.batch_get_builds(ids=[build_id])["builds"][0]["buildStatus"] != "IN_PROGRESS":
            return
        time.sleep(0.2)
    raise SystemExit(f"build {build_id} did not stop")


def git_archive(root: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["git", "archive", "--format=zip", "-o", str(out), "HEAD"], cwd=root,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def bench(root: Path, tmp: Path, runs: int, edit: Path, env: dict[str, str], *,
          cold: bool = False) -> None:
    original = edit.read_bytes()
    config = root / "cbdeploy.toml"
    had_config = config.exists()
    if not had_config:
        config.write_text(CONFIG)
    try:
        _, first = deploy(root, env)  # the stage's resources and its base
        stop(first, env)
        time.sleep(2.1)  # every file past the cache's racy window, as in a real project
        pairs, colds = [], []
        for n in range(runs + 1):  # the first pair warms up
            reference = git_archive(root, tmp / "git.zip")
            edit.write_bytes(original + f"// edit {n}\n".encode())
            ours, build_id = deploy(root, env)
            stop(build_id, env)
            if n:
                pairs.append((reference, ours))
            if cold:  # as in CI: a fresh checkout has no package cache (removed untimed)
                reference = git_archive(root, tmp / "git.zip")
                shutil.rmtree(root / ".cbdeploy" / "cache", ignore_errors=True)
                edit.write_bytes(original + f"// cold edit {n}\n".encode())
                theirs, build_id = deploy(root, env)
                stop(build_id, env)
                if n:
                    colds.append((reference, theirs))
    finally:
        edit.write_bytes(original)
        if not had_config:
            config.unlink()
    print(f"{root.name}:")
    _row("deploy: start to StartBuild", pairs, " (target <= 0.5)")
    if colds:
        _row("cold deploy (no package cache)", colds, "")


def _row(what: str, pairs: list[tuple[float, float]], target: str) -> None:
    ref = statistics.median(r for r, _ in pairs)
    ours = statistics.median(o for _, o in pairs)
    ratio = statistics.median(o / r for r, o in pairs)
    print(f"  {what:<34} {ours * 1000:7.0f} ms  vs git archive "
          f"{ref * 1000:6.0f} ms  ratio {ratio:5.2f}{target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="a git checkout (one file is edited, then "
                        "restored; cbdeploy.toml is written and removed)")
    parser.add_argument("--runs", type=int, default=5, help="pairs")
    parser.add_argument("--cbdeploy", help="the command to deploy with (default: this venv's)")
    parser.add_argument("--cold", action="store_true", help="also time cold deploys (the "
                        "package cache removed before each, as on a CI runner)")
    args = parser.parse_args()
    if args.cbdeploy:
        COMMAND[:] = args.cbdeploy.split()
    tmp = Path(tempfile.mkdtemp(prefix="cbdeploy-overhead-"))
    emulator, env = start_emulator(tmp / "state")
    try:
        if args.repo:
            root = args.repo.resolve()
        else:
            root = tmp / "repo"
            make_repo(root, random.Random(42))
        listed = subprocess.run(["git", "ls-files", "*.js", "*.ts"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.split()
        bench(root, tmp, args.runs, root / listed[len(listed) // 2], env, cold=args.cold)
        print(f"cores: {os.cpu_count()}; {args.runs} alternating pairs, medians; "
              "noisy if the machine is shared")
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
