"""Benchmark: a delta redeploy against a full upload, on the emulator.

Builds the synthetic monorepo of ``bench/package.py`` with 160 packages
(>= 20,000 shipped files; its ignored node_modules left out, they are never
shipped) and deploys it with the installed ``cbdeploy`` against an emulator
started here (the CLI runs as a subprocess, as a user would run it). Prints:

- bytes uploaded by a one-file change (delta) / bytes of the full archive (target <= 1 %)
- the same for a change to 1 % of the files                            (target <= 3 %)
- client time from start to StartBuild, delta vs full upload (``--detach``: the
  command returns once StartBuild answered; loopback, so bytes cost ~nothing here:
  the time a slow uplink adds is bytes / its rate)
- the time the build spends rebuilding the tree (the runner's own figure), against
  DOWNLOAD_SOURCE+INSTALL of the full build                            (target <= 10 %)

Figures only, no assertions; on a shared machine they are noisy.
Run: ``.venv/bin/python bench/delta.py [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CBDEPLOY, add_keep_option, git, scratch  # noqa: E402
from package import make_repo  # noqa: E402

import cbdeploy.emulator as emulator  # noqa: E402

REGION = "us-east-1"
CONFIG = '[pipeline]\ndeploy = ["echo deployed"]\n'
REBUILT = re.compile(r"rebuilt the tree from the delta and its base: (\d+) files, hash verified, in ([0-9.]+)s")


def deploy(root: Path, env: dict[str, str], *args: str) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    done = subprocess.run(
        [CBDEPLOY, "deploy", "-s", "bench", "-r", REGION, "--yes", "--detach", "--json", *args],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"deploy failed:\n{done.stdout}\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def wait(codebuild: Any, logs: Any, build_id: str) -> tuple[dict[str, float], str]:
    while True:
        build = codebuild.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildComplete"]:
            break
        time.sleep(0.2)
    if build["buildStatus"] != "SUCCEEDED":
        raise SystemExit(f"build {build_id} ended {build['buildStatus']}")
    phases = {
        p["phaseType"]: (p["endTime"] - p["startTime"]).total_seconds()
        for p in build["phases"] if "endTime" in p
    }
    text = "\n".join(
        e["message"] for e in logs.get_log_events(
            logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"],
            startFromHead=True,
        )["events"]
    )
    return phases, text


def edit(path: Path, i: int) -> None:
    path.write_bytes(path.read_bytes() + f"// edit {i}\n".encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_keep_option(parser)
    args = parser.parse_args()
    credentials = emulator.Credentials("AKIABENCHDELTA000001", os.urandom(20).hex())
    with scratch("cbdeploy-bench-delta-", keep=args.keep) as tmp:
        root = tmp / "repo"
        t0 = time.perf_counter()
        counts = make_repo(root, random.Random(14), packages=160, ignored=0)
        (root / "cbdeploy.toml").write_text(CONFIG, encoding="utf-8")
        git(root, "add", "cbdeploy.toml")
        print(f"repo: {counts['shipped']} shipped files (built in {time.perf_counter() - t0:.1f}s)")
        time.sleep(2.1)  # past the racy window of the caches, as in a real project
        with emulator.running(credentials=credentials) as url:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(
                AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID=credentials.access_key_id,
                AWS_SECRET_ACCESS_KEY=credentials.secret_access_key, AWS_DEFAULT_REGION=REGION,
                AWS_CONFIG_FILE=str(tmp / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp / "none"),
                HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "home" / ".config"),
            )
            session = dict(region_name=REGION, endpoint_url=url,
                           aws_access_key_id=credentials.access_key_id,
                           aws_secret_access_key=credentials.secret_access_key)
            codebuild, logs = boto3.client("codebuild", **session), boto3.client("logs", **session)
            files = sorted((root / "packages").rglob("*.ts"))
            rng = random.Random(7)

            first_s, first = deploy(root, env)
            wait(codebuild, logs, first["buildId"])
            full_bytes = first["upload"]["bytes"]
            print(f"first deploy (base, cold caches): {full_bytes / 1e6:.2f} MB in {first_s:.2f}s")

            edit(files[100], 1)
            time.sleep(1.1)
            delta_s, delta = deploy(root, env)
            delta_phases, delta_log = wait(codebuild, logs, delta["buildId"])
            edit(files[101], 2)
            time.sleep(1.1)
            full_s, full = deploy(root, env, "--no-delta")
            full_phases, _ = wait(codebuild, logs, full["buildId"])
            rebuilt = REBUILT.search(delta_log)

            for i, path in enumerate(rng.sample(files, counts["shipped"] // 100)):
                edit(path, 10 + i)
            time.sleep(1.1)
            many_s, many = deploy(root, env)
            wait(codebuild, logs, many["buildId"])

        def ratio(upload: dict[str, Any]) -> str:
            return f"{upload['kind']} {upload['bytes'] / 1e3:.1f} kB = {upload['bytes'] / full_bytes:.2%}"

        print(f"full archive: {full['upload']['bytes'] / 1e6:.2f} MB")
        print(f"one-file change:   {ratio(delta['upload'])} of the full archive (target <= 1 %)")
        print(f"1 % of files ({counts['shipped'] // 100}): {ratio(many['upload'])} (target <= 3 %)")
        print(f"client start-to-StartBuild: delta {delta_s:.2f}s, full upload {full_s:.2f}s "
              f"(loopback; at 1 MB/s the full upload adds {full['upload']['bytes'] / 1e6:.0f}s, "
              f"the delta {delta['upload']['bytes'] / 1e6:.2f}s)")
        source = full_phases.get("DOWNLOAD_SOURCE", 0.0) + full_phases.get("INSTALL", 0.0)
        delta_source = delta_phases.get("DOWNLOAD_SOURCE", 0.0) + delta_phases.get("INSTALL", 0.0)
        if rebuilt:
            seconds = float(rebuilt.group(2))
            print(f"rebuild in the build: {rebuilt.group(1)} files in {seconds:.2f}s; full build's "
                  f"DOWNLOAD_SOURCE+INSTALL {source:.2f}s, the delta build's {delta_source:.2f}s "
                  f"+ rebuild = {delta_source + seconds:.2f}s "
                  f"({(delta_source + seconds) / source - 1:+.0%}; target <= +10 %)")
        else:
            print("rebuild: the runner's line was not found in the delta build's log")
        print(f"cores: {os.cpu_count()}; one run each; noisy if shared")


if __name__ == "__main__":
    main()
