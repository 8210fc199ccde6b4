"""The rendered buildspec, compared as data, and its shell parts run in bash."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from cbdeploy.client.config.load import load_config
from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.deploy.buildspec import buildspec_data, render_buildspec, template
from cbdeploy.client.deploy.runner_plan import archive_entries
from cbdeploy.client.errors import ConfigError

RUN_RUNNER = (
    '"$CBDEPLOY_PYTHON" -I -S "$CODEBUILD_SRC_DIR/.cbdeploy/runner" '
    '"$CODEBUILD_SRC_DIR/.cbdeploy/plan.json"'
)


PREPARE = (
    '"$CBDEPLOY_PYTHON" -I -S "$CODEBUILD_SRC_DIR/.cbdeploy/runner" --prepare '
    '"$CODEBUILD_SRC_DIR/.cbdeploy/plan.json"'
)


def config_for(tmp_path: Path, text: str, stage: str = "dev") -> ProjectConfig:
    (tmp_path / "cbdeploy.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(tmp_path, stage)


def find_python() -> str:
    return str(template()["phases"]["install"]["commands"][0])


def ecr_login() -> str:
    return str(template()["phases"]["pre_build"]["commands"][0])


def test_default_buildspec(tmp_path: Path) -> None:
    spec = yaml.safe_load(render_buildspec(config_for(tmp_path, "")))
    assert spec == {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "install": {"commands": [find_python(), PREPARE]},
            "build": {"commands": [RUN_RUNNER]},
        },
    }
    assert "sys.version_info >= (3, 9)" in find_python()


def test_ecr_login_and_cache_paths(tmp_path: Path) -> None:
    config = config_for(
        tmp_path,
        """\
        [codebuild]
        privilegedMode = true
        ecrLogin = true
        cache = { type = "local", paths = ["node_modules/**/*", "/root/.npm/**/*"] }
        """,
    )
    spec = yaml.safe_load(render_buildspec(config))
    assert spec == {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "install": {"commands": [find_python(), PREPARE]},
            "pre_build": {"commands": [ecr_login()]},
            "build": {"commands": [RUN_RUNNER]},
        },
        "cache": {"paths": ["node_modules/**/*", "/root/.npm/**/*"]},
    }
    assert "aws ecr get-login-password" in ecr_login()
    assert "docker login --username AWS --password-stdin" in ecr_login()


def test_ecr_registry_comes_from_the_build_arn(tmp_path: Path) -> None:
    """The login step, run with stub aws and docker commands, targets the account's registry."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text('#!/bin/sh\necho "aws $*" >&2\necho token\n', encoding="utf-8")
    (bin_dir / "docker").write_text('#!/bin/sh\necho "docker $* stdin=$(cat)"\n', encoding="utf-8")
    for tool in ("aws", "docker"):
        (bin_dir / tool).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AWS_REGION": "eu-central-1",
        "CODEBUILD_BUILD_ARN": "arn:aws:codebuild:eu-central-1:210987654321:build/p:1",
    }
    done = subprocess.run(
        ["bash", "-c", ecr_login()], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == (
        "docker login --username AWS --password-stdin "
        "210987654321.dkr.ecr.eu-central-1.amazonaws.com stdin=token"
    )
    assert "aws ecr get-login-password --region eu-central-1" in done.stderr


def test_s3_cache_paths_and_no_paths(tmp_path: Path) -> None:
    spec = yaml.safe_load(
        render_buildspec(
            config_for(tmp_path, '[codebuild]\ncache = { type = "s3", paths = [".venv/**/*"] }\n')
        )
    )
    assert spec["cache"] == {"paths": [".venv/**/*"]}
    spec = yaml.safe_load(
        render_buildspec(
            config_for(
                tmp_path, '[codebuild]\ncache = { type = "local", modes = ["docker-layer"] }\n'
            )
        )
    )
    assert "cache" not in spec


def test_users_own_buildspec_is_sent_as_written(tmp_path: Path) -> None:
    text = "version: 0.2\nphases:\n  build:\n    commands:\n      - make deploy  # mine\n"
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "buildspec.yml").write_text(text, encoding="utf-8")
    config = config_for(tmp_path, '[codebuild]\nbuildspec = "ci/buildspec.yml"\n')
    assert render_buildspec(config) == text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("phases: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "not a buildspec"),
        ("version: 0.2\n", "no phases mapping"),
        ("phases:\n  build:\n    commands: [make]\n", "has version None"),
        ("version: 1\nphases:\n  build:\n    commands: [make]\n", "has version 1"),
    ],
)
def test_users_broken_buildspec_is_a_config_error(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "bs.yml").write_text(text, encoding="utf-8")
    config = config_for(tmp_path, '[codebuild]\nbuildspec = "bs.yml"\n')
    with pytest.raises(ConfigError) as info:
        render_buildspec(config)
    assert words in info.value.message and "bs.yml" in info.value.message
    assert info.value.hint is not None and "codebuild.buildspec" in info.value.hint


def test_no_usable_python_fails_with_a_clear_message(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    old = bin_dir / "python3"
    old.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")  # "too old": the check fails
    old.chmod(0o755)
    bash = subprocess.run(["which", "bash"], capture_output=True, text=True).stdout.strip()
    (bin_dir / "bash").symlink_to(bash)
    # This host has a real /usr/bin/python3: look only on PATH.
    script = re.sub(r"for candidate in [^;]*;", "for candidate in python3 python;", find_python())
    done = subprocess.run(
        [str(bin_dir / "bash"), "-c", script],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "no Python 3.9 or newer in this build image" in done.stderr


def test_rendered_phases_run_the_pipeline_in_one_bash(tmp_path: Path) -> None:
    """install + build of the rendered buildspec, run as CodeBuild would, reach the runner."""
    project = tmp_path / "src"
    project.mkdir()
    config = config_for(project, '[pipeline]\ndeploy = ["echo deployed to $STAGE"]\n')
    for name, content in archive_entries(config, "dev", "us-east-1").items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(content)
    spec = yaml.safe_load(render_buildspec(config))
    commands = spec["phases"]["install"]["commands"] + spec["phases"]["build"]["commands"]
    script = "set -e\n" + "\n".join(commands)
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "CODEBUILD_SRC_DIR": str(project),
    }
    done = subprocess.run(
        ["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "deployed to dev" in done.stdout.splitlines()
    assert "cbdeploy: running the pipeline with Python 3." in done.stdout


def test_steps_keep_the_builds_pythonpath_and_import_the_projects_own_runner(
    tmp_path: Path,
) -> None:
    """The runner starts isolated: nothing of it reaches a step's environment or imports."""
    project = tmp_path / "src"
    (project / "pylib").mkdir(parents=True)
    (project / "pylib" / "runner.py").write_text('WHO = "the project\'s runner"\n')
    config = config_for(
        project,
        """\
        [pipeline]
        build = ['echo "pythonpath=$PYTHONPATH"', 'python3 -c "import runner; print(runner.WHO)"']
        """,
    )
    for name, content in archive_entries(config, "dev", "us-east-1").items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(content)
    spec = yaml.safe_load(render_buildspec(config))
    commands = spec["phases"]["install"]["commands"] + spec["phases"]["build"]["commands"]
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "CODEBUILD_SRC_DIR": str(project),
        "PYTHONPATH": "pylib",  # as [environment] sets it, through the build's environment
    }
    done = subprocess.run(
        ["bash", "-c", "set -e\n" + "\n".join(commands)],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pythonpath=pylib" in done.stdout.splitlines()
    assert "the project's runner" in done.stdout.splitlines()


@pytest.mark.parametrize("codebuild", [
    "",
    "[codebuild]\necrLogin = true\n",
    '[codebuild.cache]\ntype = "local"\nmodes = ["custom"]\npaths = ["node_modules/**/*", "./x"]\n',
    '[codebuild]\necrLogin = true\n[codebuild.cache]\ntype = "s3"\n'
    'paths = ["a b/\\"q\\"", "back\\\\slash", "ünï cödé/*", "#not-a-comment", "- dash: colon"]\n',
    '[codebuild.cache]\ntype = "s3"\npaths = []\n',
])
def test_the_rendered_text_is_the_buildspec_as_data(tmp_path: Path, codebuild: str) -> None:
    """A deploy renders the template's text (no YAML library); the batch and these tests
    take it as data: the two agree for every part that is cut or filled."""
    config = config_for(tmp_path, codebuild)
    assert yaml.safe_load(render_buildspec(config)) == buildspec_data(config)


def test_rendering_the_buildspec_loads_no_yaml_library() -> None:
    code = (
        "import sys, tempfile, pathlib\n"
        "from cbdeploy.client.config.load import load_config\n"
        "from cbdeploy.client.deploy.buildspec import render_buildspec\n"
        "root = pathlib.Path(tempfile.mkdtemp())\n"
        "(root / 'cbdeploy.toml').write_text('[codebuild]\\necrLogin = true\\n')\n"
        "assert render_buildspec(load_config(root, 'dev')).startswith('version: 0.2')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('yaml', 'zipfile')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
