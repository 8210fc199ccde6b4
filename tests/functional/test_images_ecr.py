"""[images] against the emulator: bootstrap's ECR repositories and the emulator's ECR.

moto keeps the repositories; the emulator rewrites their URIs to the registry
process it runs and answers DescribeImages / BatchGetImage from that registry
(moto knows nothing of pushes), which the docker-marked tests push to for real.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.errors import OwnershipError
from cbdeploy.client.infra import bootstrap as b
from cbdeploy.client.infra.model import BASE_POLICY, StageSettings
from cbdeploy.client.infra.names import stage_names

ACCOUNT = "123456789012"


@pytest.fixture
def endpoint(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    return emulator_url


def make_aws(region: str) -> AwsClient:
    return AwsClient(boto3.session.Session(region_name=region), region)


def test_bootstrap_creates_tagged_repositories_grants_them_and_then_writes_nothing(
    endpoint: str, boto_client: Callable[..., Any]
) -> None:
    region = "eu-north-1"
    settings = StageSettings(
        name="imgapp", stage="dev", privileged_mode=True,
        repositories=("cbdeploy/imgapp/dev/api", "imgapp-web"),
    )
    aws = make_aws(region)
    infra = b.bootstrap(aws, settings)
    assert "Create ECR repository imgapp-web" in infra.changes
    ecr = boto_client("ecr", region=region)
    for name in settings.repositories:
        repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
        assert {t["Key"]: t["Value"] for t in tags} == {
            "cbdeploy:app": "imgapp", "cbdeploy:stage": "dev"
        }
    names = stage_names("imgapp", "dev", account=ACCOUNT, region=region, tls=False)
    policy = boto_client("iam").get_role_policy(RoleName=names.role, PolicyName=BASE_POLICY)
    document = policy["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["EcrRepositories"]["Resource"] == [
        f"arn:aws:ecr:{region}:{ACCOUNT}:repository/cbdeploy/imgapp/dev/api",
        f"arn:aws:ecr:{region}:{ACCOUNT}:repository/imgapp-web",
    ]
    assert b.bootstrap(aws, settings).changes == ()
    # Another stage naming the same repository is refused before anything is written.
    other = StageSettings(name="imgapp", stage="prod", repositories=("imgapp-web",))
    with pytest.raises(OwnershipError, match="ECR repository imgapp-web"):
        b.bootstrap(aws, other)


@pytest.mark.skipif(shutil.which("docker-registry") is None, reason="no docker-registry binary")
def test_ecr_uris_and_login_point_at_the_emulators_registry(
    endpoint: str, boto_client: Callable[..., Any]
) -> None:
    ecr = boto_client("ecr", region="eu-north-1")
    uri = ecr.create_repository(repositoryName="uri-check")["repository"]["repositoryUri"]
    host, _, name = uri.partition("/")
    assert host.startswith("127.0.0.1:") and name == "uri-check"
    with urllib.request.urlopen(f"http://{host}/v2/", timeout=5) as answer:
        assert answer.status == 200  # a real registry answers there
    login = ecr.get_authorization_token()["authorizationData"][0]
    assert login["proxyEndpoint"] == f"http://{host}"
    assert base64.b64decode(login["authorizationToken"]).decode().startswith("AWS:")
    assert ecr.describe_images(repositoryName="uri-check")["imageDetails"] == []
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_images(repositoryName="no-such-repository")


def test_the_runner_names_what_is_missing_when_there_is_no_docker(tmp_path: Path) -> None:
    from cbdeploy.runner.images import ImageBuilder, ImageError, ImageSpec

    spec = ImageSpec("api", "API", ".", "Dockerfile", "api")
    no_docker = ImageBuilder(
        (spec,), tmp_path, io.StringIO(), {"PATH": str(tmp_path)}, "dev", "us-east-1"
    )
    with pytest.raises(ImageError, match="docker is not installed"):
        no_docker.run()
    if shutil.which("docker") is None:
        return
    path = str(Path(shutil.which("docker") or "").parent)
    dead = {"PATH": path, "DOCKER_HOST": f"unix://{tmp_path}/none.sock", "HOME": str(tmp_path)}
    no_engine = ImageBuilder((spec,), tmp_path, io.StringIO(), dead, "dev", "us-east-1")
    with pytest.raises(ImageError, match="no Docker engine answers") as info:
        no_engine.run()
    assert "none.sock" in str(info.value)


@pytest.mark.docker
def test_describe_and_batch_get_report_what_was_really_pushed(
    endpoint: str, boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    ecr = boto_client("ecr")
    uri = ecr.create_repository(repositoryName="pushed-check")["repository"]["repositoryUri"]
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "file.txt").write_text("hello\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY file.txt /file.txt\n")
    env = {"DOCKER_CONFIG": str(tmp_path / "docker"), "PATH": "/usr/local/bin:/usr/bin:/bin"}

    def docker(*args: str) -> str:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        docker("build", "-q", "-t", f"{uri}:v1", str(context))
        pushed = docker("push", f"{uri}:v1")
        digest = next(w for w in pushed.split() if w.startswith("sha256:"))
    finally:
        subprocess.run(["docker", "image", "rm", "-f", f"{uri}:v1"], capture_output=True, check=False)
    [detail] = ecr.describe_images(repositoryName="pushed-check")["imageDetails"]
    assert detail["imageDigest"] == digest and detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] > 0
    answer = ecr.batch_get_image(
        repositoryName="pushed-check", imageIds=[{"imageTag": "v1"}, {"imageTag": "nope"}]
    )
    manifest = json.loads(answer["images"][0]["imageManifest"])
    assert answer["images"][0]["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    assert len(manifest["layers"]) == 1
    assert [f["failureCode"] for f in answer["failures"]] == ["ImageNotFound"]
