"""Which build a command means: the one place ``logs``, ``stop`` and ``builds`` resolve it.

A build may be named as CodeBuild names it (``project:uuid``, what ``deploy``
printed), by its UUID, or by a unique prefix of that UUID; with no name at
all, the stage's latest build is meant. A UUID or a prefix is looked up among
the builds of the stage's CodeBuild project (``--stage`` or the stored default
stage, with the project's name from ``cbdeploy.toml``), newest first, at most
:data:`SEARCHED` of them. An ambiguous prefix names its candidates, a prefix
that matches nothing says where it looked: both are :class:`UsageError` (exit 2).

A full ``project:uuid`` needs neither a stage nor the config: it is passed on
as it is, and the command's own BatchGetBuilds says whether it exists.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from cbdeploy.client.config.load import load_config
from cbdeploy.client.deploy.workspace_deploy import stage_shipping
from cbdeploy.client.errors import NotFoundError, UsageError
from cbdeploy.client.infra.names import project_name
from cbdeploy.client.target import Target

SEARCHED = 200  # builds of the stage a prefix is looked up among (two ListBuildsForProject pages)
SHOWN = 10  # candidates an ambiguous prefix lists
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]{0,35}")
_log = logging.getLogger(__name__)
_FORMS = ("A build is named by its id as deploy printed it (PROJECT:UUID), its UUID, or the "
          "start of its UUID; 'cbdeploy builds' lists them.")


class BuildLister(Protocol):
    """What resolving needs from the AWS door (``AwsClient``)."""

    region: str

    def list_build_ids(self, project: str, limit: int = 20) -> list[str]: ...


@dataclass(frozen=True)
class StageBuilds:
    """Where a UUID, a prefix or "the latest" is looked up: a stage's CodeBuild project."""

    stage: str
    project: str
    region: str

    @property
    def where(self) -> str:
        return f"stage {self.stage} (CodeBuild project {self.project} in {self.region})"


def is_full_id(ref: str) -> bool:
    """Whether ``ref`` is a whole CodeBuild id (``project:uuid``), which needs no lookup."""
    return ":" in ref


def stage_builds(target: Target, region: str) -> StageBuilds:
    """The stage's project, from ``--stage`` (or the stored default) and the config's name."""
    if not target.stage:
        raise UsageError(
            "No stage to look the build up in.",
            "Pass --stage (or store a default with 'cbdeploy defaults:configure'), or give the "
            "whole build id (PROJECT:UUID) as deploy printed it.",
        )
    config = load_config(target.project_root, target.stage, target.config_path)
    app = stage_shipping(target, config).app  # a workspace's service: the workspace's stage
    return StageBuilds(target.stage, project_name(app, target.stage), region)


def resolve_build_ref(aws: BuildLister, target: Target, ref: str | None) -> str:
    """The full id of the build ``ref`` names (None: the stage's latest). Raises UsageError."""
    if ref is not None and is_full_id(ref):
        return ref
    wanted = None if ref is None else ref.strip().lower()
    if wanted is not None and not _PREFIX.fullmatch(wanted):
        raise UsageError(f"Not a build id: {ref!r}.", _FORMS)
    scope = stage_builds(target, aws.region)
    if wanted is not None and _UUID.fullmatch(wanted):
        return f"{scope.project}:{wanted}"  # whole: no listing (get_build checks it exists)
    ids = _recent(aws, scope, 1 if wanted is None else SEARCHED)
    if wanted is None:
        if not ids:
            raise UsageError(f"No builds of {scope.where} yet.",
                             f"Deploy it with 'cbdeploy deploy --stage {scope.stage}', or pass "
                             "a build id.")
        _log.debug("build: %s, the latest of %s", ids[0], scope.where)
        return ids[0]
    found = _one_match(wanted, ids, scope)
    _log.debug("build: %s, the one of %s whose id starts with %r", found, scope.where, wanted)
    return found


def _recent(aws: BuildLister, scope: StageBuilds, limit: int) -> list[str]:
    try:
        return aws.list_build_ids(scope.project, limit)
    except NotFoundError:  # no project: the stage was never deployed here
        return []


def _one_match(prefix: str, ids: list[str], scope: StageBuilds) -> str:
    matches = [i for i in ids if i.partition(":")[2].startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        searched = f"its {len(ids)} most recent builds" if ids else "it has no builds"
        raise UsageError(
            f"No build of {scope.where} has an id starting with {prefix!r} ({searched}).",
            "Check the id with 'cbdeploy builds' (and --stage, --region), or pass the whole "
            "id as deploy printed it.",
        )
    listed = "\n".join(f"  {i}" for i in matches[:SHOWN])
    more = f"\n  ... and {len(matches) - SHOWN} more" if len(matches) > SHOWN else ""
    raise UsageError(
        f"{prefix!r} is the start of {len(matches)} builds of {scope.where}:\n{listed}{more}",
        "Give more characters of the UUID, or the whole id.",
    )
