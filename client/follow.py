"""Follow a CodeBuild build: its phases and its CloudWatch log lines, as events.

:class:`Follower` is a generator, like chalice's ``logs.py``: it yields
:data:`FollowEvent` values and never prints; the terminal layer renders them.

How it reads the log:

* GetLogEvents with ``startFromHead`` and forward tokens. The forward token
  is an exact position in the stream, so every event is delivered once and in
  order, including many events that share a millisecond (nudging a start
  time by one millisecond, as some tools do, loses those). The stream has no
  more events when the token comes back unchanged.
* Every page is drained before sleeping, so a burst of thousands of lines
  arrives at once instead of one page per poll.
* A failed poll (throttling, a 5xx, a dropped connection that botocore's own
  retries did not hide) is retried later with the same token: nothing is
  lost and nothing repeats. A token the service refuses (they expire) makes
  the follower read again from the head, skipping as many events as it has
  already delivered: an event's identity is its position, never its
  timestamp.
* Polls are fast while lines flow and back off while the build is quiet,
  multiplying the interval up to a cap, with jitter, and dropping back to
  fast as soon as lines come again. The build itself (BatchGetBuilds) is
  polled less often than the log while things are quiet.

Phases: a phase's start and its end are each yielded once, in place. CodeBuild
logs "Entering phase X" and "Phase complete: X State: S" for the phases it
runs in the container; those lines place the :class:`PhaseChanged` events
between the lines around them and time the phase. BatchGetBuilds tells the
other phases: FINALIZING and COMPLETED once the log is read to its end (as
any end the log never told).

The follow ends when the build is complete and the log has been read to its
end, with one more read a moment later for lines still being ingested.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from client.aws_results import Phase
from client.errors import AwsError, CredentialsError, NotFoundError
from client.markers import Marker, parse_marker

if TYPE_CHECKING:
    from client.aws import AwsClient, Build, LogEvent

# Seconds. The log cap bounds how late a line shows after a quiet spell.
FAST_INTERVAL = 0.4
QUIET_CAP = 2.0
GROWTH = 1.6
JITTER = 0.25  # a sleep is the interval times a random factor in [1 - JITTER, 1]
# The build (BatchGetBuilds) is polled about once a second after lines came,
# backing off to the cap while quiet, and at the log's pace once the runner
# reports the pipeline's end.
BUILD_POLL_MIN = 1.0
BUILD_POLL_CAP = 5.0
# Consecutive failed polls tolerated before the last error is raised
# (about a minute at the capped interval).
MAX_CONSECUTIVE_ERRORS = 30
# GetLogEvents refuses a token it no longer accepts (tokens expire) with this code.
INVALID_TOKEN = "InvalidParameterException"
# CodeBuild writes this line into the log as a phase starts. Taking phase starts
# from the log, once it exists, puts them exactly between the lines of the
# phases around them; BatchGetBuilds is polled at its own pace and would show
# a phase start late, after lines of that phase.
ENTERING_PHASE = re.compile(r"^\[Container\] \S+ \S+ Entering phase ([A-Z_]+)")
# ... and this one as a phase ends, after the phase's last line. Its time and
# the start's give the phase's duration at once, to the millisecond.
PHASE_COMPLETE = re.compile(r"^\[Container\] \S+ \S+ Phase complete: ([A-Z_]+) State: (\w+)")
# The phases that run buildspec commands, whose start CodeBuild logs that way.
LOGGED_PHASES = frozenset({"INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"})
# The phases whose end CodeBuild logs ("Phase complete"). BatchGetBuilds tells
# these ends late or early, so its word on them waits for the end of the build
# (a stopped or timed-out build may never log the end).
LOGGED_ENDS = LOGGED_PHASES | {"DOWNLOAD_SOURCE", "UPLOAD_ARTIFACTS"}
# The phases after the container's: BatchGetBuilds may report them while the
# log's last lines are still unread, so they wait for the end of the log.
AFTER_THE_LOG = frozenset({"FINALIZING", "COMPLETED"})


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


FollowEvent = PhaseChanged | LogLine | MarkerEvent | BuildFinished


def _transient_errors() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:  # pragma: no cover - botocore is a dependency
        return (AwsError,)
    return (AwsError, BotoCoreError)


TRANSIENT = _transient_errors()


def strip_newline(message: str) -> str:
    """Drop the one line ending CodeBuild leaves on each event, nothing else."""
    if message.endswith("\n"):
        message = message[:-1]
    if message.endswith("\r"):
        message = message[:-1]
    return message


def to_event(event: LogEvent) -> LogLine | MarkerEvent:
    text = strip_newline(event.message)
    marker = parse_marker(text)
    if marker is not None:
        return MarkerEvent(marker, event.timestamp)
    return LogLine(event.timestamp, text)


@dataclass
class _Cursor:
    """Where we are in one log stream."""

    group: str | None = None
    stream: str | None = None
    token: str | None = None
    at_end: bool = False  # the last read came back with the token unchanged
    missing: bool = True  # the stream did not exist at the last read
    failed: bool = False  # the last read raised a transient error
    # An event's identity is its position in the stream: ``delivered`` counts
    # them, and after a forced re-read from the head the first ``skip`` are
    # the ones already delivered.
    delivered: int = 0
    skip: int = 0

    def point_at(self, group: str | None, stream: str | None) -> None:
        if (group, stream) != (self.group, self.stream):
            self.group, self.stream = group, stream
            self.token, self.at_end, self.missing, self.failed = None, False, True, False
            self.delivered = self.skip = 0

    def restart(self) -> None:
        """Read again from the head (the token was refused), skipping what was delivered."""
        self.token, self.at_end, self.skip = None, False, self.delivered


class Follower:
    """Yield a build's phase changes, log lines and markers until it ends.

    ``sleep``, ``clock`` and ``rng`` are injected so tests can run the loop
    without waiting and assert on the sleeps it asks for.
    """

    def __init__(
        self,
        aws: AwsClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._aws = aws
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        # Consecutive failures per operation: a healthy BatchGetBuilds must not
        # hide a GetLogEvents that keeps failing.
        self._errors: dict[str, int] = {}
        self._end_expected = False  # see expect_end()

    def expect_end(self) -> None:
        """The build was asked to stop: from now on poll it at the log's pace, not backed off."""
        self._end_expected = True

    def follow(
        self, build_id: str, *, wait: bool = True, known: Build | None = None
    ) -> Iterator[FollowEvent]:
        """Events of ``build_id`` from the start of its log.

        With ``wait=False``, yield what exists now and stop; the last event is
        :class:`BuildFinished` only if the build is already complete.
        ``known`` is the build as the caller just read it (no second read).
        Raises :class:`~client.errors.NotFoundError` for an unknown build, and
        the last error after too many consecutive failed polls.
        """
        build = known if known is not None else self._first_build(build_id)
        phases = _Phases()
        cursor = _Cursor()
        yield from phases.from_build(build)
        interval = FAST_INTERVAL
        build_interval = BUILD_POLL_MIN
        last_build_poll = self._clock()
        ending = False  # the runner said the pipeline ended: the build is about to
        tail_reads = 0
        while True:
            cursor.point_at(build.log_group, build.log_stream)
            lines = 0
            if cursor.stream and cursor.group:
                for event in self._drain(cursor):
                    lines += 1
                    if isinstance(event, MarkerEvent) and event.marker.event == "pipeline-end":
                        ending = True
                    elif isinstance(event, LogLine):
                        yield from phases.from_line(build, event)
                    yield event
            if build.complete and not cursor.failed and (cursor.at_end or cursor.missing):
                # One more read after a short pause catches lines CloudWatch
                # was still ingesting when the build reported completion.
                if tail_reads >= 1 or not wait:
                    yield from phases.from_build(build, final=True)
                    yield BuildFinished(build)
                    return
                tail_reads += 1
                interval = FAST_INTERVAL
            elif not wait and not cursor.failed:
                return
            elif lines:
                interval = FAST_INTERVAL
                build_interval = BUILD_POLL_MIN  # a build often ends right after its last line
                tail_reads = 0
            else:
                interval = min(interval * GROWTH, QUIET_CAP)
            self._sleep(self._jittered(interval))

            now = self._clock()
            due = now - last_build_poll >= build_interval
            soon = ending or self._end_expected
            if not build.complete and (due or soon or not cursor.stream or cursor.missing):
                polled = self._poll_build(build_id)
                last_build_poll = now
                if not lines:
                    build_interval = min(build_interval * GROWTH, BUILD_POLL_CAP)
                if polled is not None:
                    build = polled
                    yield from phases.from_build(build)

    def _jittered(self, interval: float) -> float:
        return interval * (1.0 - JITTER * self._rng())

    def _first_build(self, build_id: str) -> Build:
        while True:
            build = self._poll_build(build_id)
            if build is not None:
                return build
            self._sleep(self._jittered(FAST_INTERVAL * 2))

    def _poll_build(self, build_id: str) -> Build | None:
        """The build, or None after a transient error (counted; raised when too many)."""
        try:
            build = self._aws.get_build(build_id)
        except (CredentialsError, NotFoundError):
            raise
        except TRANSIENT as error:
            self._count_error("build", error)
            return None
        self._errors["build"] = 0
        return build

    def _drain(self, cursor: _Cursor) -> Iterator[LogLine | MarkerEvent]:
        assert cursor.group is not None and cursor.stream is not None
        cursor.failed = False
        while True:
            try:
                page = self._aws.get_log_events(cursor.group, cursor.stream, cursor.token)
            except NotFoundError:
                cursor.missing = True
                return
            except CredentialsError:
                raise
            except TRANSIENT as error:
                self._count_error("logs", error)
                cursor.failed = True
                if getattr(error, "code", None) == INVALID_TOKEN and cursor.token is not None:
                    cursor.restart()
                return
            self._errors["logs"] = 0
            cursor.missing = False
            for event in page.events:
                if cursor.skip:
                    cursor.skip -= 1
                    continue
                cursor.delivered += 1
                yield to_event(event)
            if cursor.token is not None and page.next_token == cursor.token:
                cursor.at_end = True
                return
            cursor.token = page.next_token
            cursor.at_end = False

    def _count_error(self, operation: str, error: BaseException) -> None:
        self._errors[operation] = self._errors.get(operation, 0) + 1
        if self._errors[operation] > MAX_CONSECUTIVE_ERRORS:
            raise error



class _Phases:
    """Which phase starts and ends were yielded, and when each phase began.

    A phase's start and its end are each yielded once, from whichever source
    tells it first at its right place: the log's "Entering phase" and "Phase
    complete" lines where CodeBuild writes them, BatchGetBuilds for the rest
    (and, once the build is complete, for ends the log never told).
    """

    def __init__(self) -> None:
        self.seen: set[tuple[str, bool]] = set()  # (phase, ended)
        self.began: dict[str, datetime] = {}

    def from_build(self, build: Build, *, final: bool = False) -> Iterator[PhaseChanged]:
        from_log = build.log_stream is not None and not final
        for phase in build.phases:
            ended = phase.status is not None
            if phase.start is not None:
                self.began.setdefault(phase.name, phase.start)
            if from_log and phase.name in AFTER_THE_LOG:
                continue
            if not (from_log and phase.name in LOGGED_PHASES):
                # A phase over before a poll saw it running still starts first.
                yield from self._start(build, phase.name, phase.start)
            if not ended or (phase.name, True) in self.seen:
                continue
            if from_log and phase.name in LOGGED_ENDS:
                continue
            yield from self._start(build, phase.name, phase.start)
            self.seen.add((phase.name, True))
            yield PhaseChanged(build, phase)

    def _start(self, build: Build, name: str, at: datetime | None) -> Iterator[PhaseChanged]:
        """The start of ``name`` unless it was yielded: every end comes after its start."""
        if (name, False) not in self.seen:
            self.seen.add((name, False))
            yield PhaseChanged(build, Phase(name, None, at, None, None, ()))

    def from_line(self, build: Build, line: LogLine) -> Iterator[PhaseChanged]:
        if not line.message.startswith("[Container] "):
            return  # (most lines: no regular expression for them)
        entering = ENTERING_PHASE.match(line.message)
        if entering is not None:
            name, at = entering.group(1), _moment(line.timestamp)
            self.began[name] = at  # the log's clock, like the end's
            yield from self._start(build, name, at)
            return
        complete = PHASE_COMPLETE.match(line.message)
        if complete is not None:
            name, status = complete.group(1), complete.group(2)
            if (name, True) in self.seen:
                return
            yield from self._start(build, name, self.began.get(name))
            self.seen.add((name, True))
            end = _moment(line.timestamp)
            start = self.began.get(name)
            seconds = None if start is None else max(0, int((end - start).total_seconds()))
            yield PhaseChanged(build, Phase(name, status, start, end, seconds, ()))


def phase_seconds(phase: Phase) -> float | None:
    """How long ``phase`` took, to the precision known (CodeBuild's own field is whole seconds)."""
    if phase.start is not None and phase.end is not None:
        return max(0.0, (phase.end - phase.start).total_seconds())
    return None if phase.duration is None else float(phase.duration)


def _moment(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
