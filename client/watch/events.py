"""What following a build yields: a closed set of frozen event dataclasses.

:class:`~cbdeploy.client.watch.follow.Follower` yields :data:`FollowEvent`;
the follow-to-outcome loop (``client.watch.track``) adds the events around it
(:data:`WatchEvent`: attached, a stop asked for, left running). The deploy's
own events are in ``client.deploy.events``, and
:data:`cbdeploy.client.deploy.events.Event` is the union of both that every
presenter dispatches on with ``match`` (closed with ``assert_never``).
Importing this module loads neither boto3 nor click.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from cbdeploy.client.aws.results import Build, BuildBatch, Phase
from cbdeploy.client.watch.markers import Marker

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover - Python 3.10

    def assert_never(value: NoReturn, /) -> NoReturn:
        """The end of a ``match`` over a closed union: mypy proves it unreachable."""
        raise AssertionError(f"unhandled event: {type(value).__name__}")


@dataclass(frozen=True)
class PhaseChanged:
    """A phase appeared (``phase.status`` is None) or finished with a status."""

    build: Build
    phase: Phase


@dataclass(frozen=True)
class LogLine:
    """One remote log line, without its trailing newline; untrusted text."""

    timestamp: int  # milliseconds since the epoch, as CloudWatch stores it
    message: str


@dataclass(frozen=True)
class MarkerEvent:
    """A runner marker line (``::cbdeploy:: {...}``), parsed; never shown raw."""

    marker: Marker
    timestamp: int = 0


@dataclass(frozen=True)
class BuildFinished:
    """The build is complete and every line of its log has been yielded."""

    build: Build


@dataclass(frozen=True)
class ContactLost:
    """Calls have failed for a while; the follower keeps retrying.

    ``throttled``: AWS answers, but refuses to serve so many calls; the
    follower slows down and goes on as long as the build runs. Otherwise no
    answer came, and it gives up ``retrying_for`` seconds after the last one.
    """

    error: str  # the last failure, as the AWS door words it
    seconds: float  # since the last successful call
    retrying_for: float
    throttled: bool = False


@dataclass(frozen=True)
class ContactRestored:
    """A call succeeded again after :class:`ContactLost`; nothing was lost meanwhile."""

    seconds: float  # how long nothing succeeded


@dataclass(frozen=True)
class FollowLost:
    """The follower gave up: the build was started, its outcome is unknown. The last event."""

    build: Build  # as last seen
    reason: str
    vanished: bool = False  # the endpoint no longer knows the build (it was restarted)


@dataclass(frozen=True)
class StillRunning:
    """Nothing new for :data:`~cbdeploy.client.watch.silence.PULSE` seconds: the build runs on.

    Plain output turns it into a heartbeat line, because some CI systems kill a
    job that prints nothing for ten minutes. ``running`` is how long the
    current pipeline step (or, before the first step, phase) has been running
    as far as the follower saw it.
    """

    running: float


@dataclass(frozen=True)
class Quiet:
    """Nothing new for a few seconds (:data:`~cbdeploy.client.watch.silence.QUIET`); once a stretch.

    A live terminal shows a spinner with the running step and its time until
    the next line; elsewhere nothing (plain output waits for :class:`StillRunning`).
    ``running`` as in :class:`StillRunning`.
    """

    running: float


FollowEvent = (
    PhaseChanged | LogLine | MarkerEvent | BuildFinished | ContactLost | ContactRestored
    | FollowLost | StillRunning | Quiet
)


# ---------------------------------------------------------------------- around the follow


@dataclass(frozen=True)
class Attached:
    """``logs``: reading a build that was started before, as it was when we came."""

    build: Build
    following: bool  # --follow: we stay until it ends


@dataclass(frozen=True)
class StopScheduled:
    """A first Ctrl-C at a terminal: StopBuild goes out in ``seconds`` unless Ctrl-C comes again."""

    build_id: str
    seconds: float
    batch: bool = False  # the id is a batch's: the whole batch is stopped


@dataclass(frozen=True)
class StopRequested:
    """CodeBuild has the stop request; the deploy follows the build to its end."""

    build_id: str
    signal: str | None = None  # "SIGTERM", "SIGHUP"; None for Ctrl-C
    wait_seconds: float | None = None  # how long the end is waited for; None: as long as it takes
    batch: bool = False  # the id is a batch's: StopBuildBatch


@dataclass(frozen=True)
class StopFailed:
    build_id: str
    message: str
    batch: bool = False


@dataclass(frozen=True)
class Detached:
    """We leave the build running: ``--detach``, or a second Ctrl-C."""

    build_id: str | None  # None: Ctrl-C while StartBuild was in flight
    interrupted: bool
    stop_requested: bool = False  # the first Ctrl-C's stop reached CodeBuild
    waited: float | None = None  # seconds waited for a stopped build that had not ended
    batch: bool = False  # the id is a batch's


# ---------------------------------------------------------------------- a batch build


@dataclass(frozen=True)
class BatchAttached:
    """``logs`` of a batch id: the batch as it was when we came."""

    batch: BuildBatch
    following: bool


@dataclass(frozen=True)
class ServiceStarted:
    """A build of the batch was found running (or ended): its service's events follow.

    ``names``: every service of the batch known now, in the graph's order (the
    prefix is padded to the longest; each keeps its colour by its place).
    """

    service: str
    identifier: str  # its task in the build graph
    build: Build
    names: tuple[str, ...]


@dataclass(frozen=True)
class ServiceEvent:
    """One event of one service's build, as the single-build follower yields it."""

    service: str
    event: FollowEvent


@dataclass(frozen=True)
class BatchFinished:
    """The batch is complete and every build's log has been yielded."""

    batch: BuildBatch


# What watching a build tells: the follower's events and the ones around them
# (attached, a stop asked for, left running); for a batch, each build's events
# tagged with its service.
BatchEvent = BatchAttached | ServiceStarted | ServiceEvent | BatchFinished
WatchEvent = (
    FollowEvent | Attached | StopScheduled | StopRequested | StopFailed | Detached | BatchEvent
)
WatchSink = Callable[[WatchEvent], None]

