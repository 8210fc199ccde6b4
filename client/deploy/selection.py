"""Which services of a workspace a deploy takes, and why: a pure decision.

Inputs: the workspace, where the command runs (its root, or one service's
folder), the command line (:class:`Request`: ``--service``, ``--no-deps``,
``--affected``, ``--since``) and, for ``--affected``, what changed for each
service (:class:`Changes`, gathered by :mod:`~cbdeploy.client.deploy.choose`
from git and the stage's deploy records). Output: a :class:`ServiceChoice`, the
services in dependency order, each with the reasons it was picked.

The rules:

- At the root without options: every service ("all services").
- In a service's folder: that service alone ("the service of this folder").
- ``--service NAME`` (repeatable, at the root): those, plus what they depend
  on ("dependency of api") unless ``--no-deps``.
- ``--affected``: of those candidates, the ones whose ``paths`` match a changed
  file ("changed: libs/shared/x.ts matches libs/shared/**"), or that count as
  changed as a whole ("not deployed to dev yet"). Nothing is added for
  dependencies: a dependency that did not change is deployed already. An empty
  choice is no error: the command says "nothing to deploy" and exits 0, as a
  CI job whose commit touched no service should succeed.

Refusals are :class:`UsageError` (exit 2): ``--since`` without ``--affected``,
``--no-deps`` without ``--service``, ``--service`` or ``--affected`` outside a
workspace, ``--service`` in a service's folder, and an unknown service name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cbdeploy.client.config.workspace import Service, Workspace
from cbdeploy.client.errors import UsageError

ALL = "all services"
HERE = "the service of this folder"
REQUESTED = "requested"


@dataclass(frozen=True)
class Member:
    """A project's place in a workspace: at its root (``here`` None) or in a service's folder."""

    workspace: Workspace
    here: Service | None


@dataclass(frozen=True)
class Request:
    """What the command line asked for."""

    services: tuple[str, ...] = ()  # --service, in the order given
    no_deps: bool = False
    affected: bool = False
    since: str | None = None  # --since REF (only with --affected)

    @property
    def narrows(self) -> bool:
        """Whether any selection option was given."""
        return bool(self.services or self.no_deps or self.affected or self.since)


@dataclass(frozen=True)
class Changes:
    """What changed for one service: ``files`` since ``since``, or all of it (``whole``)."""

    since: str  # what the files are counted from, for people: "the last deploy to dev (1a2b3c4)"
    files: tuple[str, ...] = ()  # POSIX, relative to the workspace root
    whole: str | None = None  # why the service counts as changed without a file: a reason


@dataclass(frozen=True)
class Picked:
    service: Service
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ServiceChoice:
    """The services to deploy, in dependency order, and what ``--affected`` compared with."""

    picked: tuple[Picked, ...]
    affected: bool = False  # --affected was given: ``picked`` may be empty
    since: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (what from, which services) pairs
    unchanged: tuple[str, ...] = ()  # candidates --affected left out
    candidates: int = field(default=0)  # how many services the choice was made among

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(p.service for p in self.picked)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.service.name for p in self.picked)


def check_request(request: Request, member: Member | None) -> None:
    """Refuse what the options cannot mean here (UsageError, exit 2), before any work.

    ``member``: where the command runs in a workspace; None outside one.
    """
    if request.since is not None and not request.affected:
        raise UsageError(
            f"--since {request.since} needs --affected.",
            "Pass --affected --since REF to deploy the services changed since REF.",
        )
    if request.no_deps and not request.services:
        raise UsageError(
            "--no-deps needs --service.",
            "Name the services to deploy without their dependencies: --service NAME --no-deps.",
        )
    options = ", ".join(_given(request))
    if member is None:
        if request.narrows:
            raise UsageError(
                f"{options}: this project is not a service of a workspace.",
                "Run it in a workspace (a cbdeploy.toml with [workspace] at or above this "
                "folder), or deploy without it.",
            )
        return
    workspace, here = member.workspace, member.here
    if request.services and here is not None:
        raise UsageError(
            f"--service in {here.folder}: in a service's folder, cbdeploy deploys that "
            f"service ({here.name}) alone.",
            f"Run the command at the workspace root ({workspace.root}) to pick services.",
        )
    known = {s.name for s in workspace.services}
    unknown = [name for name in request.services if name not in known]
    if unknown:
        raise UsageError(
            f"--service {unknown[0]}: no such service in the workspace {workspace.name}.",
            "The services are: " + ", ".join(s.name for s in workspace.services) + ".",
        )


def select_services(
    member: Member,
    request: Request,
    changes: Mapping[str, Changes] | None = None,
) -> ServiceChoice:
    """The services to deploy and why (see the module docstring); ``check_request`` first.

    ``member``: the workspace, and the service whose folder the command runs in
    (None at the root). ``changes``: for ``--affected``, each candidate's
    :class:`Changes` (a candidate without one counts as unchanged).
    """
    check_request(request, member)
    workspace = member.workspace
    reasons = _candidates(workspace, request, member.here)
    if not request.affected:
        picked = tuple(Picked(s, tuple(reasons[s.name])) for s in workspace.services
                       if s.name in reasons)
        return ServiceChoice(picked, candidates=len(reasons))
    changes = changes or {}
    picked_list: list[Picked] = []
    unchanged: list[str] = []
    since: dict[str, list[str]] = {}
    for service in workspace.services:
        if service.name not in reasons:
            continue
        found = changes.get(service.name)
        if found is not None:
            since.setdefault(found.since, []).append(service.name)
        why = _changed(service, found) if found is not None else None
        if why is None:
            unchanged.append(service.name)
        else:
            # "requested" says nothing once the change is the reason; "dependency of" still does.
            kept = [r for r in reasons[service.name] if r not in (ALL, HERE, REQUESTED)]
            picked_list.append(Picked(service, (why, *kept)))
    return ServiceChoice(
        tuple(picked_list), affected=True,
        since=tuple((label, tuple(names)) for label, names in since.items()),
        unchanged=tuple(unchanged), candidates=len(reasons),
    )


def _candidates(workspace: Workspace, request: Request, here: Service | None) -> dict[str, list[str]]:
    """Each candidate's name with its reasons, before ``--affected`` filters them."""
    if not request.services:
        if here is not None:
            return {here.name: [HERE]}
        return {s.name: [ALL] for s in workspace.services}
    reasons: dict[str, list[str]] = {name: [REQUESTED] for name in request.services}
    if request.no_deps:
        return reasons
    for name in request.services:
        for dependency in workspace.with_dependencies([name]):
            if dependency.name != name:
                why = f"dependency of {name}"
                listed = reasons.setdefault(dependency.name, [])
                if why not in listed:
                    listed.append(why)
    return reasons


def _changed(service: Service, changes: Changes) -> str | None:
    """Why ``service`` counts as changed (the first matching file and its pattern), or None."""
    if changes.whole is not None:
        return changes.whole
    hits = [(path, pattern) for path in changes.files
            if (pattern := service.pattern_for(path)) is not None]
    if not hits:
        return None
    path, pattern = hits[0]
    more = len(hits) - 1
    tail = f" (and {more} more {'file' if more == 1 else 'files'})" if more else ""
    return f"changed: {path} matches {pattern}{tail}"


def _given(request: Request) -> list[str]:
    given = [f"--service {n}" for n in request.services[:1]]
    given += [flag for flag, on in (("--no-deps", request.no_deps),
                                    ("--affected", request.affected)) if on]
    return given
