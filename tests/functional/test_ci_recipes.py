"""The CI recipes in docs/ci.md and the composite action in action.yml really deploy
(issue 17, item 2).

The test parses every ``yaml`` and ``sh`` block of docs/ci.md (PyYAML) and
runs their shell steps in subprocesses against the session's emulator, in a
project folder, the way the CI system would:

- GitHub Actions: each job's ``run:`` steps in order with ``bash -eo pipefail``
  (GitHub's default shell), ``$GITHUB_OUTPUT``/``$GITHUB_PATH``/``$RUNNER_TEMP``
  honoured, ``${{ ... }}`` expressions resolved from the step outputs, inputs and
  a small ``github`` context; a step that ``uses:`` cbdeploy's own action runs
  action.yml's composite steps with its ``with:`` inputs. Other ``uses:`` steps
  (checkout, setup-python, configure-aws-credentials) are not run: the
  emulator's credentials stand in for the OIDC exchange.
- GitLab CI: each job's ``script:`` lines with its ``variables:``;
  ``before_script:`` (the OIDC exchange with ``aws sts``) is not run, for the
  same reason.
- A plain shell runner: the ``sh`` block as a script.

What installs cbdeploy (``pip install``/``pipx install``/``python3 -m venv`` lines,
action.yml's ``install`` step) is replaced by this test venv's ``cbdeploy``
first on PATH: the recipes run against the code under test, not PyPI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ci.md"
ACTION = ROOT / "action.yml"
BIN = Path(sys.executable).parent
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
INSTALL = re.compile(r"^\s*(\S*pip3? install|pipx install|uv tool install|python3? -m (venv|pip))")
OUR_ACTION = re.compile(r"/cbdeploy@")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), re.M | re.S)


def resolve(text: str, context: Mapping[str, Any]) -> str:
    """Replace each ``${{ a.b.c }}`` by its value in ``context`` (unknown: the test fails)."""

    def value(match: re.Match[str]) -> str:
        found: Any = context
        for part in match.group(1).split("."):
            assert isinstance(found, Mapping) and part in found, f"unknown {match.group(0)}"
            found = found[part]
        return str(found)

    return EXPRESSION.sub(value, text)


def without_install(script: str) -> str:
    return "\n".join(line for line in script.splitlines() if not INSTALL.match(line))


def read_outputs(path: Path) -> dict[str, str]:
    """``name=value`` and ``name<<DELIMITER`` ... ``DELIMITER`` lines, as GitHub reads them."""
    found: dict[str, str] = {}
    lines = iter(path.read_text().splitlines()) if path.exists() else iter(())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            found[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


class Runner:
    """Runs shell steps the way a CI system does, in ``workspace``, against the emulator."""

    def __init__(self, workspace: Path, env: Mapping[str, str], tmp: Path) -> None:
        self.workspace = workspace
        self.tmp = tmp
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))},
            **env,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
            "XDG_CONFIG_HOME": str(tmp / "xdg"),
        }
        self.count = 0

    def shell(
        self, script: str, env: Mapping[str, str], *, cwd: Path | None = None, bash: bool = True
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        self.count += 1
        file = self.tmp / f"step-{self.count}.sh"
        file.write_text(without_install(script))
        outputs = self.tmp / f"output-{self.count}"
        step_env = {**self.env, **env, "GITHUB_OUTPUT": str(outputs)}
        command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(file)] if bash \
            else ["sh", "-e", str(file)]
        done = subprocess.run(
            command, cwd=cwd or self.workspace, env=step_env, capture_output=True, text=True,
            timeout=240,
        )
        return done, read_outputs(outputs)

    # ------------------------------------------------------------------ GitHub

    def github_env(self) -> dict[str, str]:
        runner_temp = self.tmp / "runner-temp"
        runner_temp.mkdir(exist_ok=True)
        return {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_RUN_ID": "1",
            "GITHUB_PATH": str(self.tmp / "github-path"),
            "GITHUB_STEP_SUMMARY": str(self.tmp / "step-summary.md"),
            "RUNNER_TEMP": str(runner_temp),
        }

    def github_steps(
        self, steps: list[dict[str, Any]], context: dict[str, Any], env: Mapping[str, str]
    ) -> dict[str, dict[str, str]]:
        """Run ``steps``; returns each step id's outputs. A failing step fails the test."""
        context.setdefault("steps", {})
        for step in steps:
            step_env = {**env, **{k: resolve(str(v), context) for k, v in
                                  (step.get("env") or {}).items()}}
            if "uses" in step:
                if not OUR_ACTION.search(step["uses"]):
                    continue  # checkout, setup-python, configure-aws-credentials
                inputs = {k: resolve(str(v), context) for k, v in (step.get("with") or {}).items()}
                outputs = self.action(inputs, step_env)
            else:
                cwd = self.workspace / resolve(step.get("working-directory", "."), context)
                done, outputs = self.shell(resolve(step["run"], context),
                                           {**self.github_env(), **step_env}, cwd=cwd)
                assert done.returncode == 0, (step, done.stdout, done.stderr)
            if "id" in step:
                context["steps"][step["id"]] = {"outputs": outputs}
        return context["steps"]  # type: ignore[no-any-return]

    def action(self, inputs: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
        """action.yml as a composite action with ``inputs``: its outputs."""
        action = yaml.safe_load(ACTION.read_text())
        declared = action["inputs"]
        unknown = set(inputs) - set(declared)
        assert not unknown, f"action.yml has no input {unknown}"
        for name, spec in declared.items():
            assert name in inputs or not spec.get("required"), f"input {name} is required"
        context: dict[str, Any] = {
            "inputs": {n: inputs.get(n, str(s.get("default", ""))) for n, s in declared.items()},
            "steps": {},
        }
        steps = [s for s in action["runs"]["steps"] if s.get("id") != "install"]
        assert action["runs"]["using"] == "composite" and all("run" in s for s in steps)
        self.github_steps(steps, context, env)
        return {n: resolve(o["value"], context) for n, o in action["outputs"].items()}


def make_project(workspace: Path) -> str:
    name = f"ci{uuid.uuid4().hex[:10]}"
    (workspace / "cbdeploy.toml").write_text(
        f'name = "{name}"\n\n[pipeline]\nbuild = ["echo building"]\n'
        "deploy = [\"echo '{\\\"url\\\": \\\"https://example.test\\\"}' > outputs.json\"]\n"
        '\n[outputs]\nfile = "outputs.json"\n'
    )
    return name


@pytest.fixture
def runner(emulator_env: dict[str, str], tmp_path: Path) -> Runner:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    make_project(workspace)
    return Runner(workspace, emulator_env, tmp_path)


def github_workflows() -> list[dict[str, Any]]:
    found = [yaml.safe_load(b) for b in blocks("yaml")]
    return [w for w in found if "jobs" in w]


def gitlab_jobs() -> list[dict[str, Any]]:
    found = [yaml.safe_load(b) for b in blocks("yaml")]
    return [job for w in found if "jobs" not in w for job in w.values()
            if isinstance(job, dict) and "script" in job]


def test_the_doc_has_every_kind_of_recipe() -> None:
    assert len(github_workflows()) >= 2
    assert any(OUR_ACTION.search(s.get("uses", "")) for w in github_workflows()
               for job in w["jobs"].values() for s in job["steps"])
    assert any("configure-aws-credentials" in s.get("uses", "") for w in github_workflows()
               for job in w["jobs"].values() for s in job["steps"])
    assert all(w["permissions"]["id-token"] == "write" for w in github_workflows())
    assert len(gitlab_jobs()) >= 1 and all("id_tokens" in j for j in gitlab_jobs())
    assert len(blocks("sh")) >= 1
    assert "AWS_SECRET_ACCESS_KEY:" not in DOC.read_text()  # no long-lived keys in a recipe


@pytest.mark.parametrize("index", range(len(github_workflows())))
def test_github_workflow_recipe_deploys(runner: Runner, index: int) -> None:
    workflow = github_workflows()[index]
    github = {"event": {"number": 42}, "workspace": str(runner.workspace)}
    for job in workflow["jobs"].values():
        context: dict[str, Any] = {"github": github}
        env = {k: resolve(str(v), context) for k, v in (job.get("env") or {}).items()}
        steps = runner.github_steps(job["steps"], context, env)
        # A recipe using the action gets its outputs.
        for step in job["steps"]:
            if OUR_ACTION.search(step.get("uses", "")):
                outputs = steps[step["id"]]["outputs"]
                assert outputs["status"] == "SUCCEEDED", outputs
                assert outputs["build-id"].startswith("cbdeploy-"), outputs
                assert json.loads(outputs["outputs"]) == {"url": "https://example.test"}
                assert json.loads(Path(outputs["report"]).read_text())["status"] == "SUCCEEDED"
    assert (runner.workspace / "outputs.json").exists() is False  # built remotely, not here


def test_gitlab_recipe_deploys(runner: Runner) -> None:
    for job in gitlab_jobs():
        variables = {k: str(v) for k, v in (job.get("variables") or {}).items()}
        done, _ = runner.shell("\n".join(job["script"]), variables)
        assert done.returncode == 0, (done.stdout, done.stderr)
        report = json.loads((runner.workspace / "report.json").read_text())
        assert report["status"] == "SUCCEEDED" and report["stage"] == variables["STAGE"]
        assert report["buildId"] in done.stdout


def test_shell_runner_recipe_deploys(runner: Runner) -> None:
    for script in blocks("sh"):
        done, _ = runner.shell(script, {"STAGE": "dev"}, bash=False)
        assert done.returncode == 0, (done.stdout, done.stderr)
        report = json.loads((runner.workspace / "report.json").read_text())
        assert report["status"] == "SUCCEEDED" and report["outputs"] == {
            "url": "https://example.test"
        }
        assert f"{report['buildId']} SUCCEEDED" in done.stdout


def test_action_fails_the_step_on_a_failed_build_and_still_sets_its_outputs(
    runner: Runner,
) -> None:
    toml = runner.workspace / "cbdeploy.toml"
    toml.write_text(toml.read_text().replace('"echo building"', '"exit 3"'))
    action = yaml.safe_load(ACTION.read_text())
    deploy = next(s for s in action["runs"]["steps"] if s["id"] == "deploy")
    env = {"CBDEPLOY_STAGE": "dev", "CBDEPLOY_REGION": "us-east-1",
           "CBDEPLOY_ARGS": "--no-cache"}
    done, outputs = runner.shell(deploy["run"], {**runner.github_env(), **env})
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert outputs["status"] == "FAILED" and outputs["build-id"].startswith("cbdeploy-")
    assert "::error" in done.stdout + done.stderr  # the failing step, annotated


def test_action_inputs_working_directory_args_and_region_from_the_environment(
    runner: Runner,
) -> None:
    app = runner.workspace / "services" / "app"
    app.mkdir(parents=True)
    (runner.workspace / "cbdeploy.toml").rename(app / "cbdeploy.toml")
    outputs = runner.action(
        {"stage": "pr-7", "working-directory": "services/app", "args": "--no-cache --yes"},
        {},  # no region input: AWS_REGION (configure-aws-credentials sets it) is used
    )
    assert outputs["status"] == "SUCCEEDED", outputs
    report = json.loads(Path(outputs["report"]).read_text())
    assert report["stage"] == "pr-7" and report["region"] == "us-east-1"
    assert json.loads(outputs["outputs"]) == {"url": "https://example.test"}
