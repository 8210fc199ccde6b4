"""[images]: config validation, the runner's plan, bootstrap's repositories and grants,
and the docker commands the runner runs for each builder (all pure, no Docker)."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from cbdeploy.client.config.load import load_config
from cbdeploy.client.deploy.runner_plan import plan
from cbdeploy.client.errors import ConfigError, OwnershipError
from cbdeploy.client.infra import bootstrap as b
from cbdeploy.client.infra.images import REPOSITORY_ACTIONS
from cbdeploy.client.infra.model import StageSettings, base_role_policy, stage_settings
from cbdeploy.client.infra.names import stage_names
from cbdeploy.runner.images import ImageSpec, build_commands, image_tag, load_images

CONFIG = """\
name = "shop"

[pipeline]
build = ["make"]
deploy = ["./deploy.sh"]

[hooks]
beforeDeploy = ["check"]

[scripts.check]
executeCommand = "true"

[images.api]
context = "services/api"
repository = "shop-api"
buildArgs = { NODE_ENV = "production" }
target = "runtime"
platform = "linux/amd64"

[images.worker-v2]
context = "worker"
dockerfile = "docker/Dockerfile.worker"
cache = false
"""


def project(tmp_path: Path, text: str = CONFIG) -> Path:
    (tmp_path / "services" / "api").mkdir(parents=True)
    (tmp_path / "services" / "api" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "worker" / "docker").mkdir(parents=True)
    (tmp_path / "worker" / "docker" / "Dockerfile.worker").write_text("FROM scratch\n")
    (tmp_path / "cbdeploy.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def error_for(tmp_path: Path, images: str) -> ConfigError:
    project(tmp_path, 'name = "shop"\n' + textwrap.dedent(images))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, "dev")
    return info.value


def test_images_load_with_defaults(tmp_path: Path) -> None:
    config = load_config(project(tmp_path), "dev")
    api, worker = config.images["api"], config.images["worker-v2"]
    assert (api.context, api.dockerfile, api.repository, dict(api.build_args)) == (
        "services/api", "Dockerfile", "shop-api", {"NODE_ENV": "production"}
    )
    assert (api.target, api.platform, api.cache) == ("runtime", "linux/amd64", True)
    assert (worker.repository, worker.cache, worker.env_suffix) == (None, False, "WORKER_V2")


@pytest.mark.parametrize(
    ("images", "key", "words"),
    [
        ('[images.api]\ncontext = "nowhere"\n', "images.api.context", "not a directory"),
        ('[images.api]\ncontext = "worker"\n', "images.api.dockerfile", "no worker/Dockerfile"),
        ('[images.api]\ncontext = "../up"\n', "images.api.context", "inside the project"),
        (
            '[images.api]\ncontext = "services/api"\nrepository = "Shop_API"\n',
            "images.api.repository",
            "not a valid ECR repository name",
        ),
        ('[images.api]\ncontext = "services/api"\ncache = "yes"\n', "images.api.cache", "true or false"),
        ('[images.api]\ncontext = "services/api"\ntag = "x"\n', "images.api.tag", "unknown key"),
        ('[images.1api]\ncontext = "services/api"\n', "images.1api", "not a valid image name"),
        (
            '[images.a-b]\ncontext = "services/api"\n[images.a_b]\ncontext = "services/api"\n',
            "images.a_b",
            "IMAGE_URI_A_B",
        ),
        (
            '[codebuild]\ncomputeType = "BUILD_LAMBDA_1GB"\n'
            '[images.api]\ncontext = "services/api"\n',
            "images",
            "Lambda",
        ),
    ],
)
def test_bad_images_are_refused_with_the_key(
    tmp_path: Path, images: str, key: str, words: str
) -> None:
    error = error_for(tmp_path, images)
    assert key in str(error) and words in str(error)


def test_plan_builds_images_after_build_and_before_the_hooks(tmp_path: Path) -> None:
    config = load_config(project(tmp_path), "dev")
    data = plan(config, "dev", "eu-west-1")
    assert [s["name"] for s in data["steps"]] == ["build", "images", "beforeDeploy:check", "deploy"]
    assert data["images"] == [
        {
            "name": "api", "envSuffix": "API", "context": "services/api",
            "dockerfile": "Dockerfile", "repository": "shop-api",
            "buildArgs": {"NODE_ENV": "production"}, "target": "runtime",
            "platform": "linux/amd64", "cache": True,
        },
        {
            "name": "worker-v2", "envSuffix": "WORKER_V2", "context": "worker",
            "dockerfile": "docker/Dockerfile.worker", "repository": "cbdeploy/shop/dev/worker-v2",
            "buildArgs": {}, "target": None, "platform": None, "cache": False,
        },
    ]
    # What the runner reads back is what the client wrote.
    specs = load_images(json.loads(json.dumps(data["images"])))
    assert specs[0].build_args == (("NODE_ENV", "production"),) and specs[1].cache is False


def test_a_project_without_images_has_no_images_step(tmp_path: Path) -> None:
    (tmp_path / "cbdeploy.toml").write_text('name = "x"\n[pipeline]\nbuild = ["make"]\n')
    data = plan(load_config(tmp_path, "dev"), "dev")
    assert "images" not in data and [s["name"] for s in data["steps"]] == ["build"]


def test_images_turn_on_privileged_mode_and_grant_exactly_their_repositories(
    tmp_path: Path,
) -> None:
    config = load_config(project(tmp_path), "dev")
    settings = stage_settings(config, "eu-west-1", "123456789012")
    assert settings.privileged_mode is True
    assert settings.repositories == ("cbdeploy/shop/dev/worker-v2", "shop-api")
    names = stage_names("shop", "dev", account="123456789012", region="eu-west-1")
    statements = {s["Sid"]: s for s in base_role_policy(settings, names)["Statement"]}
    assert statements["EcrRepositories"] == {
        "Sid": "EcrRepositories",
        "Effect": "Allow",
        "Action": list(REPOSITORY_ACTIONS),
        "Resource": [
            "arn:aws:ecr:eu-west-1:123456789012:repository/cbdeploy/shop/dev/worker-v2",
            "arn:aws:ecr:eu-west-1:123456789012:repository/shop-api",
        ],
    }
    assert statements["EcrLogin"]["Action"] == ["ecr:GetAuthorizationToken"]
    assert statements["EcrLogin"]["Resource"] == ["*"]
    # No other statement mentions ECR.
    others = [s for sid, s in statements.items() if sid not in ("EcrRepositories", "EcrLogin")]
    assert not any("ecr:" in json.dumps(s) for s in others)


def test_bootstrap_creates_missing_repositories_tagged_and_refuses_foreign_ones() -> None:
    settings = StageSettings(name="shop", stage="dev", repositories=("shop-api", "shop-web"))
    names = stage_names("shop", "dev", account="123456789012", region="eu-west-1")
    mine = {"repositoryName": "shop-web", "tags": [{"Key": k, "Value": v} for k, v in names.tags.items()]}
    observed = b.Observed(bucket_exists=False, repositories={"shop-web": mine})
    creates = [c for c in b.plan(settings, names, observed) if c.method == "create_repository"]
    assert [c.params for c in creates] == [{"name": "shop-api", "tags": names.tags}]
    foreign = {
        "repositoryName": "shop-api",
        "tags": [{"Key": "cbdeploy:app", "Value": "shop"}, {"Key": "cbdeploy:stage", "Value": "prod"}],
    }
    with pytest.raises(OwnershipError) as info:
        b.plan(settings, names, dataclasses.replace(observed, repositories={"shop-api": foreign}))
    assert "ECR repository shop-api" in str(info.value) and "'prod'" in str(info.value)


SPEC = ImageSpec(
    name="api", env_suffix="API", context="services/api", dockerfile="Dockerfile",
    repository="shop-api", build_args=(("A", "1"),), target="runtime",
)
URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-api"


def test_buildx_uses_a_registry_cache_with_mode_max() -> None:
    [command] = build_commands(SPEC, "buildx", URI, "abc123", "dev", "/tmp/m.json")
    argv = list(command.argv)
    cache = f"{URI}:cbdeploy-cache-dev"
    assert argv[argv.index("--cache-from") + 1] == f"type=registry,ref={cache}"
    assert argv[argv.index("--cache-to") + 1] == (
        f"type=registry,ref={cache},mode=max,image-manifest=true,oci-mediatypes=true"
    )
    assert "--push" in argv and argv[-1] == "services/api"
    assert argv[argv.index("-t") + 1] == f"{URI}:abc123"
    assert argv[argv.index("--target") + 1] == "runtime"
    assert argv[argv.index("--build-arg") + 1] == "A=1"


def test_legacy_builder_pulls_the_previous_image_and_builds_from_it() -> None:
    commands = build_commands(SPEC, "legacy", URI, "abc123", "dev", "/tmp/m.json")
    cache = f"{URI}:cbdeploy-cache-dev"
    assert commands[0].argv == ("docker", "pull", cache) and commands[0].may_fail
    build = list(commands[1].argv)
    assert build[:2] == ["docker", "build"] and commands[1].env == {"DOCKER_BUILDKIT": "0"}
    assert build[build.index("--cache-from") + 1] == cache
    assert "BUILDKIT_INLINE_CACHE=1" in build
    assert [c.argv for c in commands[2:]] == [
        ("docker", "push", f"{URI}:abc123"),
        ("docker", "tag", f"{URI}:abc123", cache),
        ("docker", "push", cache),
    ]


def test_buildkit_inline_cache_needs_no_pull_and_cache_false_turns_it_all_off() -> None:
    commands = build_commands(SPEC, "buildkit", URI, "t", "dev", "/tmp/m.json")
    assert commands[0].env == {"DOCKER_BUILDKIT": "1"}
    assert "--cache-from" in commands[0].argv and "BUILDKIT_INLINE_CACHE=1" in commands[0].argv
    off = dataclasses.replace(SPEC, cache=False)
    for builder in ("buildx", "buildkit", "legacy"):
        argv = [a for c in build_commands(off, builder, URI, "t", "dev", "/m") for a in c.argv]
        assert "cbdeploy-cache" not in " ".join(argv) and "--cache-from" not in argv


def test_image_tag_is_the_commit_with_a_dirty_marker_never_latest() -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert image_tag({"CBDEPLOY_GIT_COMMIT": commit, "CBDEPLOY_GIT_DIRTY": "false"}) == "0123456789ab"
    assert image_tag({"CBDEPLOY_GIT_COMMIT": commit, "CBDEPLOY_GIT_DIRTY": "true"}) == (
        "0123456789ab-dirty"
    )
    assert image_tag({"CODEBUILD_BUILD_NUMBER": "7"}) == "build-7"


def test_the_runners_ecr_signature_is_botocores() -> None:
    """runner/ecr.py signs by hand (stdlib only); botocore's SigV4 signer is the reference."""
    import datetime

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from cbdeploy.runner import ecr

    url, body = "http://127.0.0.1:4566/", b"{}"
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": ecr.TARGET}
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret", "token"), "ecr", "eu-west-1").add_auth(request)
    when = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    ours = ecr.signed_headers(
        url, body, headers, ecr.Credentials("AKIDEXAMPLE", "secret", "token"), "eu-west-1", "ecr",
        when.replace(tzinfo=datetime.timezone.utc),
    )
    assert ours["authorization"] == request.headers["Authorization"]


def test_a_stage_overrides_an_images_repository(tmp_path: Path) -> None:
    project(tmp_path, CONFIG + '\n[stages.prod.images.api]\nrepository = "shop-api-prod"\n')
    assert load_config(tmp_path, "prod").images["api"].repository == "shop-api-prod"
    assert load_config(tmp_path, "prod").images["api"].context == "services/api"
    assert load_config(tmp_path, "dev").images["api"].repository == "shop-api"
