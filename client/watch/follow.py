"""Follow a CodeBuild build: its phases and its CloudWatch log lines, as events.

:class:`Follower` is a generator, like chalice's ``logs.py``: it yields
:data:`FollowEvent` values and never prints; the terminal layer renders them.

How it reads the log:

* GetLogEvents with ``startFromHead`` and forward tokens. The forward token
  is an exact position in the stream, so every event is delivered once and in
  order, including many events that share a millisecond (nudging a start
  time by one millisecond, as some tools do, loses those). The stream has no
  more events when the token comes back unchanged.
* A full page is followed at once by the next, so a burst arrives at once; a page
  short of the limits (``cursor.may_be_full``) ended the stream when read, so the next
  poll reads on (no confirming read); the end of a build reads to the repeated token.
* A failed poll (throttling, a 5xx, a dropped connection that botocore's own
  retries did not hide) is retried later with the same token: nothing is
  lost and nothing repeats. A token the service refuses (they expire) makes
  the follower read again from the head, skipping as many events as it has
  already delivered: an event's identity is its position, never its
  timestamp.
* Failures back off: 1 s, 2 s, 4 s ... up to 30 s, jittered, and back to the
  normal pace after the first success. While an operation has had no success
  for :data:`LOST_NOTICE` seconds the follower yields :class:`ContactLost`
  (once; :class:`ContactRestored` when calls succeed again), and it keeps
  trying for as long as the build may run: throttling (AWS answers, but not
  now) never stops it. Only when no answer at all comes for ``give_up_after``
  seconds (:data:`GIVE_UP_AFTER`, ten minutes) it yields :class:`FollowLost`
  and stops. The build was started and may still be
  running; its outcome is unknown (``cbdeploy`` exits 3). A build that the
  endpoint no longer knows (an emulator restarted) ends the follow the same
  way at once.
* CloudWatch takes events of at most 256 KB (262,144 bytes including 26
  bytes of overhead per event), so CodeBuild writes a longer line as several
  events, cut at the limit, and marks nothing; only the last piece ends with
  the line's newline. An event without a newline whose size is at the limit
  (allowing for a UTF-8 character that did not fit) is such a piece: the
  follower joins it to the events that follow, up to the one that ends the
  line, and yields one :class:`LogLine`. The emulator splits the same way
  (``emulator/logs.py``).
* A line's own characters stay as they are, carriage returns included (a
  ``\r\n`` ending is a line ending); what a terminal may show is the
  renderer's business. Marker lines are read with
  :class:`~client.watch.markers.MarkerReader`: only the runner's, signed with its
  token, become :class:`MarkerEvent`.
* Polls are fast while lines flow and back off while the build is quiet,
  multiplying the interval up to a cap, with jitter, and dropping back to
  fast as soon as lines come again. The build itself (BatchGetBuilds) is
  polled less often than the log while things are quiet.

Phases: a phase's start and its end are each yielded once, in place. CodeBuild
logs "Entering phase X" and "Phase complete: X State: S" for the phases it
runs in the container; those lines place the :class:`PhaseChanged` events
between the lines around them and time the phase. BatchGetBuilds tells the
other phases, and its word is ordered by the log: the phases before the
container's (SUBMITTED to DOWNLOAD_SOURCE) come before any line of the
container anyway, and a phase after BUILD that the log does not announce
(UPLOAD_ARTIFACTS, FINALIZING, COMPLETED, any phase CodeBuild may add) waits
for the log's own "Entering phase" line or the end of the stream, since
BatchGetBuilds reports it while the lines before it are still being ingested
(as any end the log never told).

The follow ends when the build is complete and the log has been read to its
end, with one more read a moment later for lines still being ingested.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING

from cbdeploy.client.aws.errors import is_transient
from cbdeploy.client.errors import AwsError, CredentialsError, NotFoundError
from cbdeploy.client.watch.cursor import Cursor, is_split_piece, joined, may_be_full, to_event
from cbdeploy.client.watch.events import (
    BuildFinished,
    ContactLost,
    ContactRestored,
    FollowEvent,
    FollowLost,
    LogLine,
    MarkerEvent,
)
from cbdeploy.client.watch.markers import MarkerReader, runs_the_runner
from cbdeploy.client.watch.phases import Phases
from cbdeploy.client.watch.silence import PULSE, Silence

if TYPE_CHECKING:
    from cbdeploy.client.aws.results import Build
    from cbdeploy.client.watch.shared import FollowDoor


# Seconds. GetLogEvents' quota (25/s per account and region) is shared by parallel
# deploys: a chatty build costs one read per poll (about 1.3/s with jitter), a quiet
# one about 10 calls a minute, both kinds; the log cap bounds a quiet line's delay.
FAST_INTERVAL = 0.9
QUIET_CAP = 10.0
GROWTH = 1.6
# A quiet pause is slept in slices of this: a stop asked meanwhile (expect_end) acts soon.
PAUSE_SLICE = 2.5
JITTER = 0.25  # a sleep is the interval times a random factor in [1 - JITTER, 1]
# The build (BatchGetBuilds) is polled about once a second after lines came,
# backing off to the cap while quiet, and at the log's pace once the runner
# reports the pipeline's end.
BUILD_POLL_MIN = 1.0
BUILD_POLL_CAP = 20.0
# After failed polls: the first retry in ERROR_BASE seconds, doubling up to ERROR_CAP.
ERROR_BASE = 1.0
ERROR_CAP = 30.0
# Seconds without a successful call before the follower says the contact is lost ...
LOST_NOTICE = 3.0
# ... and before it gives up (the build's outcome is then unknown: exit 3). A
# throttled call was answered: throttling slows the follower down, never stops it.
GIVE_UP_AFTER = 600.0
THROTTLED = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "ProvisionedThroughputExceededException",
})
# GetLogEvents refuses a token it no longer accepts (tokens expire) with this code.
INVALID_TOKEN = "InvalidParameterException"


class _Contact:
    """How the calls of one operation fare: when one last succeeded, how many failed since."""

    def __init__(self, now: float) -> None:
        self.last_ok = now
        self.last_answer = now  # a success, or a refusal to serve now (throttling)
        self.failures = 0
        self.failing_since = now  # when the first failed call of the streak began
        self.error = ""
        self.throttled = False


class Follower:
    """Yield a build's phase changes, log lines and markers until it ends.

    ``sleep``, ``clock`` and ``rng`` are injected so tests can run the loop
    without waiting and assert on the sleeps it asks for; ``give_up_after`` is
    how many seconds without any answer from AWS (throttling is one) end the
    follow with :class:`FollowLost`.
    """

    def __init__(
        self,
        aws: FollowDoor,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        give_up_after: float = GIVE_UP_AFTER,
        pulse: float = PULSE,
    ) -> None:
        self._aws = aws
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._give_up_after = give_up_after
        self._silence = Silence(0.0, pulse)  # when a quiet build gets Quiet and StillRunning
        # Per operation: a healthy BatchGetBuilds must not hide a GetLogEvents
        # that keeps failing.
        self._contact: dict[str, _Contact] = {}
        self._lost_since: float | None = None  # ContactLost was yielded, not yet restored
        self._pending: list[ContactLost | ContactRestored] = []
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
        Raises :class:`~client.errors.NotFoundError` for an unknown build and
        :class:`~client.errors.CredentialsError` when AWS refuses the
        credentials; ends with :class:`FollowLost` when it gives up. After
        ``pulse`` seconds without an event, a running build yields
        :class:`StillRunning` (and, once a quiet stretch, :class:`Quiet`: ``client.watch.silence``).
        """
        self._silence = Silence(self._clock(), self._silence.pulse)
        inner = self._follow(build_id, wait=wait, known=known)
        try:
            for event in inner:
                self._silence.news(event, self._clock())
                yield event
        finally:
            inner.close()

    def _follow(
        self, build_id: str, *, wait: bool, known: Build | None
    ) -> Generator[FollowEvent, None, None]:
        started = self._clock()
        self._contact = {"build": _Contact(started), "logs": _Contact(started)}
        build = known if known is not None else (yield from self._first_build(build_id))
        phases = Phases()
        cursor = Cursor()
        markers = MarkerReader(runner=runs_the_runner(build.buildspec))
        yield from phases.from_build(build)
        interval, build_interval, last_build_poll = FAST_INTERVAL, BUILD_POLL_MIN, self._clock()
        ending = False  # the runner said the pipeline ended: the build is about to
        tail_reads = 0
        while True:
            lines, ended = yield from self._read(cursor, markers, phases, build)
            ending = ending or ended
            if build.complete and not cursor.failed and (cursor.at_end or cursor.missing):
                # One more read after a short pause catches lines CloudWatch
                # was still ingesting when the build reported completion.
                if tail_reads >= 1 or not wait:
                    yield from self._end(cursor, markers, phases, build)
                    return
                tail_reads += 1
                interval = FAST_INTERVAL
            elif not wait and not cursor.failed:
                if cursor.pieces:  # a long line still being written: what exists of it
                    yield joined(cursor, markers, None)
                return
            elif lines:
                interval = FAST_INTERVAL
                build_interval = BUILD_POLL_MIN  # a build often ends right after its last line
                tail_reads = 0
            else:
                interval = self._quiet_interval(interval, ending)
                if wait and not build.complete:
                    yield from self._silence.due(self._clock())
            lost = self._gave_up(build)
            if lost is not None:
                yield lost
                return
            self._wait(interval)

            now = self._clock()
            due = now - last_build_poll >= build_interval
            soon = ending or self._end_expected
            if not build.complete and (due or soon or not cursor.stream or cursor.missing):
                refreshed = yield from self._refresh(build_id, build, phases)
                if refreshed is None:
                    return
                build, last_build_poll = refreshed, now
                if not lines:
                    build_interval = min(build_interval * GROWTH, BUILD_POLL_CAP)

    def _read(
        self, cursor: Cursor, markers: MarkerReader, phases: Phases, build: Build
    ) -> Generator[FollowEvent, None, tuple[int, bool]]:
        """Drain the log: (lines read, whether the runner said the pipeline ended)."""
        lines, ending = 0, False
        cursor.point_at(build.log_group, build.log_stream)
        if cursor.stream and cursor.group:
            for event in self._drain(cursor, markers, to_end=build.complete):
                lines += 1
                if isinstance(event, MarkerEvent) and event.marker.event == "pipeline-end":
                    ending = True
                elif isinstance(event, LogLine):
                    yield from phases.from_line(build, event)
                yield event
        yield from self._news()
        return lines, ending

    @staticmethod
    def _end(
        cursor: Cursor, markers: MarkerReader, phases: Phases, build: Build
    ) -> Iterator[FollowEvent]:
        """The build is complete and its log read: the last line, the phases' ends, the end."""
        if cursor.pieces:  # a line cut short by the end of the log
            yield joined(cursor, markers, None)
        yield from phases.from_build(build, final=True)
        yield BuildFinished(build)

    def _refresh(
        self, build_id: str, build: Build, phases: Phases
    ) -> Generator[FollowEvent, None, Build | None]:
        """Poll the build (the last seen after a failed poll); None: the follow ends."""
        try:
            polled = self._poll_build(build_id)
        except NotFoundError as error:
            # It was there: the endpoint has forgotten it (an emulator restarted).
            yield FollowLost(build, error.message, vanished=True)
            return None
        yield from self._news()
        if polled is None:
            return build
        yield from phases.from_build(polled)
        return polled

    def _quiet_interval(self, interval: float, ending: bool) -> float:
        if ending or self._end_expected:
            return FAST_INTERVAL  # the end is near: no backing off
        return interval if self._error_interval() else min(interval * GROWTH, QUIET_CAP)

    def _wait(self, interval: float) -> None:
        """After failed calls their back-off alone sets the pace; a quiet pause is cut
        short when the end becomes expected meanwhile (a stop was asked)."""
        if self._error_interval():
            self._sleep(self._jittered(self._error_interval()))
            return
        seconds, expected = self._jittered(interval), self._end_expected
        while seconds > 0 and not (self._end_expected and not expected):
            step = min(seconds, PAUSE_SLICE)
            self._sleep(step)
            seconds -= step

    def _jittered(self, interval: float) -> float:
        return interval * (1.0 - JITTER * self._rng())

    def _first_build(self, build_id: str) -> Generator[FollowEvent, None, Build]:
        while True:
            build = self._poll_build(build_id)
            yield from self._news()
            if build is not None:
                return build
            contact = self._contact["build"]
            if self._clock() - contact.last_answer >= self._give_up_after:
                raise AwsError(contact.error)
            self._sleep(self._jittered(max(FAST_INTERVAL * 2, self._error_interval())))

    def _poll_build(self, build_id: str) -> Build | None:
        """The build, or None after a transient error (counted)."""
        try:
            began = self._clock()
            build = self._aws.get_build(build_id)
        except (CredentialsError, NotFoundError):
            raise
        except Exception as error:
            if not is_transient(error):
                raise
            self._failed("build", error, began)
            return None
        self._succeeded("build")
        return build

    def _drain(
        self, cursor: Cursor, markers: MarkerReader, *, to_end: bool = False
    ) -> Iterator[LogLine | MarkerEvent]:
        """Read the log on from the cursor: while the build runs, to the first page that is
        not full; with ``to_end`` (the build is complete), until the token repeats."""
        assert cursor.group is not None and cursor.stream is not None
        cursor.failed = False
        while True:
            try:
                began = self._clock()
                page = self._aws.get_log_events(cursor.group, cursor.stream, cursor.token)
            except NotFoundError:
                self._succeeded("logs")  # an answer: the stream does not exist (yet)
                cursor.missing = True
                return
            except CredentialsError:
                raise
            except Exception as error:
                if not is_transient(error):
                    raise
                self._failed("logs", error, began)
                cursor.failed = True
                if getattr(error, "code", None) == INVALID_TOKEN and cursor.token is not None:
                    cursor.restart()
                return
            self._succeeded("logs")
            cursor.missing = False
            for event in page.events:
                if cursor.skip:
                    cursor.skip -= 1
                    continue
                cursor.delivered += 1
                if is_split_piece(event.message):
                    cursor.pieces.append(event)
                elif cursor.pieces:
                    yield joined(cursor, markers, event)
                else:
                    yield to_event(event, markers)
            if cursor.token is not None and page.next_token == cursor.token:
                cursor.at_end = True
                return
            cursor.token = page.next_token
            cursor.at_end = False
            if page.events and not to_end and not may_be_full(page.events):
                return  # the end of the stream when read: the next poll reads on

    # -- failures

    def _succeeded(self, operation: str) -> None:
        contact = self._contact[operation]
        contact.last_ok = contact.last_answer = self._clock()
        contact.failures = 0
        if self._lost_since is not None and all(c.failures == 0 for c in self._contact.values()):
            self._pending.append(ContactRestored(self._clock() - self._lost_since))
            self._lost_since = None

    def _failed(self, operation: str, error: BaseException, began: float) -> None:
        contact = self._contact[operation]
        contact.failures += 1
        if contact.failures == 1:
            contact.failing_since = began
        contact.error = getattr(error, "message", None) or str(error) or type(error).__name__
        contact.throttled = getattr(error, "code", None) in THROTTLED
        if contact.throttled:
            contact.last_answer = self._clock()
        now = self._clock()
        quiet = now - contact.last_ok
        # Failing for LOST_NOTICE seconds: in two calls at least (a single throttled
        # or dropped call is no news), or in one call that hung that long (an
        # unreachable endpoint: each call ends only with its connect timeout).
        failing = now - contact.failing_since >= LOST_NOTICE and (
            contact.failures >= 2 or now - began >= LOST_NOTICE
        )
        if self._lost_since is None and failing:
            self._lost_since = contact.last_ok
            self._pending.append(
                ContactLost(contact.error, quiet, self._give_up_after, contact.throttled)
            )

    def _news(self) -> Iterator[ContactLost | ContactRestored]:
        """What changed in the contact with AWS since the last call, in order."""
        pending, self._pending = self._pending, []
        yield from pending

    def _error_interval(self) -> float:
        """The back-off after failed calls: 1, 2, 4 ... up to 30 seconds; 0 after a success."""
        failures = max(c.failures for c in self._contact.values())
        if failures == 0:
            return 0.0
        return float(min(ERROR_CAP, ERROR_BASE * 2 ** min(failures - 1, 16)))

    def _gave_up(self, build: Build) -> FollowLost | None:
        now = self._clock()
        for contact in self._contact.values():
            if contact.failures and now - contact.last_answer >= self._give_up_after:
                return FollowLost(build, contact.error)
        return None
