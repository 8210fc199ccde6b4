"""``cbdeploy deploy``: package, bootstrap, upload, start, follow. No printing.

Stages, as in chalice's deployer:

1. **Plan** (:func:`make_plan`): from the config, the selected files and the
   git state alone, decide what the build is told: the plan and runner entries
   added to the archive, the buildspec, the environment variables, compute
   settings, cache and the idempotency token. A frozen :class:`DeployPlan`.
2. **Execute** (:class:`DeployService`): check that the config's secrets
   exist (``client.deploy.preflight``; nothing is created before), select the files and write the
   archive, ask for confirmation where the stage wants it (showing the archive
   and the commit; nothing exists in AWS yet), bootstrap the stage, upload
   (skipped when the same archive is already there; a delta against the stage's
   base when the bucket has one, see ``client.deploy.delta``), StartBuild with
   :func:`start_request`, then follow the build until it ends (``client.deploy.launch``).
   A warm deploy that may send a delta hashes the files and writes the full archive
   where it is needed: before the upload if no delta will do, else once the build is
   started (``client.deploy.full``).

Progress is reported as events (``client.deploy.events`` plus the follower's)
through ``on_event``; the command's output session (``client.output.session``)
shows them. Following the started build is ``client.watch.track``'s, the same
loop as ``logs --follow``.

Signals: before the build starts, Ctrl-C raises KeyboardInterrupt as usual
(and the command makes SIGTERM and SIGHUP do the same): nothing was started.
From StartBuild on, a signal stops the build and the deploy follows it until
CodeBuild reports it STOPPED: at a terminal the first Ctrl-C stops it after a
3-second window in which a second one leaves it running; SIGTERM, SIGHUP and a
SIGINT without a terminal stop it at once and wait a bounded time (see
``client.watch.signals``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cbdeploy.client.collector import paused_then_frozen_gc
from cbdeploy.client.config.load import load_config
from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.config.statedir import cache_dir, cache_path, state_dir
from cbdeploy.client.deploy import workspace_deploy as ws
from cbdeploy.client.deploy.choose import ServiceSelector, recorded, root_selector, service_selector
from cbdeploy.client.deploy.delta import BaseStore, archive_key, build_delta, decide, files_entry
from cbdeploy.client.deploy.events import (
    ArchiveBuilt,
    BootstrapDone,
    BootstrapStep,
    ConfirmationNeeded,
    DeployStarting,
    EventSink,
    FilesHashed,
    FilesSelected,
    PackagingProgress,
    UploadDone,
    UploadProgress,
    UploadStarting,
)
from cbdeploy.client.deploy.full import FullArchive
from cbdeploy.client.deploy.plan import (  # (re-exported: their home was here)
    DeployOptions,
    DeployPlan,
    make_plan,
    with_git,
)
from cbdeploy.client.deploy.preamble import (
    Preamble,
    StageReads,
    open_and_check,
    open_aws_later,
    read_stage,
)
from cbdeploy.client.deploy.start import start_request  # (re-exported: its home was here)
from cbdeploy.client.deploy.upload import UploadResult, source_key, upload_archive
from cbdeploy.client.errors import (
    Cancelled,
    UsageError,
)
from cbdeploy.client.infra.bootstrap import Survey, bootstrap
from cbdeploy.client.infra.model import Infrastructure, StageSettings
from cbdeploy.client.packaging import ArchiveResult, Selection, build_archive, select_files
from cbdeploy.client.packaging.early import EarlyBatches, cold_start
from cbdeploy.client.packaging.gitcmd import GitInfo
from cbdeploy.client.packaging.gitdirty import deploy_git_info, remember_deployed
from cbdeploy.client.packaging.tree import Tree, scan_tree
from cbdeploy.client.target import Target
from cbdeploy.client.tty import stdin_is_terminal
from cbdeploy.client.watch.batch_outcome import BatchOutcome
from cbdeploy.client.watch.outcome import BuildOutcome

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient
    from cbdeploy.client.deploy.launch import Launcher

# ----------------------------------------------------------------------------- execute


class DeployService:
    """Run one deploy; returns a :class:`BuildOutcome` (its ``exit_code`` is the CLI's).

    Raises :class:`~client.errors.CbdeployError` when the deploy cannot start
    (nothing was started) and KeyboardInterrupt for a signal before StartBuild.
    """

    def __init__(
        self,
        target: Target,
        options: DeployOptions,
        *,
        project_root: Path,
        on_event: EventSink,
        confirm: Callable[[str], bool],
        aws_factory: Callable[[Target], Any] = open_aws_later,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        can_ask: Callable[[], bool] | None = None,
        at_terminal: Callable[[], bool] | None = None,
    ) -> None:
        self.target = target
        self.options = options
        self.root = project_root
        self.emit = on_event
        self.confirm = confirm
        self.aws_factory = aws_factory
        self.clock = clock
        self.sleep = sleep
        self.new_id = new_id
        # Whether ``confirm`` has a terminal to ask on; known before any work.
        self.can_ask = can_ask or stdin_is_terminal
        # Whether a person at a terminal may press Ctrl-C (a second one leaves the build).
        self.at_terminal = at_terminal or stdin_is_terminal

    def run(self) -> BuildOutcome | BatchOutcome | None:
        """The outcome; None when a workspace's selection picked nothing (nothing started)."""
        workspace = ws.locate(self.root, self.target)
        if workspace is not None and ws.at_root(workspace, self.root):  # one batch
            # (Loaded here: a workspace's batch is the only deploy that needs it.)
            from cbdeploy.client.deploy.batch_deploy import deploy_services

            return deploy_services(self, workspace, root_selector(workspace, self))
        config = load_config(self.root, self.target.stage, self.target.config_path)
        chooser = service_selector(workspace, config.root, self)  # checks --service ...
        if config.confirm and not self.options.yes and not self.can_ask():
            # Said before any packaging or AWS call: the answer cannot change.
            raise UsageError(
                f"Stage {self.target.stage!r} asks for confirmation before deploying, and "
                "there is no terminal to ask.",
                "Pass --yes (--autoConfirmOperation) to deploy without being asked.",
            )
        shipping = ws.shipping_for(workspace, config)  # a service ships its whole workspace
        # Until the build is started, what a deploy makes (the selection, the trees, the
        # records) lives on anyway: the cyclic collector would only walk it again and again.
        # Following may take hours: it collects as usual again once the build is started,
        # what was made until then frozen (not walked at all).
        with ExitStack() as paused, self._cold_start(shipping.root) as cold:
            paused.enter_context(paused_then_frozen_gc())
            return self._deploy(config, chooser, shipping, resume_gc=paused.close, cold=cold)

    def _deploy(
        self, config: ProjectConfig, chooser: ServiceSelector | None, shipping: ws.Shipping,
        *, resume_gc: Callable[[], None], cold: EarlyBatches | None,
    ) -> BuildOutcome | None:
        """One project's deploy, once its config is known (``run``'s second half); ``cold``:
        a cold build's workers, handed the files as they are selected."""
        # The AWS preamble runs while the files are selected (deploy.preamble); it is
        # joined before anything is written into the tree. git status runs after the
        # selection (their git processes would share the cores), while the files are packed.
        preamble = Preamble(lambda stack: open_and_check(
            stack, self.aws_factory, self.target, config, detach=self.options.detach))
        status: Preamble[GitInfo | None] | None = None
        delta = not self.options.no_delta and not config.codebuild.buildspec
        # Once AWS has answered, the stage's reads (bootstrap's, the base's) run there too;
        # not where the stage asks first: the answer may come much later.
        reads = None if config.confirm and not self.options.yes else Preamble(
            lambda _: self._read_stage(preamble, shipping, config, delta), "cbdeploy-stage")
        try:
            plan, aws, account, selection = self._select(config, preamble, shipping, cold)
            if chooser and chooser.single(aws) is None:
                return None  # --affected: nothing changed; nothing was written or uploaded
            with self._workspace(config.root, plan.invocation_id) as workdir:
                state_dir(selection.root)  # its .gitignore first: git status never sees the caches
                cache = self._package_cache(selection)
                links = config.package.follow_external_links
                status = Preamble(lambda _: deploy_git_info(
                    config.root, selection, cache, follow_links=links), "cbdeploy-git")
                tree, full = self._pack(selection, plan, workdir, cold,
                                        may_wait=delta and reads is not None)
                git = status.result()
                plan = with_git(plan, config, self.target, git, shipping)
                if plan.needs_confirmation:
                    # After packaging (the question shows the archive), before
                    # bootstrap: a "no" leaves nothing created in AWS.
                    self._confirm(plan, account, full.get(), git)
                launcher = self._launcher()  # (loads the watch while the stage's reads finish)
                early = reads.result() if reads else None  # its errors come where they did
                infra = self._bootstrap(aws, early.settings if early else ws.settings_for(
                    shipping, config, self.target.stage, aws.region, account),
                    early.surveyed if early else None)
                if shipping.in_workspace:
                    ws.refuse_if_running(aws, plan.project)  # its project allows parallel builds
                upload = self._send(aws, infra, full, selection, tree, plan.entries, workdir,
                                    delta=delta, early=early)
                request = start_request(plan, upload)
                if self.options.preserve_temp_files:
                    _write_json(workdir / "start-build.json", request)
                return recorded(chooser, aws, launcher.start_and_follow(
                    aws, request, started=resume_gc,
                    then=lambda check: _started(selection, cache, full, check, links)))
        finally:
            for thread in (preamble, status, reads):
                if thread is not None:
                    thread.close()

    def _select(
        self, config: ProjectConfig, preamble: Preamble[tuple[AwsClient, str]],
        shipping: ws.Shipping, early: EarlyBatches | None = None,
    ) -> tuple[DeployPlan, AwsClient, str, Selection]:
        """Select the files while the preamble runs, then join it: the header (with the
        account) comes first, and nothing is written into the project (the caches)
        before AWS has answered. Errors come in the order they did when these ran one
        after the other: the plan's, the preamble's, the selection's. git status comes
        after (the plan is told its answer with ``with_git``)."""
        try:
            selection = select_files(
                shipping.root,
                include_submodules=config.package.include_submodules,
                follow_external_links=config.package.follow_external_links,
                on_files=early.feed if early is not None else None,
                cache_dir=self._cache_path(shipping.root),
            )
        except Exception:
            make_plan(config, self.target, self.options, None, "", shipping)
            preamble.result()
            raise
        plan = make_plan(config, self.target, self.options, None, self.new_id(), shipping)
        aws, account = preamble.result()
        self.emit(DeployStarting(plan.app, plan.stage, plan.project, plan.invocation_id, account,
                                 str(config.path)))
        self.emit(FilesSelected(selection))
        return plan, aws, account, selection

    # -- steps

    def _launcher(self) -> Launcher:
        from cbdeploy.client.deploy.launch import Launcher

        return Launcher(self.target, self.options, emit=self.emit, clock=self.clock,
                        sleep=self.sleep, at_terminal=self.at_terminal)

    def _read_stage(self, preamble: Preamble[tuple[AwsClient, str]], shipping: ws.Shipping,
                    config: ProjectConfig, delta: bool) -> StageReads:
        aws, account = preamble.result()
        settings = ws.settings_for(shipping, config, self.target.stage, aws.region, account)
        bases = cache_dir(Path(os.path.abspath(shipping.root))) / "bases"  # as _send's
        return read_stage(aws, settings, bases, delta=delta)

    def _cold_start(self, root: Path) -> AbstractContextManager[EarlyBatches | None]:
        """Workers for a cold build (no cache to copy from, as in every CI deploy), fed
        while the files are selected, as ``cbdeploy package`` does; none where a cache
        will mostly supply the archive (``packaging.early.cold_start``)."""
        return cold_start(self._cache_path(root))

    def _cache_path(self, root: Path) -> Path | None:
        """Where ``root``'s package cache is (not made); None with ``--no-package-cache``."""
        return None if self.options.no_package_cache else cache_path(root)

    def _package_cache(self, selection: Selection) -> Path | None:
        """``.cbdeploy/cache/`` of the project, or None with ``--no-package-cache``."""
        return None if self.options.no_package_cache else cache_dir(selection.root)

    @contextmanager
    def _workspace(self, root: Path, invocation_id: str) -> Iterator[Path]:
        if self.options.preserve_temp_files:
            kept = state_dir(root) / invocation_id
            kept.mkdir(parents=True, exist_ok=True)
            yield kept
            return
        with tempfile.TemporaryDirectory(prefix="cbdeploy-") as tmp:
            yield Path(tmp)

    def _pack(
        self, selection: Selection, plan: DeployPlan, workdir: Path, cold: EarlyBatches | None,
        *, may_wait: bool,
    ) -> tuple[Tree, FullArchive]:
        """The tree and the full archive: written now, or (``may_wait``: a delta may do,
        and nothing asks first) where it is needed, at the latest once the build is started
        (``deploy.full``). A cold build writes it now: its workers were fed meanwhile."""
        began = self.clock()
        tree = scan_tree(selection, self._package_cache(selection))
        full = FullArchive(lambda check: self._archive(
            selection, plan, workdir, files_entry(tree), cold, check=check))
        if may_wait and cold is None:
            self.emit(FilesHashed(len(tree.records), tree.raw_bytes, self.clock() - began))
            return tree, full
        full.get()
        if cold is not None:
            cold.workers.close()  # idle from here: not kept while the build runs
        return tree, full

    def _archive(
        self, selection: Selection, plan: DeployPlan, workdir: Path, files: Mapping[str, bytes],
        early: EarlyBatches | None = None, *, check: Callable[[], None] | None = None,
    ) -> ArchiveResult:
        """``check``: the build is started (a delta deploy's full archive): no progress is
        shown, the check that acts on signals runs instead."""
        began = self.clock()
        # The same compression cache as `cbdeploy package`: unchanged files
        # are not compressed again.
        archive: ArchiveResult = build_archive(
            selection,
            workdir / "archive.zip",
            extra_entries={**plan.entries, **files},
            cache_dir=self._package_cache(selection),
            on_progress=(lambda done, total: self.emit(PackagingProgress(done, total)))
            if check is None else lambda _done, _total: check(),
            workers=early.workers if early is not None else None,
            early=early,
        )
        kept = workdir if self.options.preserve_temp_files else None
        if kept is not None:
            (kept / "buildspec.yml").write_text(plan.buildspec, encoding="utf-8")
            for path, content in plan.entries.items():
                if path.endswith("plan.json"):
                    (kept / "plan.json").write_bytes(content)
        self.emit(ArchiveBuilt(archive, self.clock() - began, kept, after_start=check is not None))
        return archive

    def _confirm(
        self, plan: DeployPlan, account: str, archive: ArchiveResult, git: GitInfo | None
    ) -> None:
        self.emit(ConfirmationNeeded(plan.app, plan.stage, plan.region, account, archive, git))
        if not self.confirm(f"Deploy {plan.app} to stage {plan.stage} in {plan.region}?"):
            raise Cancelled()

    def _bootstrap(self, aws: AwsClient, settings: StageSettings,
                   surveyed: Survey | None = None) -> Infrastructure:
        infra = bootstrap(aws, settings, surveyed=surveyed,
                          on_event=lambda call: self.emit(BootstrapStep(call.what)))
        self.emit(BootstrapDone(infra))
        return infra

    def _upload(
        self, aws: AwsClient, infra: Infrastructure, archive: ArchiveResult,
        kind: str = "base", base_key: str | None = None,
    ) -> UploadResult:
        self.emit(UploadStarting(source_key(infra.sources_prefix, archive.sha256), archive.size))
        began = self.clock()
        result = upload_archive(
            aws, infra, archive,
            on_progress=lambda done, total: self.emit(UploadProgress(done, total)),
            look_first=kind != "delta")
        result = replace(result, kind=kind, base_key=base_key)
        self.emit(UploadDone(result, archive.size, self.clock() - began))
        return result

    def _send(
        self, aws: AwsClient, infra: Infrastructure, full: FullArchive, selection: Selection,
        tree: Tree, entries: Mapping[str, bytes], workdir: Path, *, delta: bool,
        early: StageReads | None = None,
    ) -> UploadResult:
        """Upload a delta against the stage's base when worth it (see ``deploy.delta``), else
        the full archive as a new base (written here if it was not: ``deploy.full``). A
        project's own buildspec runs no runner: always a base. ``early``: the base already
        looked for while the files were selected."""
        if early is not None and early.store is not None:
            store, base = early.store, early.base
            store.keep_record()
        else:
            store = BaseStore(aws, infra, cache_dir(selection.root) / "bases")
            base = store.find() if delta else None
        choice = decide(tree, base) if delta else None
        # Another tree is another archive (its files.json differs): only the same tree
        # may be the base's very archive, already in the bucket.
        if (choice is None or choice.base is None or full.built is not None
                or tree.hash == choice.base.tree.hash):
            archive = full.get()
            if choice is None or choice.base is None or choice.base.key == archive_key(infra,
                                                                                       archive):
                result = self._upload(aws, infra, archive)
                store.publish(result.key, tree)
                return result
        store.keep_alive(choice.base)
        small = build_delta(selection, tree, choice, entries, workdir / "delta.zip")
        return self._upload(aws, infra, small, kind="delta", base_key=choice.base.key)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _started(selection: Selection, cache: Path | None, full: FullArchive,
             check: Callable[[], None], links: bool) -> None:
    """Once the build is started: the full archive if a delta went instead (``deploy.full``),
    and the selection's records for the next deploy with the package cache
    (``packaging.gitdirty.remember_deployed``)."""
    full.after_start(check)
    if cache is not None:
        remember_deployed(selection, cache, follow_links=links)
