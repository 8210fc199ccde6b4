"""Send a delta instead of the whole archive when the bucket holds a recent base.

A *base* is a full archive (``sources/<app>/<stage>/<sha256>.zip``), uploaded
as always, with its file list gzipped beside it (``<sha256>.files.json.gz``:
path, kind, size and SHA-256 per file, see :mod:`client.packaging.tree`) and
the stage's pointer ``sources/<app>/<stage>/base.json`` naming it. A *delta*
is a small zip of the new and changed files plus ``.cbdeploy/delta.json``
(the base's key, the SHA-256 of the base's file list, the removed paths, the
changed records, the tree hash to produce and the complete tree's links and
executables). CodeBuild downloads the delta as the primary source and the base
as the secondary source ``base`` (``CODEBUILD_SRC_DIR_base``); the runner
merges them and checks the tree hash before the pipeline starts
(``runner/delta.py``).

Which base: the local record in ``.cbdeploy/cache/bases/`` when its base is still in
the bucket, else the bucket's pointer and file list (a fresh clone, another
laptop, a CI job). The record is this machine's own ``marshal`` file of the
pointer and the parsed file list (read in a tenth of the time of the JSON list
and its checks; the build checks the tree it rebuilds against the tree hash anyway). A new base is sent when there is none, when it expired, or
when the changed files weigh more than ``THRESHOLD`` of the base's bytes.

Keeping bases alive: the bucket's lifecycle expires ``sources/`` after
:data:`~client.infra.model.LIFECYCLE_RULES`' 30 days, counted from
LastModified. A deploy that sends a delta against a base older than
``REFRESH_AFTER`` copies the base (and its file list) onto itself: a
server-side CopyObject restarts that clock without sending a byte from the
client, so a base in use never expires, and one no delta uses goes away.
Re-uploading would cost exactly the bytes this module exists to save.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import marshal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import compress
from operator import itemgetter, ne
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cbdeploy.client.deploy.upload import _b64, source_key
from cbdeploy.client.infra.bootstrap import Infrastructure
from cbdeploy.client.packaging import ArchiveResult, Selection, build_archive, bulk
from cbdeploy.client.packaging.archive import manifest_data
from cbdeploy.client.packaging.destination import complete_stats
from cbdeploy.client.packaging.tree import FILES, FileRecord, Tree, parse_document

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient

BASE_SOURCE = "base"  # the secondary source's identifier: CODEBUILD_SRC_DIR_base
DELTA = ".cbdeploy/delta.json"
POINTER = "base.json"
RECORD_VERSION = 2  # 1 (``<name>.json``): the gzipped JSON list, parsed and checked each time
THRESHOLD = 0.30
REFRESH_AFTER = dt.timedelta(days=7)  # of the lifecycle's 30: a base in use never nears them


@dataclass(frozen=True)
class Base:
    """A base archive the bucket holds, with its file list."""

    key: str
    files_sha256: str  # of its .cbdeploy/files.json, which the runner checks
    tree: Tree
    last_modified: dt.datetime | None = None


@dataclass(frozen=True)
class Choice:
    """What to send: the full archive (``base`` None) or a delta against ``base``
    (``records``: the new and changed files' records, in the order of ``changed``)."""

    base: Base | None
    reason: str
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    records: tuple[FileRecord, ...] = ()


def files_key(archive_key: str) -> str:
    return archive_key.removesuffix(".zip") + ".files.json.gz"


_PATH = itemgetter(0)


def decide(tree: Tree, base: Base | None, *, threshold: float = THRESHOLD) -> Choice:
    """Pure: a delta against ``base`` unless there is none or it would be too large."""
    if base is None:
        return Choice(None, "no base in the bucket")
    new, was = tree.records, base.tree.records
    at = list(compress(range(len(new)), map(ne, new, was))) if len(new) == len(was) else None
    if at is not None and all(new[i].path == was[i].path for i in at):
        # The usual redeploy, the same paths (the equal records have theirs): compared by
        # position.
        differ, removed = tuple(new[i] for i in at), tuple[str, ...]()
    else:
        old = base.tree.by_path()
        differ = tuple(r for r in new if old.get(r.path) != r)
        current = set(map(_PATH, new))
        removed = tuple(p for p in map(_PATH, was) if p not in current)
    weight = sum(r.size for r in differ)
    if weight > threshold * max(base.tree.raw_bytes, 1):
        return Choice(None, f"the changes weigh more than {threshold:.0%} of the base")
    return Choice(base, "delta", tuple(map(_PATH, differ)), removed, differ)


class BaseStore:
    """The stage's bases in the bucket and the local record of the last one."""

    def __init__(
        self,
        aws: AwsClient,
        infra: Infrastructure,
        record_dir: Path,
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
        hold_record: bool = False,
    ) -> None:
        self.aws = aws
        self.bucket = infra.bucket
        self.prefix = infra.sources_prefix
        name = hashlib.sha256(f"{infra.bucket}/{infra.sources_prefix}".encode()).hexdigest()[:16]
        self.record = record_dir / f"{name}.bin"
        self.now = now
        # A deploy looks for its base while it still selects the files: the local record
        # of a base read from the bucket waits for :meth:`keep_record` (nothing is written
        # into the project before the selection has succeeded).
        self._hold = hold_record
        self._held: tuple[Mapping[str, Any], Tree] | None = None

    def find(self) -> Base | None:
        """The local record's base if the bucket still has it, else the pointer's."""
        return self.find_recorded() or self.find_pointed()

    def find_recorded(self, bucket_exists: Callable[[], bool] = lambda: True) -> Base | None:
        """The local record's base if the bucket still has it (:meth:`find`'s first half).
        The record is read first; the bucket is asked only if ``bucket_exists()``."""
        local = self._local()
        if local is None or not bucket_exists():
            return None
        return self._alive(local)

    def find_pointed(self) -> Base | None:
        """The base the bucket's pointer names, if the bucket still has it."""
        remote = self._remote()
        return self._alive(remote) if remote is not None else None

    def publish(self, archive_key: str, tree: Tree) -> None:
        """After a base upload: its file list beside it, the pointer, the local record."""
        document = tree.document()
        listed = gzip.compress(document, mtime=0)
        self._put(files_key(archive_key), listed)
        pointer = {
            "version": 1,
            "key": archive_key,
            "filesKey": files_key(archive_key),
            "filesSha256": hashlib.sha256(document).hexdigest(),
            "tree": tree.hash,
        }
        self._put(self.prefix + POINTER, json.dumps(pointer, sort_keys=True).encode())
        self._remember(pointer, tree)

    def keep_alive(self, base: Base) -> bool:
        """Restart the lifecycle clock of a base a delta refers to, when it is getting old."""
        if base.last_modified is not None and self.now() - base.last_modified < REFRESH_AFTER:
            return False
        self.aws.refresh_object(self.bucket, base.key)
        self.aws.refresh_object(self.bucket, files_key(base.key))
        return True

    # -- inside

    def _put(self, key: str, data: bytes) -> None:
        self.aws.put_object(self.bucket, key, data, _b64(hashlib.sha256(data).digest()))

    def _local(self) -> Base | None:
        try:
            data = marshal.loads(self.record.read_bytes())
            pointer, rows, tree_hash = data["pointer"], data["records"], data["tree"]
            if data["version"] != RECORD_VERSION or tree_hash != pointer["tree"]:
                return None
            records = tuple(map(partial(tuple.__new__, FileRecord), rows))
            return Base(str(pointer["key"]), str(pointer["filesSha256"]), Tree(records, tree_hash))
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None

    def _remote(self) -> Base | None:
        raw = self.aws.get_object(self.bucket, self.prefix + POINTER)
        if raw is None:
            return None
        try:
            pointer = json.loads(raw)
            listed = self.aws.get_object(self.bucket, str(pointer["filesKey"]))
            if listed is None:
                return None
            document = gzip.decompress(listed)
            base = _base(pointer, document)
        except (ValueError, KeyError, TypeError, EOFError, OSError):
            return None  # a pointer or list we cannot read: send a new base
        if base is not None:
            self._remember(pointer, base.tree)
        return base

    def _alive(self, base: Base) -> Base | None:
        head = self.aws.head_object(self.bucket, base.key)
        if head is None:
            return None
        modified = head.get("LastModified")
        return Base(base.key, base.files_sha256, base.tree,
                    modified if isinstance(modified, dt.datetime) else None)

    def keep_record(self) -> None:
        """Write the local record a held :meth:`find` read from the bucket, if any."""
        self._hold, held, self._held = False, self._held, None
        if held is not None:
            self._remember(*held)

    def _remember(self, pointer: Mapping[str, Any], tree: Tree) -> None:
        if self._hold:
            self._held = (pointer, tree)
            return
        self.record.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": RECORD_VERSION, "pointer": dict(pointer), "tree": tree.hash,
                "records": [tuple(r) for r in tree.records]}
        tmp = self.record.with_suffix(".tmp")
        tmp.write_bytes(marshal.dumps(data))
        tmp.replace(self.record)
        self.record.with_suffix(".json").unlink(missing_ok=True)  # a version 1 record


def _base(pointer: Mapping[str, Any], document: bytes) -> Base | None:
    key = str(pointer["key"])
    if hashlib.sha256(document).hexdigest() != pointer["filesSha256"]:
        return None
    tree = parse_document(document)
    if tree.hash != pointer.get("tree"):
        return None
    return Base(key, str(pointer["filesSha256"]), tree)


def build_delta(
    selection: Selection,
    tree: Tree,
    choice: Choice,
    entries: Mapping[str, bytes],
    output: Path,
) -> ArchiveResult:
    """The delta zip: the changed files, the runner entries and ``.cbdeploy/delta.json``."""
    assert choice.base is not None
    stats = complete_stats(selection)
    columns = bulk.FileColumns(selection.files, stats)
    picked = list(map(set(choice.changed).__contains__, columns.paths))
    subset = Selection(
        root=selection.root,
        files=tuple(compress(selection.files, picked)),
        stats={p: stats[p] for p in compress(columns.paths, picked)},
    )
    records = (dict(zip(choice.changed, choice.records, strict=True)) if choice.records
               else tree.by_path())  # (a Choice made by hand)
    document = {
        "version": 1,
        "baseKey": choice.base.key,
        "baseFilesSha256": choice.base.files_sha256,
        "sourceIdentifier": BASE_SOURCE,
        "tree": tree.hash,
        "removed": list(choice.removed),
        "changed": [[p, records[p].kind, records[p].size, records[p].sha256]
                    for p in choice.changed],
        "manifest": manifest_data(selection, stats, columns),
    }
    extra = {**entries, DELTA: (json.dumps(document, sort_keys=True) + "\n").encode("ascii")}
    # No cache: the compression cache belongs to the full archive of the same root.
    return build_archive(subset, output, extra_entries=extra)


def files_entry(tree: Tree) -> dict[str, bytes]:
    """The entry every deploy archive carries, so that it can serve as a base."""
    return {FILES: tree.document()}


def archive_key(infra: Infrastructure, archive: ArchiveResult) -> str:
    return source_key(infra.sources_prefix, archive.sha256)
