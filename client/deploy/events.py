"""What a deploy reports while it runs: events for the terminal layer to show.

The deploy service (``client.deploy.service``) emits these through its ``on_event``
callback, next to the follower's own events; ``client.output.terminal`` shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cbdeploy.client.aws.client import Build
from cbdeploy.client.aws.endpoint import AWS, Endpoint
from cbdeploy.client.deploy.runner_plan import GitInfo
from cbdeploy.client.deploy.upload import UploadResult
from cbdeploy.client.infra.bootstrap import Infrastructure
from cbdeploy.client.packaging import ArchiveResult, Selection


@dataclass(frozen=True)
class DeployStarting:
    app: str
    stage: str
    region: str
    project: str
    local: bool
    invocation_id: str
    account: str = ""  # the AWS account deployed to ("" where not known)
    endpoint: Endpoint = AWS  # where the calls go, when not AWS itself


@dataclass(frozen=True)
class FilesSelected:
    selection: Selection


@dataclass(frozen=True)
class PackagingProgress:
    done: int  # archive entries written so far
    total: int  # all of them: the selected files plus manifest, plan and runner


@dataclass(frozen=True)
class ArchiveBuilt:
    archive: ArchiveResult
    seconds: float
    kept_in: Path | None  # --preserve-temp-files: where the archive, buildspec and plan are


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
    region: str
    local: bool
    following: bool = True  # False with --detach: the client leaves at once
    at_terminal: bool = True  # a first Ctrl-C waits for a second; else any signal stops at once


@dataclass(frozen=True)
class Attached:
    """``logs``: reading a build that was started before, as it was when we came."""

    build: Build
    region: str
    local: bool
    following: bool  # --follow: we stay until it ends
    endpoint: Endpoint = AWS


@dataclass(frozen=True)
class StopScheduled:
    """A first Ctrl-C at a terminal: StopBuild goes out in ``seconds`` unless Ctrl-C comes again."""

    build_id: str
    seconds: float


@dataclass(frozen=True)
class StopRequested:
    """CodeBuild has the stop request; the deploy follows the build to its end."""

    build_id: str
    signal: str | None = None  # "SIGTERM", "SIGHUP"; None for Ctrl-C
    wait_seconds: float | None = None  # how long the end is waited for; None: as long as it takes


@dataclass(frozen=True)
class StopFailed:
    build_id: str
    message: str


@dataclass(frozen=True)
class Detached:
    """We leave the build running: ``--detach``, or a second Ctrl-C."""

    build_id: str | None  # None: Ctrl-C while StartBuild was in flight
    region: str
    local: bool
    interrupted: bool
    stop_requested: bool = False  # the first Ctrl-C's stop reached CodeBuild
    waited: float | None = None  # seconds waited for a stopped build that had not ended


EventSink = Callable[[object], None]
