"""What a stage last deployed, per service: the records ``deploy --affected`` counts changes from.

After a workspace service deploys successfully, :func:`record_deployed` writes
``state/<app>/<stage>/deployed/<service>.json`` in the account's bucket
(:func:`~cbdeploy.client.infra.names.deployed_record_key`; the ``state/``
prefix, unlike ``sources/``, has no lifecycle rule, so a stage left alone for a
month keeps its records). One object per service, so a batch where one service
fails leaves that service's older record in place and its changes stay
"affected"; and no two deploys rewrite one shared object.

A deploy from a dirty work tree shipped the commit *plus* its uncommitted and
untracked files. Recording only the commit would lose those: edit a file,
deploy, then revert the edit, and the file no longer differs from the commit
while the stage still runs the edited one. So the record keeps the commit, marks
it dirty and lists those files (up to :data:`MAX_DIRTY_PATHS`; beyond that the
list is dropped and the next ``--affected`` counts the service as changed);
the next ``--affected`` counts them as changed. Skipping the record would not
help: the older record misses the reverted file just the same.

The commit is the one packaged (read before the archive is built), not HEAD
when the build ends: a commit made while the build ran was not deployed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cbdeploy.client.deploy.upload import _b64
from cbdeploy.client.errors import AwsError
from cbdeploy.client.infra.names import deployed_record_key
from cbdeploy.client.packaging.changes import WorkTree

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient

VERSION = 1
MAX_DIRTY_PATHS = 1000


@dataclass(frozen=True)
class DeployRecord:
    """A service's last successful deploy to a stage."""

    service: str
    commit: str
    dirty: bool = False
    # The uncommitted files it shipped (root-relative); None: too many, not listed.
    dirty_paths: tuple[str, ...] | None = ()
    deployed_at: str = ""  # ISO 8601, UTC
    build_id: str | None = None

    def document(self) -> dict[str, object]:
        return {
            "version": VERSION,
            "service": self.service,
            "commit": self.commit,
            "dirty": self.dirty,
            "dirtyPaths": None if self.dirty_paths is None else list(self.dirty_paths),
            "deployedAt": self.deployed_at,
            "buildId": self.build_id,
        }


def record_of(service: str, tree: WorkTree, *, build_id: str | None,
              now: dt.datetime) -> DeployRecord | None:
    """The record a successful deploy of ``tree`` leaves; None when there is no commit."""
    if tree.commit is None:
        return None
    listed = tree.pending if len(tree.pending) <= MAX_DIRTY_PATHS else None
    return DeployRecord(service, tree.commit, tree.dirty, listed,
                        now.astimezone(dt.timezone.utc).isoformat(timespec="seconds"), build_id)


def parse_record(service: str, raw: bytes) -> DeployRecord | None:
    """A stored record, or None when it cannot be read (then it counts as missing)."""
    try:
        data = json.loads(raw)
        commit = data["commit"]
        paths = data.get("dirtyPaths", [])
        if not isinstance(commit, str) or not commit or (
            paths is not None and not all(isinstance(p, str) for p in paths)
        ):
            return None
        return DeployRecord(
            service, commit, bool(data.get("dirty")),
            None if paths is None else tuple(paths),
            str(data.get("deployedAt") or ""), data.get("buildId") or None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class DeployRecords:
    """A stage's records in the bucket (``app``: the workspace's name)."""

    def __init__(self, aws: AwsClient, bucket: str, app: str, stage: str) -> None:
        self.aws = aws
        self.bucket = bucket
        self.app = app
        self.stage = stage

    def read(self, services: Iterable[str]) -> dict[str, DeployRecord]:
        """The records the stage has of ``services`` (none at all before its first deploy)."""
        found: dict[str, DeployRecord] = {}
        for service in services:
            try:
                raw = self.aws.get_object(self.bucket, self.key(service))
            except AwsError as error:
                if error.code == "NoSuchBucket":  # nothing deployed in this account and region
                    return {}
                raise
            record = parse_record(service, raw) if raw is not None else None
            if record is not None:
                found[service] = record
        return found

    def write(self, record: DeployRecord) -> None:
        body = (json.dumps(record.document(), sort_keys=True) + "\n").encode()
        self.aws.put_object(self.bucket, self.key(record.service), body,
                            _b64(hashlib.sha256(body).digest()))

    def key(self, service: str) -> str:
        return deployed_record_key(self.app, self.stage, service)


def record_deployed(
    aws: AwsClient,
    *,
    bucket: str,
    app: str,
    stage: str,
    services: Iterable[str],
    tree: WorkTree | None,
    build_id: str | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
) -> tuple[DeployRecord, ...]:
    """After a successful deploy of ``services`` from ``tree`` (read before packaging): record
    each one's commit. Returns the records written (none outside git or before a first commit).

    For a batch, call it with the services whose builds succeeded only.
    """
    if tree is None:
        return ()
    store = DeployRecords(aws, bucket, app, stage)
    written: list[DeployRecord] = []
    for service in services:
        record = record_of(service, tree, build_id=build_id, now=now())
        if record is None:
            return ()
        store.write(record)
        written.append(record)
    return tuple(written)
