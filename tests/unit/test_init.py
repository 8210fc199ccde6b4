"""Project detection for `cbdeploy init` and the starter configs it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cbdeploy.client.config.load import load_config
from cbdeploy.client.config.scaffold import PLACEHOLDER_DEPLOY, detect, starter_config
from cbdeploy.client.deploy.runner_plan import plan

CDK_SAM_TEMPLATE = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"

PROJECTS: dict[str, dict[str, str]] = {
    "cdk-npm": {
        "package.json": '{"scripts": {"build": "tsc"}}',
        "package-lock.json": "{}",
        "cdk.json": "{}",
    },
    "cdk-pnpm-docker": {
        "package.json": "{}",
        "pnpm-lock.yaml": "",
        "cdk.json": "{}",
        "Dockerfile": "FROM scratch\n",
    },
    "cdk-python": {"cdk.json": '{"app": "python3 app.py"}', "requirements.txt": "aws-cdk-lib\n"},
    "serverless-yarn": {"package.json": "{}", "yarn.lock": "", "serverless.yml": "service: x\n"},
    "sam": {"template.yaml": CDK_SAM_TEMPLATE, "requirements.txt": "boto3\n"},
    "terraform": {"main.tf": "terraform {}\n"},
    "docker": {"Dockerfile": "FROM python:3.12\n"},
    "python": {"pyproject.toml": "[project]\nname = 'x'\n"},
    "node": {"package.json": "{}"},
    "generic": {"README.md": "hello\n"},
}


def make_project(tmp_path: Path, kind: str) -> Path:
    root = tmp_path / kind
    root.mkdir()
    for name, content in PROJECTS[kind].items():
        (root / name).write_text(content, encoding="utf-8")
    return root


@pytest.mark.parametrize("kind", sorted(PROJECTS))
def test_every_starter_config_loads_for_every_stage(tmp_path: Path, kind: str) -> None:
    root = make_project(tmp_path, kind)
    text, found = starter_config(root)
    (root / "cbdeploy.toml").write_text(text, encoding="utf-8")
    dev = load_config(root, "dev")
    production = load_config(root, "production")
    assert dev.name == kind
    assert dev.pipeline.deploy == found.deploy
    assert dev.confirm is False and production.confirm is True
    assert text.count("\n# ") > 20  # commented


def test_cdk_with_npm(tmp_path: Path) -> None:
    found = detect(make_project(tmp_path, "cdk-npm"))
    assert found.labels == ("AWS CDK app", "npm")
    assert found.install == ("npm ci",)
    assert found.build == ("npm run build",)
    assert found.deploy == (
        "npx cdk deploy --all --require-approval never --outputs-file cdk-outputs.json",
    )
    assert found.outputs_file == "cdk-outputs.json"
    assert found.admin_policy and not found.docker


def test_cdk_in_python_installs_its_requirements_and_fetches_the_cli(tmp_path: Path) -> None:
    found = detect(make_project(tmp_path, "cdk-python"))
    assert found.labels == ("AWS CDK app",)
    assert found.install == ("pip install -r requirements.txt",)
    assert found.deploy == (
        "npx aws-cdk deploy --all --require-approval never --outputs-file cdk-outputs.json",
    )


def test_cdk_with_pnpm_and_a_dockerfile_gets_docker(tmp_path: Path) -> None:
    root = make_project(tmp_path, "cdk-pnpm-docker")
    text, found = starter_config(root)
    assert found.labels == ("AWS CDK app", "pnpm", "Dockerfile")
    assert found.install == ("corepack enable", "pnpm install --frozen-lockfile")
    assert found.deploy[0].startswith("pnpm exec cdk deploy")
    (root / "cbdeploy.toml").write_text(text, encoding="utf-8")
    codebuild = load_config(root, "dev").codebuild
    assert codebuild.privileged_mode and codebuild.ecr_login
    assert codebuild.cache.modes == ("docker-layer", "custom")
    assert codebuild.cache.paths == ("node_modules/**/*",)


def test_serverless_with_yarn(tmp_path: Path) -> None:
    found = detect(make_project(tmp_path, "serverless-yarn"))
    assert found.labels == ("Serverless Framework service", "yarn")
    assert found.install == ("corepack enable", "yarn install --frozen-lockfile")
    assert found.deploy == ('yarn serverless deploy --stage "$STAGE" --region "$REGION"',)


def test_sam(tmp_path: Path) -> None:
    found = detect(make_project(tmp_path, "sam"))
    assert found.labels == ("AWS SAM application",)
    assert found.install == ("pip install -r requirements.txt",)
    assert found.build == ("sam build",)
    assert found.deploy[0].startswith('sam deploy --stack-name "$CBDEPLOY_PROJECT-$STAGE"')


def test_a_plain_cloudformation_template_is_not_sam(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("Resources: {}\n", encoding="utf-8")
    assert detect(tmp_path).labels == ("project",)


def test_terraform_writes_flat_non_sensitive_outputs(tmp_path: Path) -> None:
    root = make_project(tmp_path, "terraform")
    found = detect(root)
    assert found.labels == ("Terraform configuration",)
    assert found.outputs_file == "tf-outputs.json"
    assert found.environment["TF_VERSION"]
    assert "terraform apply -input=false -auto-approve" in found.deploy
    text, _ = starter_config(root)
    assert "remote backend" in text
    # The outputs one-liner really turns `terraform output -json` into {name: value}.
    script = (
        found.deploy[1].split("|", 1)[1].rsplit(">", 1)[0].replace("python3", sys.executable, 1)
    )
    tf_json = {
        "url": {"value": "https://x", "type": "string", "sensitive": False},
        "password": {"value": "hunter2", "type": "string", "sensitive": True},
    }
    done = subprocess.run(
        ["bash", "-c", script],
        input=json.dumps(tf_json),
        text=True,
        capture_output=True,
        check=True,
    )
    assert json.loads(done.stdout) == {"url": "https://x"}


def test_dockerfile_alone_becomes_an_image_cbdeploy_builds_and_pushes(tmp_path: Path) -> None:
    root = make_project(tmp_path, "docker")
    found = detect(root)
    assert found.labels == ("Docker image",)
    assert found.docker and found.image
    assert found.build == ()
    assert any("$IMAGE_URI_APP" in command for command in found.deploy)
    text, _ = starter_config(root)
    (root / "cbdeploy.toml").write_text(text)
    config = load_config(root, "dev")
    assert config.images["app"].context == "."
    # [images] turn privileged mode on themselves; no hand-made ECR login or local cache.
    assert not config.codebuild.privileged_mode and not config.codebuild.ecr_login
    assert config.codebuild.cache.type == "none"
    assert plan(config, "dev")["images"][0]["repository"] == f"cbdeploy/{config.name}/dev/app"


@pytest.mark.parametrize(
    ("kind", "label"),
    [("python", "Python project"), ("node", "Node.js project"), ("generic", "project")],
)
def test_unrecognised_deploy_gets_a_failing_placeholder(
    tmp_path: Path, kind: str, label: str
) -> None:
    found = detect(make_project(tmp_path, kind))
    assert found.labels[0] == label
    assert found.deploy == (PLACEHOLDER_DEPLOY,)
    assert not found.admin_policy
