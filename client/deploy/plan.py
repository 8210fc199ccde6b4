"""What one deploy tells its build, decided before anything is written or called.

:func:`make_plan` turns the config, the target, the options and the git state
into a frozen :class:`DeployPlan`: the plan and runner entries added to the
archive, the buildspec, the environment variables, compute settings and cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.deploy import workspace_deploy as ws
from cbdeploy.client.deploy.buildspec import render_buildspec
from cbdeploy.client.deploy.runner_plan import archive_entries, environment_variables
from cbdeploy.client.deploy.selection import Request
from cbdeploy.client.infra.names import project_name
from cbdeploy.client.packaging.gitcmd import GitInfo
from cbdeploy.client.target import Target


@dataclass(frozen=True)
class DeployOptions:
    yes: bool = False
    no_package_cache: bool = False  # ignore .cbdeploy/cache/ (compressed entries, file hashes)
    no_build_cache: bool = False  # CodeBuild's cache off for this build
    preserve_temp_files: bool = False
    detach: bool = False
    no_delta: bool = False
    keep_going: bool = False  # a workspace's batch: a failed service lets independent ones finish
    selection: Request = Request()  # --service, --no-deps, --affected, --since


@dataclass(frozen=True)
class DeployPlan:
    """Everything decided before anything is written or called."""

    app: str
    stage: str
    region: str
    project: str
    invocation_id: str
    needs_confirmation: bool
    buildspec: str
    environment: tuple[Mapping[str, str], ...]
    compute_type: str
    image: str
    privileged_mode: bool
    timeout_in_minutes: int
    no_build_cache: bool
    entries: Mapping[str, bytes] = field(repr=False, compare=False)


def make_plan(
    config: ProjectConfig,
    target: Target,
    options: DeployOptions,
    git: GitInfo | None,
    invocation_id: str,
    shipping: ws.Shipping | None = None,
) -> DeployPlan:
    """``shipping``: a workspace's service (``deploy.workspace_deploy``); None: a project alone."""
    codebuild = config.codebuild
    ship = shipping or ws.alone(config)
    return DeployPlan(
        app=ship.app,
        stage=target.stage,
        region=target.region,
        project=project_name(ship.app, target.stage),
        invocation_id=invocation_id,
        needs_confirmation=config.confirm and not options.yes,
        buildspec=render_buildspec(config),
        environment=_environment(config, target, git, ship),
        compute_type=codebuild.compute_type,
        image=codebuild.image,
        privileged_mode=codebuild.privileged_mode or bool(config.images),  # [images] need Docker
        timeout_in_minutes=codebuild.timeout_in_minutes,
        no_build_cache=options.no_build_cache,
        entries=archive_entries(config, target.stage, target.region, ship.folder),
    )


def with_git(
    plan: DeployPlan, config: ProjectConfig, target: Target, git: GitInfo | None,
    shipping: ws.Shipping | None = None,
) -> DeployPlan:
    """``plan`` telling the build ``git``'s commit, branch and state: a deploy plans
    before ``git status`` has answered (it runs while the files are packed)."""
    return replace(plan, environment=_environment(config, target, git,
                                                  shipping or ws.alone(config)))


def _environment(
    config: ProjectConfig, target: Target, git: GitInfo | None, ship: ws.Shipping
) -> tuple[Mapping[str, str], ...]:
    return (tuple(environment_variables(config, target.stage, target.region, git))
            + ws.service_variables(ship))
