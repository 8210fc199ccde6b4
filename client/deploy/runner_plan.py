"""What the build is told: the runner's plan, environment variables, cache settings.

``archive_entries`` gives the files cbdeploy adds to the archive next to the
project: ``.cbdeploy/plan.json`` (the ordered steps for one stage, as the
runner reads them; a workspace's service adds ``"folder"``, its folder under the
shipped root, where the runner runs the pipeline) and the runner's own modules under ``.cbdeploy/runner/``.
The plan is byte-for-byte deterministic (sorted keys, no time, no git state),
so an unchanged project gives an unchanged archive and the upload is skipped.

Plan format (version 1)::

    {"version": 1, "project": "my-api", "stage": "dev", "region": "us-east-1",
     "outputsFile": "outputs.json" | null, "secretNames": ["API_TOKEN", ...],
     "steps": [{"name": "install", "kind": "install", "commands": ["npm ci"],
                "environment": {}, "workingDirectory": null}, ...]}

With ``[images]`` the plan also holds ``"images"`` (``client.infra.images.plan_images``)
and a step ``{"name": "images", "kind": "images", "commands": []}`` right after
build, where the runner builds and pushes them.

Step order: install, build, [images,] beforeDeploy:<script>..., deploy, afterDeploy:<script>...;
a pipeline step with no commands is left out. ``region`` is present only when given.
``secretNames`` lists the ``[secrets]`` variables (names only, sorted): the runner
masks their values in what it prints itself, as CodeBuild masks them in the log.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cbdeploy.runner as runner
from cbdeploy.client.config.model import ProjectConfig, Script
from cbdeploy.client.config.schema import secret_reference
from cbdeploy.client.config.statedir import PLAN_PATH
from cbdeploy.client.infra.images import IMAGES_STEP, plan_images
from cbdeploy.client.packaging.gitcmd import GitInfo

RUNNER_DIR = ".cbdeploy/runner"
PLAN_VERSION = 1

def plan(
    config: ProjectConfig, stage: str, region: str | None = None, folder: str | None = None
) -> dict[str, Any]:
    """The runner's plan for ``stage`` as data (see the module docstring).

    ``folder``: a workspace's service folder (POSIX, relative to the shipped root), where
    the runner runs the pipeline; None for a project shipped from its own folder.
    """
    steps: list[dict[str, Any]] = []

    def add(name: str, kind: str, commands: tuple[str, ...], script: Script | None = None) -> None:
        steps.append(
            {
                "name": name,
                "kind": kind,
                "commands": list(commands),
                "environment": dict(script.environment) if script else {},
                "workingDirectory": script.working_directory if script else None,
            }
        )

    pipeline = config.pipeline
    if pipeline.install:
        add("install", "install", pipeline.install)
    if pipeline.build:
        add("build", "build", pipeline.build)
    if config.images:
        add(IMAGES_STEP, IMAGES_STEP, ())  # the runner builds and pushes data["images"]
    for name in config.hooks.before_deploy:
        script = config.scripts[name]
        add(f"beforeDeploy:{name}", "beforeDeploy", script.commands, script)
    if pipeline.deploy:
        add("deploy", "deploy", pipeline.deploy)
    for name in config.hooks.after_deploy:
        script = config.scripts[name]
        add(f"afterDeploy:{name}", "afterDeploy", script.commands, script)
    data: dict[str, Any] = {
        "version": PLAN_VERSION,
        "project": config.name,
        "stage": stage,
        "outputsFile": config.outputs_file,
        "secretNames": sorted(config.secrets),
        "steps": steps,
    }
    if region:
        data["region"] = region
    if folder is not None:
        data["folder"] = folder
    if config.images:
        data["images"] = plan_images(config.name, stage, config.images)
    return data


def plan_bytes(
    config: ProjectConfig, stage: str, region: str | None = None, folder: str | None = None
) -> bytes:
    text = json.dumps(plan(config, stage, region, folder), sort_keys=True, indent=2,
                      ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def runner_modules() -> dict[str, bytes]:
    """The runner package's modules, ``{"__main__.py": b"..."}``, read from its folder (an
    install has files: ``importlib.resources`` would load zipfile for nothing)."""
    folder = Path(runner.__file__).parent
    return {
        item.name: Path(item.path).read_bytes()
        for item in sorted(os.scandir(folder), key=lambda item: item.name)
        if item.is_file() and item.name.endswith(".py")
    }


def archive_entries(
    config: ProjectConfig, stage: str, region: str | None = None, folder: str | None = None
) -> dict[str, bytes]:
    """Files to add to the archive: the plan and ``.cbdeploy/runner/<module>.py``.

    With ``codebuild.buildspec`` set the runner is not used, but shipping it
    costs little and keeps the archive's layout the same.
    """
    entries = {PLAN_PATH: plan_bytes(config, stage, region, folder)}
    for name, content in runner_modules().items():
        entries[f"{RUNNER_DIR}/{name}"] = content
    return entries


def environment_variables(
    config: ProjectConfig, stage: str, region: str, git: GitInfo | None
) -> list[dict[str, str]]:
    """CodeBuild ``environmentVariablesOverride``: plain values and secret references.

    Secrets go as PARAMETER_STORE / SECRETS_MANAGER references that CodeBuild
    resolves inside the build; their values never pass through cbdeploy.
    """
    plain: list[tuple[str, str]] = [
        ("STAGE", stage),
        ("REGION", region),
        ("CBDEPLOY_PROJECT", config.name),
    ]
    if git is not None:
        if git.commit:
            plain.append(("CBDEPLOY_GIT_COMMIT", git.commit))
        if git.branch:
            plain.append(("CBDEPLOY_GIT_BRANCH", git.branch))
        plain.append(("CBDEPLOY_GIT_DIRTY", "true" if git.dirty else "false"))
    plain.extend(config.environment.items())
    variables = [{"name": n, "value": v, "type": "PLAINTEXT"} for n, v in plain]
    for name, reference in config.secrets.items():
        kind, value = secret_reference(reference)
        variables.append({"name": name, "value": value, "type": kind})
    return variables
