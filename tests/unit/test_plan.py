"""The plan shipped in the archive, the build's environment variables and cache settings."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from cbdeploy.client.config.load import load_config
from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.deploy.runner_plan import (
    archive_entries,
    environment_variables,
    plan,
)
from cbdeploy.client.infra.model import cache_settings
from cbdeploy.client.packaging.gitcmd import GitInfo, git_info

CONFIG = """\
name = "shop"
[pipeline]
install = ["npm ci"]
deploy = ["npx cdk deploy"]
[hooks]
beforeDeploy = ["check"]
afterDeploy = ["migrate", "notify"]
[scripts.check]
executeCommand = "npm test"
[scripts.migrate]
executeCommands = ["prisma migrate deploy", "echo done"]
environment = { LOG_LEVEL = "info" }
workingDirectory = "db"
[scripts.notify]
executeCommand = "curl -X POST $HOOK"
[environment]
NODE_ENV = "production"
[secrets]
DATABASE_URL = "ssm:/shop/db"
API_TOKEN = "secretsmanager:shop/token:apiToken"
[outputs]
file = "cdk-outputs.json"
[codebuild]
cache = { type = "local", modes = ["docker-layer", "source", "custom"], paths = ["node_modules/**/*"] }
[stages.prod.codebuild]
cache = { type = "s3" }
[stages.bare.codebuild]
cache = { type = "none" }
"""


def config_for(tmp_path: Path, stage: str = "dev", text: str = CONFIG) -> ProjectConfig:
    (tmp_path / "cbdeploy.toml").write_text(text, encoding="utf-8")
    return load_config(tmp_path, stage)


def test_plan_lists_steps_in_pipeline_order(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    assert plan(config, "dev", "eu-west-1") == {
        "version": 1,
        "project": "shop",
        "stage": "dev",
        "region": "eu-west-1",
        "outputsFile": "cdk-outputs.json",
        "secretNames": ["API_TOKEN", "DATABASE_URL"],  # names only: the runner masks their values
        "steps": [
            {
                "name": "install",
                "kind": "install",
                "commands": ["npm ci"],
                "environment": {},
                "workingDirectory": None,
            },
            {
                "name": "beforeDeploy:check",
                "kind": "beforeDeploy",
                "commands": ["npm test"],
                "environment": {},
                "workingDirectory": None,
            },
            {
                "name": "deploy",
                "kind": "deploy",
                "commands": ["npx cdk deploy"],
                "environment": {},
                "workingDirectory": None,
            },
            {
                "name": "afterDeploy:migrate",
                "kind": "afterDeploy",
                "commands": ["prisma migrate deploy", "echo done"],
                "environment": {"LOG_LEVEL": "info"},
                "workingDirectory": "db",
            },
            {
                "name": "afterDeploy:notify",
                "kind": "afterDeploy",
                "commands": ["curl -X POST $HOOK"],
                "environment": {},
                "workingDirectory": None,
            },
        ],
    }


def test_archive_entries_are_deterministic_and_ship_the_runner(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    first = archive_entries(config, "dev")
    second = archive_entries(config_for(tmp_path), "dev")
    assert first == second
    plan_data = json.loads(first[".cbdeploy/plan.json"])
    assert "region" not in plan_data
    raw = first[".cbdeploy/plan.json"].decode()
    assert raw == json.dumps(plan_data, sort_keys=True, indent=2) + "\n"
    runner_files = sorted(k for k in first if k.startswith(".cbdeploy/runner/"))
    assert ".cbdeploy/runner/__init__.py" in runner_files
    assert ".cbdeploy/runner/__main__.py" in runner_files
    runner_dir = Path(__file__).resolve().parents[2] / "runner"
    assert runner_files == sorted(f".cbdeploy/runner/{p.name}" for p in runner_dir.glob("*.py"))
    for key in runner_files:
        assert first[key] == (runner_dir / key.rsplit("/", 1)[1]).read_bytes()


def test_environment_variables_plain_and_secret_references(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    git = GitInfo(commit="abc123", branch="main", dirty=True)
    assert environment_variables(config, "dev", "us-east-1", git) == [
        {"name": "STAGE", "value": "dev", "type": "PLAINTEXT"},
        {"name": "REGION", "value": "us-east-1", "type": "PLAINTEXT"},
        {"name": "CBDEPLOY_PROJECT", "value": "shop", "type": "PLAINTEXT"},
        {"name": "CBDEPLOY_GIT_COMMIT", "value": "abc123", "type": "PLAINTEXT"},
        {"name": "CBDEPLOY_GIT_BRANCH", "value": "main", "type": "PLAINTEXT"},
        {"name": "CBDEPLOY_GIT_DIRTY", "value": "true", "type": "PLAINTEXT"},
        {"name": "NODE_ENV", "value": "production", "type": "PLAINTEXT"},
        {"name": "DATABASE_URL", "value": "/shop/db", "type": "PARAMETER_STORE"},
        {"name": "API_TOKEN", "value": "shop/token:apiToken", "type": "SECRETS_MANAGER"},
    ]
    names = [v["name"] for v in environment_variables(config, "dev", "us-east-1", None)]
    assert not any(n.startswith("CBDEPLOY_GIT") for n in names)


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (
            "dev",
            {
                "type": "LOCAL",
                "modes": ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE", "LOCAL_CUSTOM_CACHE"],
            },
        ),
        ("prod", {"type": "S3", "location": "cbdeploy-123456789012-us-east-1/cache/shop/prod"}),
        ("bare", {"type": "NO_CACHE"}),
    ],
)
def test_cache_settings(tmp_path: Path, stage: str, expected: dict[str, object]) -> None:
    config = config_for(tmp_path, stage)
    assert cache_settings(config, "cbdeploy-123456789012-us-east-1") == expected


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_git_info(tmp_path: Path) -> None:
    assert git_info(tmp_path) is None
    git(tmp_path, "init", "-q", "-b", "main")
    assert git_info(tmp_path) == GitInfo(commit=None, branch="main", dirty=False)
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    (tmp_path / ".gitignore").write_text("ignored\n", encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "one")
    info = git_info(tmp_path)
    assert info is not None and info.branch == "main" and not info.dirty
    assert info.commit is not None and len(info.commit) == 40
    (tmp_path / "ignored").write_text("x", encoding="utf-8")
    assert git_info(tmp_path) == info  # ignored files are not shipped: still clean
    (tmp_path / "new.txt").write_text("x", encoding="utf-8")
    assert git_info(tmp_path) == GitInfo(commit=info.commit, branch="main", dirty=True)
    git(tmp_path, "checkout", "-q", "--detach")
    detached = git_info(tmp_path)
    assert detached is not None and detached.branch is None


def test_git_info_told_the_selections_untracked_answer_agrees_with_a_full_status(
    tmp_path: Path,
) -> None:
    """A deploy tells git_info whether the selection found an untracked file to ship; git
    then only looks at tracked files. Each work-tree state gets the same answer as a
    status that looks for untracked files itself."""
    from cbdeploy.client.packaging import select_files

    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / ".gitignore").write_text("ignored\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "one")

    def both() -> tuple[GitInfo | None, GitInfo | None]:
        selection = select_files(tmp_path)
        return git_info(tmp_path), git_info(tmp_path, untracked=selection.untracked)

    states = []
    for change in (
        lambda: None,  # clean
        lambda: (tmp_path / "ignored").write_text("x", encoding="utf-8"),  # still clean
        lambda: (tmp_path / "new.txt").write_text("x", encoding="utf-8"),  # untracked
        lambda: (tmp_path / "new.txt").unlink(),
        lambda: (tmp_path / "a.txt").write_text("b", encoding="utf-8"),  # modified
        lambda: git(tmp_path, "add", "a.txt"),  # staged
        lambda: git(tmp_path, "commit", "-q", "-m", "two"),
        lambda: (tmp_path / "a.txt").unlink(),  # deleted
    ):
        change()
        full, told = both()
        assert told == full
        states.append(full is not None and full.dirty)
    assert states == [False, False, True, False, True, True, False, True]


def test_plan_skips_empty_pipeline_steps(tmp_path: Path) -> None:
    config = config_for(tmp_path, text=textwrap.dedent('[pipeline]\ndeploy = ["make"]\n'))
    assert [s["name"] for s in plan(config, "dev")["steps"]] == ["deploy"]
