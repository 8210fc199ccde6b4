"""Benchmark the image layer cache on a real Docker engine (prints figures; asserts nothing).

Deploys examples/docker-image on the emulator twice, in one run: a cold first
deploy, then a second after a one-line change to the app layer, with every
local image of the repository and all build cache removed before each
deploy (a fresh CodeBuild host: only the registry holds the cache). The
dependency layer works for ``--deps-seconds`` (default 12). Printed:

- wall time of each deploy (the whole ``cbdeploy deploy``), and their ratio;
- bytes pushed by each deploy, from the registry's manifests: every blob of
  the first image, and the blobs of the second that the first did not have;
  and their ratio.

Needs a Docker engine, docker-registry and busybox-static on the host.
Usage: ``python bench/docker.py [--deps-seconds 12]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

import cbdeploy.emulator as emulator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "docker-image"
CBDEPLOY = Path(sys.executable).parent / "cbdeploy"
REGION = "us-east-1"
STAGE = "bench"
REPOSITORY = f"cbdeploy/docker-image/{STAGE}/app"


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@cbdeploy.invalid", *args],
        cwd=project, check=True, capture_output=True,
    )


def forget_local_images(repository_suffix: str) -> None:
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}} {{.ID}}"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    ids = sorted({line.split()[1] for line in listed if line.split()[0].endswith(repository_suffix)})
    if ids:
        subprocess.run(["docker", "image", "rm", "-f", *ids], check=True, capture_output=True)
    subprocess.run(["docker", "builder", "prune", "-af"], check=True, capture_output=True)


def deploy(project: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    forget_local_images("/" + REPOSITORY)
    started = time.monotonic()
    done = subprocess.run(
        [str(CBDEPLOY), "deploy", "--stage", STAGE, "--region", REGION, "--yes", "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    took = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"deploy failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return took, json.loads(done.stdout)


def blobs(ecr: Any, digest: str) -> dict[str, int]:
    """Blob digest -> size, config included, from the registry's manifest."""
    answer = ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageDigest": digest}])
    manifest = json.loads(answer["images"][0]["imageManifest"])
    found = {layer["digest"]: int(layer["size"]) for layer in manifest["layers"]}
    found[manifest["config"]["digest"]] = int(manifest["config"]["size"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deps-seconds", type=int, default=12)
    args = parser.parse_args()
    credentials = emulator.Credentials.generate()
    with tempfile.TemporaryDirectory(prefix="cbdeploy-bench-docker-") as scratch, \
            emulator.running(credentials=credentials) as url:
        project = Path(scratch) / "docker-image"
        shutil.copytree(EXAMPLE, project)
        config = project / "cbdeploy.toml"
        config.write_text(
            config.read_text().replace('DEPS_SECONDS = "2"', f'DEPS_SECONDS = "{args.deps_seconds}"')
        )
        git(project, "init", "-q")
        git(project, "add", "-A")
        git(project, "commit", "-qm", "first")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CBDEPLOY_"))}
        env.update({
            "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key, "AWS_DEFAULT_REGION": REGION,
            "XDG_CONFIG_HOME": str(Path(scratch) / "xdg"), "NO_COLOR": "1",
        })
        first_time, first = deploy(project, env)
        app = project / "image" / "app.sh"
        app.write_text(app.read_text().replace("version: 1", "version: 2"))
        git(project, "commit", "-qam", "one-line change to the app layer")
        second_time, second = deploy(project, env)
        ecr = boto3.client(
            "ecr", endpoint_url=url, region_name=REGION,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
        )
        before = blobs(ecr, first["outputs"]["IMAGE_URI_APP"].partition("@")[2])
        after = blobs(ecr, second["outputs"]["IMAGE_URI_APP"].partition("@")[2])
        first_bytes = sum(before.values())
        second_bytes = sum(size for digest, size in after.items() if digest not in before)
    print(f"dependency layer work:  {args.deps_seconds} s")
    print(f"first deploy:           {first_time:7.1f} s  {first_bytes:>12,} bytes pushed")
    print(f"second deploy:          {second_time:7.1f} s  {second_bytes:>12,} bytes pushed")
    print(f"time ratio:             {second_time / first_time:7.3f}   (target <= 0.3)")
    print(f"bytes ratio:            {second_bytes / first_bytes:7.4f}   (target <= 0.05)")


if __name__ == "__main__":
    main()
