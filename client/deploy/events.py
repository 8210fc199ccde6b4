"""What a deploy reports while it runs: events for the presenters to show.

The deploy service (``client.deploy.service``) emits these through its ``on_event``
callback, next to the follower's own (``client.watch.events``). :data:`Event`
is the closed union of both: every presenter (``client.output``) dispatches on
it with ``match`` and ends with ``assert_never``, so an event without a handler
fails mypy. Where the build runs (region, endpoint, ``--local``) is no event's
field: the output session (``client.output.session``) tells the presenters once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cbdeploy.client.aws.results import Build, BuildBatch
from cbdeploy.client.watch.events import (
    WatchEvent,
)

if TYPE_CHECKING:  # (field types only: importing the events loads neither boto3 nor click)
    from cbdeploy.client.deploy.selection import ServiceChoice
    from cbdeploy.client.deploy.upload import UploadResult
    from cbdeploy.client.infra.model import Infrastructure
    from cbdeploy.client.packaging import ArchiveResult, Selection
    from cbdeploy.client.packaging.gitcmd import GitInfo



@dataclass(frozen=True)
class DeployStarting:
    app: str
    stage: str
    project: str
    invocation_id: str
    account: str = ""  # the AWS account deployed to ("" where not known)
    config: str = ""  # the cbdeploy.toml used (found upward from the working directory)


@dataclass(frozen=True)
class ServicesSelected:
    """A workspace deploy's services and why each was picked; before anything is uploaded.

    With ``--affected`` the choice may be empty: nothing to deploy, nothing started.
    """

    choice: ServiceChoice
    stage: str


@dataclass(frozen=True)
class DeployRecorded:
    """After a successful deploy: the commit recorded as these services' last deploy to the
    stage (``deploy --affected`` counts changes from it), or why it could not be."""

    services: tuple[str, ...]
    stage: str
    commit: str | None  # None: not recorded (``error`` says why)
    dirty: bool = False  # the deploy shipped uncommitted files too (the record lists them)
    pending: int = 0  # how many
    error: str | None = None


@dataclass(frozen=True)
class FilesSelected:
    selection: Selection


@dataclass(frozen=True)
class PackagingProgress:
    done: int  # bytes of content packaged so far (read and compressed, or reused)
    total: int  # all of them: the selected files' sizes plus manifest, plan and runner


@dataclass(frozen=True)
class FilesHashed:
    """Every selected file hashed (the tree), the full archive not written yet: a warm
    deploy that may send a delta writes it once the build is started (deploy.full)."""

    file_count: int
    raw_size: int  # bytes of content
    seconds: float


@dataclass(frozen=True)
class ArchiveBuilt:
    archive: ArchiveResult
    seconds: float
    kept_in: Path | None  # --preserve-temp-files: where the archive, buildspec and plan are
    after_start: bool = False  # a delta deploy's full archive, written once the build started


@dataclass(frozen=True)
class ConfirmationNeeded:
    """The stage asks before deploying: what is about to go where, shown before the question.

    Sent once the archive is built and before anything is created in AWS.
    """

    app: str
    stage: str
    region: str
    account: str
    archive: ArchiveResult
    git: GitInfo | None  # None: the project is not in a git work tree


@dataclass(frozen=True)
class BootstrapStep:
    what: str  # one change bootstrap is making, for people


@dataclass(frozen=True)
class BootstrapDone:
    infra: Infrastructure


@dataclass(frozen=True)
class UploadStarting:
    key: str
    size: int


@dataclass(frozen=True)
class UploadProgress:
    done: int
    total: int


@dataclass(frozen=True)
class UploadDone:
    result: UploadResult
    size: int
    seconds: float


@dataclass(frozen=True)
class BuildStarted:
    build: Build
    following: bool = True  # False with --detach: the client leaves at once
    at_terminal: bool = True  # a first Ctrl-C waits for a second; else any signal stops at once


@dataclass(frozen=True)
class BatchStarted:
    """StartBuildBatch answered: a workspace's services, one build each (deploy.batch_deploy)."""

    batch: BuildBatch
    services: tuple[tuple[str, str], ...]  # (service, batch identifier), in dependency order
    fast_fail: bool = True  # False with --keep-going
    following: bool = True  # False with --detach


DeployEvent = (
    DeployStarting | ServicesSelected | FilesSelected | FilesHashed | PackagingProgress
    | ArchiveBuilt | ConfirmationNeeded | BootstrapStep | BootstrapDone | UploadStarting
    | UploadProgress | UploadDone | BuildStarted | BatchStarted | DeployRecorded
)
Event = DeployEvent | WatchEvent  # everything a deploy or a followed build tells
EventSink = Callable[[Event], None]
