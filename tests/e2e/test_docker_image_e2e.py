"""examples/docker-image on a real Docker engine and a real registry, twice.

The session's emulator (``emulator_url``) runs in this test process, and the
CLI runs as a subprocess with its credentials (``aws_env``); its ECR is moto's API backed by a
``docker-registry`` process it starts, and its builds (privileged mode, which
[images] turns on) use the host's Docker engine. Between the two deploys
every local image of the example's repository and all build cache are
removed, as on a fresh CodeBuild host, so only the registry can supply the
layer cache. Layer digests come from the registry's own manifests (ECR's
BatchGetImage, which the emulator answers from the registry).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cbdeploy.emulator")

CBDEPLOY = Path(sys.executable).parent / "cbdeploy"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "docker-image"
REGION = "us-east-1"
STAGE = "e2e"
REPOSITORY = f"cbdeploy/docker-image/{STAGE}/app"


@pytest.fixture
def endpoint(emulator_url: str, aws_env: None) -> str:
    return emulator_url


def environment(endpoint: str, home: Path) -> dict[str, str]:
    """The CLI's environment: the endpoint, and the credentials ``aws_env`` set for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CBDEPLOY_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": REGION,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "NO_COLOR": "1",
        }
    )
    return env


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@cbdeploy.invalid", *args],
        cwd=project, check=True, capture_output=True,
    )


def deploy(project: Path, env: dict[str, str], stage: str = STAGE) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [str(CBDEPLOY), "deploy", "--stage", stage, "--region", REGION, "--yes", "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    try:
        summary = json.loads(done.stdout)
    except ValueError:
        summary = {}
    return done.returncode, summary, done.stdout + done.stderr


def forget_local_images(registry_repository: str = "/" + REPOSITORY) -> None:
    """Remove every local image of the repository and all build cache (a fresh host).

    ``registry_repository`` is ``host:port/<repository>``, or just its end.
    """
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}} {{.ID}}"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")
    ids = sorted(
        {line.split()[1] for line in listed if line and line.split()[0].endswith(registry_repository)}
    )
    if ids:
        subprocess.run(["docker", "image", "rm", "-f", *ids], check=True, capture_output=True)
    subprocess.run(["docker", "builder", "prune", "-af"], check=True, capture_output=True)
    left = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert not [name for name in left if name.endswith(registry_repository)]


def layers(client: Any, digest: str) -> list[str]:
    answer = client.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageDigest": digest}])
    assert answer["failures"] == []
    manifest = json.loads(answer["images"][0]["imageManifest"])
    return [layer["digest"] for layer in manifest["layers"]]


def ran_dependency_step(output: str) -> bool:
    """The dependency RUN printed its last line (not just the Dockerfile line naming it)."""
    return any(
        line.rstrip().endswith("dependencies ready") and "echo" not in line
        for line in output.splitlines()
    )


@pytest.mark.docker
def test_second_deploy_reuses_the_dependency_layers_from_the_registry(
    endpoint: str, boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    project = tmp_path / "docker-image"
    shutil.copytree(EXAMPLE, project)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first")
    env = environment(endpoint, tmp_path / "home")
    forget_local_images()  # earlier runs' images and cache: the first build starts cold

    code, first, output = deploy(project, env)
    assert code == 0, output
    uri, tag = first["outputs"]["IMAGE_URI_APP"], first["outputs"]["IMAGE_TAG_APP"]
    registry_repository, _, digest1 = uri.partition("@")
    assert registry_repository.startswith("127.0.0.1:") and registry_repository.endswith(REPOSITORY)
    assert digest1.startswith("sha256:") and len(tag) == 12 and tag != "latest"
    assert "version: 1" in output  # the deploy step ran the pushed image
    assert ran_dependency_step(output), output

    forget_local_images(registry_repository)
    app = project / "image" / "app.sh"
    app.write_text(app.read_text().replace("version: 1", "version: 2"))
    git(project, "commit", "-qam", "one-line change to the app layer")

    code, second, output2 = deploy(project, env)
    assert code == 0, output2
    uri2, tag2 = second["outputs"]["IMAGE_URI_APP"], second["outputs"]["IMAGE_TAG_APP"]
    digest2 = uri2.partition("@")[2]
    assert digest2 != digest1 and tag2 != tag
    assert "version: 2" in output2

    client = boto_client("ecr", region=REGION)
    before, after = layers(client, digest1), layers(client, digest2)
    # base, dependencies, app: everything before the changed app layer is the same blob.
    assert len(before) == len(after) >= 3
    assert before[:-1] == after[:-1]
    assert before[-1] != after[-1]
    # The second build used the cache instead of running the dependency step again.
    assert "CACHED" in output2 or "Using cache" in output2, output2
    assert not ran_dependency_step(output2), output2
    # ECR reports what was really pushed: both tags, the second image's digest.
    described = client.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag2}])
    assert described["imageDetails"][0]["imageDigest"] == digest2
    tags = {t for d in client.describe_images(repositoryName=REPOSITORY)["imageDetails"]
            for t in d.get("imageTags", [])}
    assert {tag, tag2, f"cbdeploy-cache-{STAGE}"} <= tags


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker command on this machine")
def test_without_privileged_mode_docker_fails_and_the_summary_says_what_to_do(
    endpoint: str, tmp_path: Path
) -> None:
    project = tmp_path / "no-images"
    project.mkdir()
    (project / "cbdeploy.toml").write_text(
        'name = "no-images"\n[pipeline]\nbuild = ["docker info"]\n', encoding="utf-8"
    )
    code, summary, output = deploy(project, environment(endpoint, tmp_path / "home"), stage="dev")
    assert code == 1, output
    assert "Cannot connect to the Docker daemon" in output
    assert "[images.<name>]" in summary["hint"] and "privilegedMode" in summary["hint"]
    assert "codebuild.privilegedMode = true" in output  # the human summary says it too
