"""Deploy a workspace's services as one CodeBuild batch build. No printing.

:func:`deploy_services` is the one entry: at a workspace root ``cbdeploy deploy`` hands it
every service. Service selection (``--service``, ``--affected``) plugs in there with its own
tuple, or with a :class:`Picker` when the choice needs AWS (the stage's deploy records) and
the deployed services are to be recorded; either way the workspace's dependency order holds. The sequence is a single deploy's
(``client.deploy.service``), once for the whole workspace: check the secrets of every chosen
service, select the workspace root's files and write ONE archive with each service's plan and
buildspec (``client.deploy.batch_plan``), confirm where a chosen stage asks, bootstrap the
workspace's stage (``client.deploy.workspace_deploy``), refuse while a build or batch of the
stage runs, upload once, StartBuildBatch, then follow the batch (:func:`follow_started_batch`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cbdeploy.client.aws.results import BuildBatch
from cbdeploy.client.collector import paused_then_frozen_gc
from cbdeploy.client.config.load import load_config
from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.config.workspace import Service, Workspace
from cbdeploy.client.deploy import workspace_deploy as ws
from cbdeploy.client.deploy.batch_plan import BatchPlan, make_batch_plan, start_batch_request
from cbdeploy.client.deploy.delta import files_entry
from cbdeploy.client.deploy.events import (
    ArchiveBuilt,
    BatchStarted,
    ConfirmationNeeded,
    DeployStarting,
    FilesSelected,
    PackagingProgress,
)
from cbdeploy.client.deploy.full import FullArchive
from cbdeploy.client.deploy.preflight import check_secrets
from cbdeploy.client.errors import UsageError
from cbdeploy.client.infra.names import project_name
from cbdeploy.client.packaging import build_archive, select_files
from cbdeploy.client.packaging.gitcmd import GitInfo, git_info
from cbdeploy.client.packaging.tree import scan_tree
from cbdeploy.client.watch.batch import follow_batch
from cbdeploy.client.watch.batch_outcome import BatchOutcome
from cbdeploy.client.watch.events import Detached

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient
    from cbdeploy.client.deploy.service import DeployService

class Picker(Protocol):
    """Chooses the services once AWS is open (``--affected`` reads the stage's deploy records)
    and hears which ones deployed (to record them)."""

    def pick(self, aws: AwsClient) -> Sequence[Service]:
        """The services to deploy; empty: nothing to deploy (nothing is started)."""
        ...

    def deployed(self, aws: AwsClient, services: Sequence[str], batch_id: str) -> None:
        """After the batch succeeded (not with ``--detach``)."""
        ...


@dataclass(frozen=True)
class Chosen:
    """A :class:`Picker` of a fixed set of services (at the root: all of them)."""

    services: tuple[Service, ...]

    def pick(self, aws: AwsClient) -> Sequence[Service]:
        return self.services

    def deployed(self, aws: AwsClient, services: Sequence[str], batch_id: str) -> None:
        pass


def deploy_services(
    deploy: DeployService, workspace: Workspace, chosen: Sequence[Service] | Picker
) -> BatchOutcome | None:
    """Deploy the ``chosen`` services of ``workspace`` (or those a :class:`Picker` picks) as one
    batch, in the workspace's dependency order; ``deploy`` gives the options, the target, the
    event sink and the door to AWS. None when nothing was picked. Raises like
    :class:`DeployService`."""
    target, options = deploy.target, deploy.options
    picker = Chosen(tuple(chosen)) if isinstance(chosen, Sequence) else chosen
    configs = ws.service_configs(workspace, target.stage)  # all: the stage serves every one
    git = git_info(workspace.root)
    project, invocation_id = project_name(workspace.name, target.stage), deploy.new_id()
    with deploy.aws_factory(target) as aws:
        if options.detach and aws.endpoint.in_process:
            raise UsageError(
                "--detach needs a standing emulator: with --local alone the emulator runs "
                "in this command, and the batch would end with it.",
                "Start 'cbdeploy emulator' in another terminal (--local then uses it), "
                "or deploy without --detach.",
            )
        account = aws.account_id()
        deploy.emit(DeployStarting(workspace.name, target.stage, project, invocation_id, account))
        order = [s.name for s in workspace.services]
        services = sorted(picker.pick(aws), key=lambda s: order.index(s.name))
        if not services:
            return None
        asks = _confirmation(deploy, [configs[s.name] for s in services])
        plan = make_batch_plan(
            services, configs, project=project, stage=target.stage, region=target.region,
            git=git, invocation_id=invocation_id, keep_going=options.keep_going,
            no_cache=options.no_build_cache,
        )
        for service in services:
            check_secrets(aws, configs[service.name])
        with paused_then_frozen_gc():  # as DeployService's: until the batch is started
            batch = _ship_and_start(deploy, aws, workspace, plan, configs, account,
                                    confirm=asks, git=git)
        deploy.emit(BatchStarted(batch, plan.services, plan.fast_fail,
                                 following=not options.detach))
        if options.detach:
            deploy.emit(Detached(batch.id, interrupted=False, batch=True))
            return BatchOutcome(batch.id, batch.status or "IN_PROGRESS", 0, detached=True,
                                region=target.region)
        outcome = follow_started_batch(deploy, aws, batch)
        # Each service that succeeded is deployed, even in a failed batch (--keep-going):
        # a failed one keeps its older record, so its changes stay "affected".
        done = [s.service for s in outcome.services if s.status == "SUCCEEDED"]
        if done and not outcome.detached:
            picker.deployed(aws, done, batch.id)
        return outcome


def _confirmation(deploy: DeployService, configs: Sequence[ProjectConfig]) -> bool:
    """Whether to ask before bootstrap; UsageError when a stage asks and no one can answer."""
    asks = [c for c in configs if c.confirm]
    if asks and not deploy.options.yes and not deploy.can_ask():
        raise UsageError(
            f"Stage {deploy.target.stage!r} of {asks[0].name} asks for confirmation before "
            "deploying, and there is no terminal to ask.",
            "Pass --yes (--autoConfirmOperation) to deploy without being asked.",
        )
    return bool(asks) and not deploy.options.yes


def _ship_and_start(
    deploy: DeployService, aws: AwsClient, workspace: Workspace, plan: BatchPlan,
    configs: Mapping[str, ProjectConfig], account: str, *, confirm: bool, git: GitInfo | None,
) -> BuildBatch:
    """Select and archive the workspace, confirm, bootstrap, refuse, upload, StartBuildBatch."""
    target, options = deploy.target, deploy.options
    package = load_config(workspace.root, target.stage).package
    with ExitStack() as held:  # a cold build's workers, handed the files as they are selected
        cold = held.enter_context(deploy._cold_start(workspace.root))
        selection = select_files(workspace.root, include_submodules=package.include_submodules,
                                 follow_external_links=package.follow_external_links,
                                 on_files=cold.feed if cold is not None else None)
        deploy.emit(FilesSelected(selection))
        workdir = held.enter_context(deploy._workspace(workspace.root, plan.invocation_id))
        tree = scan_tree(selection, deploy._package_cache(selection))
        began = deploy.clock()
        archive = build_archive(
            selection, workdir / "archive.zip", extra_entries={**plan.files, **files_entry(tree)},
            cache_dir=deploy._package_cache(selection),
            on_progress=lambda done, total: deploy.emit(PackagingProgress(done, total)),
            workers=cold.workers if cold is not None else None, early=cold,
        )
        kept = workdir if options.preserve_temp_files else None
        deploy.emit(ArchiveBuilt(archive, deploy.clock() - began, kept))
        if confirm:  # after packaging (the question shows the archive), before bootstrap
            deploy.emit(ConfirmationNeeded(workspace.name, target.stage, target.region,
                                           account, archive, git))
            if not deploy.confirm(f"Deploy {len(plan.entries)} services of {workspace.name} "
                                  f"to stage {target.stage} in {target.region}?"):
                raise UsageError(
                    f"Deploy of stage {target.stage!r} cancelled; nothing was deployed.",
                    "Pass --yes to deploy without being asked.")
        infra = deploy._bootstrap(aws, ws.workspace_settings(
            workspace, dict(configs), target.stage, aws.region, account))
        ws.refuse_if_running(aws, plan.project)  # one deploy of a stage at a time
        # A delta against the stage's base where worth it, as for one build: each build's
        # runner rebuilds the tree in INSTALL (none runs where a service has its own buildspec).
        upload = deploy._send(aws, infra, FullArchive.of(archive), selection, tree, plan.files, workdir,
                              delta=not options.no_delta and plan.runs_runner)
        request = start_batch_request(plan, upload.bucket, upload.key, upload.base_key)
        if kept is not None:
            (kept / "start-build-batch.json").write_text(
                json.dumps(request, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return aws.start_build_batch(**request)


def follow_started_batch(deploy: DeployService, aws: AwsClient, batch: BuildBatch) -> BatchOutcome:
    """Follow a started batch to its end with the batch watch (``client.watch.batch``): every
    service's log at once behind its name, the final table; a signal stops the whole batch
    (StopBuildBatch) with the single build's rules (at a terminal a second Ctrl-C leaves it).
    No service map is passed: the watch reads each build's service from its CBDEPLOY_SERVICE.
    """
    return follow_batch(aws, batch.id, on_event=deploy.emit, stop_on_signal=True,
                        at_terminal=deploy.at_terminal(), known=batch, sleep=deploy.sleep,
                        clock=deploy.clock)
