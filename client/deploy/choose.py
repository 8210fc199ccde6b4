"""The workspace side of a deploy: where it stands, which services it takes, what it records.

:func:`workspace_member` says whether the project is a workspace's root or one
of its services. :class:`ServiceSelector` then does the work around the pure
decision (:mod:`~cbdeploy.client.deploy.selection`): for ``--affected`` it
gathers what changed (:func:`gather_changes`: git, and the stage's records of
each service's last deploy, :mod:`~cbdeploy.client.deploy.records`), emits
:class:`~cbdeploy.client.deploy.events.ServicesSelected` before anything is
packaged or uploaded, and after a successful deploy records the deployed commit
(:class:`~cbdeploy.client.deploy.events.DeployRecorded`).

What ``--affected`` counts changes from, per service:

1. ``--since REF``: REF's commit, for every service (a REF git cannot resolve: exit 2).
2. Else the commit of the service's last successful deploy to the stage, as
   recorded (plus the uncommitted files that deploy shipped). A recorded commit
   this clone lacks (a shallow CI checkout, history rewritten) makes the service
   count as changed: nothing can prove otherwise.
3. A service without a record while the stage has records of others was never
   deployed there successfully: it counts as changed ("not deployed to dev yet").
4. A stage with no record at all (its first deploy with ``--affected``, a new
   preview stage): the merge base of HEAD with the default branch (origin/HEAD,
   else main, master, origin/main, origin/master). None found: exit 2, asking for
   ``--since``.

Changes are the files that differ between that commit and HEAD plus the
uncommitted and untracked (not ignored) ones (:mod:`~cbdeploy.client.packaging.changes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cbdeploy.client.config.workspace import (
    Service,
    Workspace,
    find_workspace_root,
    load_workspace,
)
from cbdeploy.client.deploy.events import DeployRecorded, EventSink, ServicesSelected
from cbdeploy.client.deploy.records import DeployRecord, DeployRecords, record_deployed
from cbdeploy.client.deploy.selection import (
    Changes,
    Member,
    Request,
    ServiceChoice,
    check_request,
    select_services,
)
from cbdeploy.client.errors import AwsError, UsageError
from cbdeploy.client.infra.names import bucket_name
from cbdeploy.client.packaging.changes import (
    DEFAULT_BRANCHES,
    WorkTree,
    changed_between,
    default_merge_base,
    is_shallow,
    resolve,
    resolve_since,
    work_tree,
)
from cbdeploy.client.target import Target
from cbdeploy.client.watch.outcome import BuildOutcome

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient


def workspace_member(project_root: Path) -> Member | None:
    """The workspace ``project_root`` is the root or a service of; None for a plain project."""
    root = find_workspace_root(project_root)
    if root is None:
        return None
    workspace = load_workspace(root)
    folder = Path(project_root).resolve()
    if folder == workspace.root:
        return Member(workspace, None)
    here = workspace.service_at(folder)
    return Member(workspace, here) if here is not None else None


class _Options(Protocol):
    @property
    def selection(self) -> Request: ...


class Deploying(Protocol):
    """What a selector takes from the deploy (``DeployService``): the options' selection, the
    target's stage, the event sink."""

    @property
    def options(self) -> _Options: ...
    @property
    def target(self) -> Target: ...
    @property
    def emit(self) -> EventSink: ...


def root_selector(workspace: Workspace, deploy: Deploying) -> ServiceSelector:
    """The batch deploy's Picker at the workspace root; the request checked (UsageError)."""
    return _selector(Member(workspace, None), deploy)


def service_selector(workspace: Workspace | None, folder: Path, deploy: Deploying
                     ) -> ServiceSelector | None:
    """For a deploy from ``folder``: the selector of its service, None for a project alone
    (``workspace`` None, or a folder that is no service of it); the request checked first."""
    here = workspace.service_at(folder) if workspace is not None else None
    if workspace is None or here is None:
        check_request(deploy.options.selection, None)
        return None
    return _selector(Member(workspace, here), deploy)


def _selector(member: Member, deploy: Deploying) -> ServiceSelector:
    check_request(deploy.options.selection, member)
    return ServiceSelector(member, deploy.options.selection, deploy.target.stage, deploy.emit)


def recorded(chooser: ServiceSelector | None, aws: AwsClient, outcome: BuildOutcome
             ) -> BuildOutcome:
    """A single deploy's ``outcome``, once a success of a workspace's service is recorded."""
    return outcome if chooser is None else chooser.after(aws, outcome)


def gather_changes(
    workspace: Workspace,
    *,
    stage: str,
    since: str | None,
    tree: WorkTree | None,
    read_records: Callable[[Iterable[str]], Mapping[str, DeployRecord]],
) -> dict[str, Changes]:
    """Each service's :class:`Changes` for ``--affected`` (see the module docstring)."""
    root = workspace.root
    if tree is None or tree.commit is None:
        raise UsageError(
            f"--affected: {root} is not in a git work tree with a commit, so nothing tells "
            "what changed.",
            "Commit your work in git first, or deploy without --affected.",
        )
    names = [s.name for s in workspace.services]
    diffs: dict[str, tuple[str, ...]] = {}

    def since_commit(commit: str, label: str, extra: Iterable[str] = ()) -> Changes:
        if commit not in diffs:
            diffs[commit] = changed_between(root, commit)
        files = sorted({*diffs[commit], *tree.pending, *extra})
        return Changes(f"{label} ({commit[:7]})", tuple(files))

    if since is not None:
        commit = resolve_since(root, since)
        return {name: since_commit(commit, since) for name in names}
    records = read_records(names)
    if not records:
        base = default_merge_base(root)
        if base is None:
            raise _no_base(root, stage)
        return {name: since_commit(base.commit, f"the merge base with {base.branch}")
                for name in names}
    found: dict[str, Changes] = {}
    for name in names:
        record = records.get(name)
        label = f"the last deploy to {stage}"
        if record is None:
            found[name] = Changes(label, whole=f"not deployed to {stage} yet")
        elif resolve(root, record.commit) is None:
            found[name] = Changes(f"{label} ({record.commit[:7]})", whole=(
                f"its last deploy to {stage} ({record.commit[:7]}) is not in this clone"))
        elif record.dirty_paths is None:
            found[name] = Changes(f"{label} ({record.commit[:7]})", whole=(
                f"its last deploy to {stage} shipped uncommitted files too many to list"))
        else:
            found[name] = since_commit(record.commit, label, record.dirty_paths)
    return found


def _no_base(root: Path, stage: str) -> UsageError:
    shallow = " This clone is shallow: fetch the default branch too." if is_shallow(root) else ""
    return UsageError(
        f"--affected: stage {stage} has no recorded deploy, and HEAD has no merge base with a "
        f"default branch ({', '.join(DEFAULT_BRANCHES)}) to count changes from.",
        "Pass --since REF (for example --since HEAD~1), or deploy without --affected." + shallow,
    )


class ServiceSelector:
    """Choose a workspace deploy's services, then record the ones that deployed.

    Built before packaging: it reads the work tree's commit and uncommitted
    files then, which is what a successful deploy records.
    """

    def __init__(self, member: Member, request: Request, stage: str, emit: EventSink,
                 *, now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)
                 ) -> None:
        self.member = member
        self.request = request
        self.stage = stage
        self.emit = emit
        self.now = now
        self.tree = work_tree(member.workspace.root)
        self.names: tuple[str, ...] = ()  # the services chosen

    def choose(self, aws: AwsClient) -> ServiceChoice:
        """The services and their reasons, shown (an event) before anything is uploaded."""
        workspace = self.member.workspace
        changes = None
        if self.request.affected:
            store = DeployRecords(aws, self.bucket(aws), workspace.name, self.stage)
            changes = gather_changes(workspace, stage=self.stage, since=self.request.since,
                                     tree=self.tree, read_records=store.read)
        choice = select_services(self.member, self.request, changes)
        self.emit(ServicesSelected(choice, self.stage))
        return choice

    def single(self, aws: AwsClient) -> Service | None:
        """For a deploy of one service (from its folder): :meth:`choose`, then that service, or
        None when ``--affected`` found it unchanged."""
        choice = self.choose(aws)
        self.names = choice.names
        return choice.services[0] if choice.picked else None

    def after(self, aws: AwsClient, outcome: BuildOutcome) -> BuildOutcome:
        """``outcome``, once a success (not a detached start) is recorded."""
        if outcome.succeeded and not outcome.detached:
            self.record(aws, self.names, outcome.build_id)
        return outcome

    # -- as the batch deploy's Picker (client.deploy.batch_deploy)

    def pick(self, aws: AwsClient) -> tuple[Service, ...]:
        """The services a batch deploys (empty: nothing to deploy, nothing is started)."""
        return self.choose(aws).services

    def deployed(self, aws: AwsClient, services: Sequence[str], batch_id: str) -> None:
        """After the batch succeeded: record ``services``."""
        self.record(aws, services, batch_id)

    def record(self, aws: AwsClient, services: Iterable[str], build_id: str | None) -> None:
        """After a successful deploy of ``services``: their records. A failure to write them
        is a warning, not a failed deploy (the services run; their older records stay)."""
        names = tuple(services)
        try:
            written = record_deployed(
                aws, bucket=self.bucket(aws), app=self.member.workspace.name, stage=self.stage,
                services=names, tree=self.tree, build_id=build_id, now=self.now,
            )
        except AwsError as error:
            self.emit(DeployRecorded(names, self.stage, None, False, 0, error.message))
            return
        if written:
            first = written[0]
            pending = len(self.tree.pending) if self.tree is not None else 0
            self.emit(DeployRecorded(names, self.stage, first.commit, first.dirty, pending))

    @staticmethod
    def bucket(aws: AwsClient) -> str:
        return bucket_name(aws.account_id(), aws.region)
