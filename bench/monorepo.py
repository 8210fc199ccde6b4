"""Benchmark: deploying a workspace's three services in one batch vs one service alone.

A workspace of three independent services whose pipelines each sleep 8 s and one shared
library, deployed on an emulator started here with the installed ``cbdeploy`` as a
subprocess (as a user runs it), to its end: ``cbdeploy deploy`` at the root (one
CodeBuild batch, the three builds in parallel) against ``cbdeploy deploy`` in one
service's folder (one build), alternating which goes first in each pair. Prints each
wall time and the ratio batch / one service (issue 15's target: <= 1.4).

Figures only, no assertions; on a shared machine they are noisy.
Run: ``.venv/bin/python bench/monorepo.py [--pairs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cbdeploy.emulator as emulator

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")
REGION = "us-east-1"
SERVICES = ("alpha", "beta", "gamma")


def make_workspace(root: Path) -> None:
    (root / "libs/shared").mkdir(parents=True)
    (root / "libs/shared/lib.txt").write_text("shared\n")
    (root / "cbdeploy.toml").write_text('name = "bench-ws"\n[workspace]\nservices = ["services/*"]\n')
    for name in SERVICES:
        folder = root / "services" / name
        folder.mkdir(parents=True)
        (folder / "cbdeploy.toml").write_text(
            f'name = "{name}"\n[pipeline]\ndeploy = ["cat ../../libs/shared/lib.txt", "sleep 8"]\n'
        )


def deploy(folder: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run([CBDEPLOY, "deploy", "-s", "bench", "-r", REGION, "--yes"],
                          cwd=folder, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"deploy in {folder} failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cbdeploy-bench-ws-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "ws"
        make_workspace(root)
        credentials = emulator.Credentials("AKIABENCHMONOREPO001", os.urandom(20).hex())
        with emulator.running(credentials=credentials) as url:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(
                AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID=credentials.access_key_id,
                AWS_SECRET_ACCESS_KEY=credentials.secret_access_key, AWS_DEFAULT_REGION=REGION,
                AWS_CONFIG_FILE=str(tmp / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp / "none"),
                HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "home" / ".config"),
            )
            deploy(root / "services" / SERVICES[0], env)  # bootstrap, warm caches: not counted
            batch, one = [], []
            for pair in range(args.pairs):
                order = [("batch", root), ("one", root / "services" / SERVICES[0])]
                for kind, folder in order if pair % 2 == 0 else reversed(order):
                    (batch if kind == "batch" else one).append(deploy(folder, env))
            for index, (b, o) in enumerate(zip(batch, one, strict=True), start=1):
                print(f"pair {index}: batch of 3 {b:.2f}s, one service {o:.2f}s, ratio {b / o:.2f}")
            b, o = statistics.median(batch), statistics.median(one)
            print(f"median: batch of 3 {b:.2f}s, one service {o:.2f}s, ratio {b / o:.2f} "
                  "(target <= 1.4)")


if __name__ == "__main__":
    main()
