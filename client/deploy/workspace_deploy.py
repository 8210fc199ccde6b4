"""What a deploy ships and who owns the stage, for a project alone or a workspace's service.

A project alone ships its own folder; its ``name`` is the app whose stage holds the
project, role, log group and bucket prefixes (``client.infra.names``).

Within a workspace (a folder under a root ``cbdeploy.toml`` holding ``[workspace]``,
``client.config.workspace``) the archive is the WORKSPACE ROOT, selected by git's rules:
one archive, one upload, whatever the deploy runs. The workspace root's ``name`` is the
app: its stage owns one CodeBuild project, one role and one batch configuration, and each
service deployed is a build of that project. So the stage's infrastructure is bootstrapped
once per workspace and stage, from the needs of EVERY service (the role may read each
service's secrets and push its images; privileged if any service needs Docker; the
longest timeout), whether one service is deployed or all: deploying ``api`` and then
``worker`` never flips the project back and forth. The project's build environment is the
root config's ``[codebuild]``; each service's own compute type, image, privileged mode,
environment and secrets travel with its build as overrides.

One deploy of a stage at a time: a project alone has CodeBuild's ``concurrentBuildLimit =
1``. A batch's builds are builds of the project, started by the batch role with StartBuild
("Run builds in batches", Security role), so the project's limit counts them and a limit of 1
would refuse the second of two parallel services (the docs do not say it in so many words;
the emulator does not count them). A workspace's project therefore allows as many builds as
it has services, and :func:`refuse_if_running` is what holds the rule there: no StartBuild or StartBuildBatch while a build or a batch of the stage
is in progress (checked after bootstrap, before the upload; two deploys racing within that
moment are not caught, as CodeBuild offers no lock that a batch respects).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cbdeploy.client.config.load import CONFIG_FILE, load_config
from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.config.workspace import (
    Service,
    Workspace,
    find_workspace_root,
    load_workspace,
)
from cbdeploy.client.errors import AwsError, BuildConflictError
from cbdeploy.client.infra.model import StageSettings, stage_settings
from cbdeploy.client.target import Target

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient

SERVICE_VARIABLE = "CBDEPLOY_SERVICE"  # each build's service name (read by the batch watch)


@dataclass(frozen=True)
class Shipping:
    """Where the archive comes from, whose stage it is, where the pipeline runs."""

    root: Path  # the folder git's rules select and the archive holds
    app: str  # the app whose stage holds the project, role and bucket prefixes
    folder: str | None = None  # the pipeline's folder under ``root``; None: ``root`` itself
    service: str | None = None  # the service's name within its workspace
    workspace: Workspace | None = None

    @property
    def in_workspace(self) -> bool:
        return self.workspace is not None


def alone(config: ProjectConfig) -> Shipping:
    return Shipping(root=config.root, app=config.name)


def service_variables(shipping: Shipping) -> tuple[dict[str, str], ...]:
    """``CBDEPLOY_SERVICE`` for a workspace's service, as a build's variable."""
    if shipping.service is None:
        return ()
    return ({"name": SERVICE_VARIABLE, "value": shipping.service, "type": "PLAINTEXT"},)


def locate(project_root: Path, target: Target) -> Workspace | None:
    """The workspace the deploy runs in, or None for a project alone.

    ``--config-path`` to a file with another name than cbdeploy.toml: that project alone.
    """
    return locate_at(project_root, target.config_path)


def locate_at(project_root: Path, config_path: Path | None) -> Workspace | None:
    if config_path is not None and config_path.name != CONFIG_FILE:
        return None
    root = find_workspace_root(project_root)
    return load_workspace(root) if root is not None else None


def at_root(workspace: Workspace, project_root: Path) -> bool:
    return Path(project_root).resolve() == workspace.root


def service_shipping(workspace: Workspace, service: Service) -> Shipping:
    folder = None if service.folder == "." else service.folder
    return Shipping(root=workspace.root, app=workspace.name, folder=folder,
                    service=service.name, workspace=workspace)


def shipping_for(workspace: Workspace | None, config: ProjectConfig) -> Shipping:
    """The shipping of a deploy from ``config``'s folder: a service of ``workspace``, the
    workspace's root, or a project alone."""
    if workspace is None:
        return alone(config)
    service = workspace.service_at(config.root)
    if service is not None:
        return service_shipping(workspace, service)
    if config.root == workspace.root:
        return Shipping(root=workspace.root, app=workspace.name, workspace=workspace)
    return alone(config)


def stage_shipping(target: Target, config: ProjectConfig) -> Shipping:
    """For ``bootstrap``, ``policy``, ``builds``, ``destroy``: whose stage ``config``'s is
    (its ``app``) and, with :func:`settings_for`, what that stage's infrastructure serves."""
    return shipping_for(locate(target.project_root, target), config)


def service_configs(workspace: Workspace, stage: str) -> dict[str, ProjectConfig]:
    """Every service's config merged for ``stage``, by service name, in dependency order."""
    return {s.name: load_config(workspace.root / s.folder, stage) for s in workspace.services}


def workspace_settings(
    workspace: Workspace, configs: dict[str, ProjectConfig], stage: str, region: str,
    account: str,
) -> StageSettings:
    """The stage's settings: the root config's build environment, every service's needs."""
    base = stage_settings(load_config(workspace.root, stage), region, account)
    each = [stage_settings(c, region, account) for c in configs.values()]
    return dataclasses.replace(
        base,
        name=workspace.name,
        policies=tuple(sorted({p for s in (base, *each) for p in s.policies})),
        privileged_mode=any(s.privileged_mode for s in (base, *each)),
        timeout_in_minutes=max(s.timeout_in_minutes for s in (base, *each)),
        secrets=tuple(sorted({x for s in (base, *each) for x in s.secrets})),
        ecr_login=any(s.ecr_login for s in (base, *each)),
        repositories=tuple(sorted({r for s in (base, *each) for r in s.repositories})),
        concurrent_builds=max(1, len(workspace.services)),
    )


def settings_for(
    shipping: Shipping, config: ProjectConfig, stage: str, region: str, account: str
) -> StageSettings:
    """The stage's settings for bootstrap: the project's own, or its workspace's."""
    if shipping.workspace is None:
        return stage_settings(config, region, account)
    configs = service_configs(shipping.workspace, stage)
    return workspace_settings(shipping.workspace, configs, stage, region, account)


def refuse_if_running(aws: AwsClient, project: str) -> None:
    """BuildConflictError when a build or a batch of ``project`` is in progress."""
    where = f"--region {aws.region}{aws.endpoint.flags}"
    # Only the newest few: one deploy at a time means an older one has ended.
    batch_ids = aws.list_build_batches_for_project(project, limit=5)
    batches = aws.batch_get_build_batches(batch_ids) if batch_ids else []
    running_batches = [b.id for b in batches if not b.complete]
    if running_batches:
        running = running_batches[-1]
        raise BuildConflictError(
            f"A batch build of {project} is already running: {running}",
            f"Wait for it to end, or stop it with 'cbdeploy stop {running} {where}'.",
            running_build_id=running,
        )
    try:
        ids = aws.list_build_ids(project, limit=10)
    except AwsError:
        ids = []
    running_builds = [b.id for b in aws.get_builds(ids) if not b.complete] if ids else []
    if running_builds:
        running = running_builds[-1]
        raise BuildConflictError(
            f"A build of {project} is already running: {running}",
            f"Follow it with 'cbdeploy logs {running} --follow {where}' "
            f"or stop it with 'cbdeploy stop {running} {where}'.",
            running_build_id=running,
        )
