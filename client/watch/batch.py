"""Follow a batch build to its outcome: every service's build at once, each event tagged.

:class:`BatchWatch` polls BatchGetBuildBatches, finds each build of the graph as
it starts and follows it with the single build's
:class:`~cbdeploy.client.watch.follow.Follower`, unchanged, in a thread of its
own; the followers share one door (:class:`~cbdeploy.client.watch.shared.SharedBuilds`:
one BatchGetBuilds for all the running builds per poll). Their events come
back to this thread through a queue and go out as
:class:`~cbdeploy.client.watch.events.ServiceEvent` (the service's name is its
build's ``CBDEPLOY_SERVICE``), to the caller's sink and to a
:class:`~cbdeploy.client.watch.batch_outcome.BatchTracker`.

Signals act here, in the main thread, as for a single build
(:class:`~cbdeploy.client.watch.signals.Interrupts`): :meth:`BatchWatch.stop`
sends StopBuildBatch, and the watch follows until the batch has ended; a
:class:`~cbdeploy.client.watch.signals.Detach` leaves it running. The
follower threads end with the watch (they sleep on an event the watch sets).
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cbdeploy.client.aws.errors import is_transient
from cbdeploy.client.errors import AwsError, CredentialsError, NotFoundError
from cbdeploy.client.watch.batch_outcome import (
    SOURCE_GROUP,
    BatchOutcome,
    BatchTracker,
    service_name,
)
from cbdeploy.client.watch.events import (
    BatchAttached,
    BatchEvent,
    BatchFinished,
    Detached,
    FollowEvent,
    ServiceEvent,
    ServiceStarted,
    StopFailed,
    StopRequested,
    StopScheduled,
    WatchSink,
)
from cbdeploy.client.watch.follow import GIVE_UP_AFTER, Follower
from cbdeploy.client.watch.shared import SharedBuilds
from cbdeploy.client.watch.signals import WINDOW_SECONDS, Detach, Interrupts, signal_name

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient
    from cbdeploy.client.aws.results import Build, BuildBatch

# Seconds between BatchGetBuildBatches: soon after a change (a build started or
# ended: the next may start now), backing off to the cap while nothing changes,
# and at the stop's pace once a stop was sent (its end is near).
BATCH_POLL = 2.0
BATCH_POLL_CAP = 10.0
BATCH_POLL_GROWTH = 1.5
BATCH_POLL_STOPPING = 1.0
SLICE = 0.1  # the longest wait for a follower's event: how soon a signal's action runs


class _Halted(BaseException):
    """The watch is over: a follower thread ends at its next sleep."""


_Item = FollowEvent | BaseException | None  # an event, a follower's error, or its end


class _ServiceFollow(threading.Thread):
    """One build of the batch, followed by the single build's follower in its own thread."""

    def __init__(self, service: str, build: Build, door: SharedBuilds,
                 out: queue.Queue[tuple[str, _Item]], halt: threading.Event,
                 clock: Callable[[], float]) -> None:
        super().__init__(name=f"follow {service}", daemon=True)
        self.service = service
        self.build = build
        self.out = out
        self.halt = halt
        self.follower = Follower(door, sleep=self._nap, clock=clock)

    def _nap(self, seconds: float) -> None:
        if self.halt.wait(seconds):
            raise _Halted()

    def run(self) -> None:
        try:
            for event in self.follower.follow(self.build.id, known=self.build):
                self.out.put((self.service, event))
        except _Halted:
            pass
        except Exception as error:  # (raised again in the watch's thread)
            self.out.put((self.service, error))
        finally:
            self.out.put((self.service, None))


class BatchWatch:
    """One batch followed to its end; ``region`` defaults to the door's."""

    def __init__(
        self,
        aws: AwsClient,
        batch: BuildBatch,
        *,
        emit: WatchSink,
        interrupts: Interrupts,
        clock: Callable[[], float] = time.monotonic,
        region: str | None = None,
        give_up_after: float = GIVE_UP_AFTER,
    ) -> None:
        self.batch_id = batch.id
        self.region = aws.region if region is None else region
        self.emit = emit
        self.interrupts = interrupts
        self.tracker = BatchTracker(batch, self.region)
        self.stop_sent = False  # StopBuildBatch reached CodeBuild
        self._aws = aws
        self._polling = aws.for_polling()
        self._clock = clock
        self._give_up_after = give_up_after
        self._door = SharedBuilds(self._polling, clock=clock)
        self._events: queue.Queue[tuple[str, _Item]] = queue.Queue()
        self._halt = threading.Event()
        self._follows: dict[str, _ServiceFollow] = {}  # by task identifier
        self._running: set[str] = set()  # services whose follower has not ended
        self._lost: str | None = None

    # ------------------------------------------------------------------ signals

    def stop(self) -> None:
        """StopBuildBatch, for a signal (run by ``interrupts`` in ordinary code)."""
        try:
            self._aws.stop_build_batch(self.batch_id)
        except AwsError as error:
            self.emit(StopFailed(self.batch_id, error.message, batch=True))
            return
        self.stop_sent_now()
        signum = self.interrupts.signum
        self.emit(StopRequested(self.batch_id, signal_name(signum) if signum != signal.SIGINT
                                else None, self.interrupts.budget, batch=True))

    def stop_sent_now(self) -> None:
        """CodeBuild has the stop request: every build's follower expects its end."""
        self.stop_sent = True
        for follow in self._follows.values():
            follow.follower.expect_end()

    def leave(self) -> BatchOutcome:
        """A signal said leave: the batch goes on (or is being stopped without us)."""
        interrupts = self.interrupts
        waited = interrupts.budget if interrupts.out_of_time else None
        self.emit(Detached(self.batch_id, True, stop_requested=self.stop_sent, waited=waited,
                           batch=True))
        return self.tracker.outcome(interrupted=True, detached=True, signum=interrupts.signum,
                                    stop_sent=self.stop_sent)

    # ------------------------------------------------------------------ the follow

    def follow(self, *, wait: bool = True) -> BatchOutcome:
        """Every build's events from the start of its log to the batch's end
        (``wait=False``: what exists now, one service after the other).

        Raises :class:`~cbdeploy.client.errors.CredentialsError` when AWS refuses
        the credentials and :func:`lost_batch`'s error when a follow fails otherwise.
        """
        try:
            self.interrupts.check()
            if wait:
                self._follow()
            else:
                self._read_now()
        except Detach:
            return self.leave()
        except CredentialsError:
            raise
        except AwsError as error:
            raise lost_batch(self.batch_id, self.region, error) from error
        finally:
            self._halt.set()
        return self.tracker.outcome(interrupted=self.interrupts.stopping,
                                    signum=self.interrupts.signum, lost=self._lost,
                                    stop_sent=self.stop_sent)

    def _follow(self) -> None:
        batch = self.tracker.batch
        found = self._discover(batch)  # every started build is followed
        last_ok = polled = self._clock()
        interval = BATCH_POLL
        while True:
            if self._drain(SLICE):
                interval = BATCH_POLL  # a build ended: the batch moves on now
            self.interrupts.check()
            if batch.complete and found and not self._running:
                self._tell(BatchFinished(batch))
                return
            now = self._clock()
            if self.stop_sent:
                interval = min(interval, BATCH_POLL_STOPPING)
            if (batch.complete and found) or now - polled < interval:
                continue
            polled, seen = now, _state(batch)
            try:
                batch = self._aws_batch()
            except NotFoundError as error:  # it was there: the endpoint has forgotten it
                self._lost = error.message
                return
            except CredentialsError:
                raise
            except Exception as error:
                if not is_transient(error):
                    raise
                if now - last_ok >= self._give_up_after:
                    self._lost = getattr(error, "message", None) or str(error)
                    return
                continue
            last_ok = now
            found = self._discover(batch)
            same = _state(batch) == seen
            interval = min(interval * BATCH_POLL_GROWTH, BATCH_POLL_CAP) if same else BATCH_POLL

    def _discover(self, batch: BuildBatch) -> bool:
        """Follow the builds of ``batch`` not followed yet; False: a failed read, try again."""
        try:
            self._start_new(batch)
        except CredentialsError:
            raise
        except Exception as error:
            if not is_transient(error):
                raise
            return False  # (the next poll reads them again)
        return True

    def _read_now(self) -> None:
        """``logs`` without ``--follow``: each started build's log as it is now, in turn."""
        batch = self.tracker.batch
        for identifier, build in self._new_builds(batch):
            service = self._started(identifier, build, batch)
            for event in Follower(self._door, clock=self._clock).follow(
                    build.id, wait=False, known=build):
                self._tell(ServiceEvent(service, event))
        if batch.complete:
            self._tell(BatchFinished(batch))

    def _aws_batch(self) -> BuildBatch:
        batch = self._polling.get_build_batch(self.batch_id)
        self.tracker.batch = batch
        return batch

    def _new_builds(self, batch: BuildBatch) -> list[tuple[str, Build]]:
        """(task, build) of each build of ``batch`` not yet followed, read in one call."""
        fresh = {g.build_id: g.identifier for g in batch.groups
                 if g.build_id and g.identifier != SOURCE_GROUP
                 and g.identifier not in self._follows}
        if not fresh:
            return []
        builds = self._polling.get_builds(list(fresh))
        for build in builds:
            self._door.add(build)
        return [(fresh[b.id], b) for b in builds]

    def _start_new(self, batch: BuildBatch) -> None:
        for identifier, build in self._new_builds(batch):
            service = self._started(identifier, build, batch)
            follow = _ServiceFollow(service, build, self._door, self._events, self._halt,
                                    self._clock)
            if self.stop_sent:
                follow.follower.expect_end()
            self._follows[identifier] = follow
            self._running.add(service)
            follow.start()

    def _started(self, identifier: str, build: Build, batch: BuildBatch) -> str:
        service = service_name(build, identifier)
        known = {i: f.service for i, f in self._follows.items()} | {identifier: service}
        names = tuple(known.get(g.identifier, g.identifier) for g in batch.groups
                      if g.identifier != SOURCE_GROUP)
        self._tell(ServiceStarted(service, identifier, build, names))
        return service

    def _drain(self, timeout: float) -> bool:
        """Pass on the followers' events: wait up to ``timeout`` for the first, take the
        rest. Whether a follow ended (its build did)."""
        ended = False
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            return ended
        while True:
            service, event = item
            if event is None:
                self._running.discard(service)
                ended = True
            elif isinstance(event, BaseException):
                raise event
            else:
                self._tell(ServiceEvent(service, event))
                self.interrupts.check()
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return ended

    def _tell(self, event: BatchEvent) -> None:
        self.emit(event)
        self.tracker.add(event)


def _state(batch: BuildBatch) -> tuple[object, ...]:
    """What a poll of the batch may change: its phase and its groups' builds."""
    return (batch.current_phase, batch.status,
            tuple((g.identifier, g.build_id, g.build_status) for g in batch.groups))


def follow_batch(
    aws: AwsClient,
    batch_id: str,
    *,
    on_event: WatchSink,
    wait: bool = True,
    stop_on_signal: bool = False,
    at_terminal: bool = False,
    known: BuildBatch | None = None,
    window: float = WINDOW_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> BatchOutcome:
    """Follow batch ``batch_id`` (read it, or take ``known`` as just read: no
    :class:`BatchAttached` then) until it ends; ``wait=False``: what exists now.

    ``stop_on_signal``: a signal stops the whole batch (StopBuildBatch) with the
    single build's rules (at a terminal the first Ctrl-C stops after
    ``window`` seconds, a second leaves it running); otherwise (``logs``) a
    signal leaves the batch running. Raises NotFoundError for an unknown batch.
    """
    batch = known if known is not None else aws.get_build_batch(batch_id)
    if known is None:
        on_event(BatchAttached(batch, following=wait and not batch.complete))
    watch: BatchWatch | None = None

    def stop() -> None:
        assert watch is not None, "a stop before the watch began"
        watch.stop()

    interrupts = Interrupts(
        stop if stop_on_signal else None,
        announce=lambda seconds: on_event(StopScheduled(batch.id, seconds, batch=True)),
        at_terminal=at_terminal, window=window, sleep=sleep, clock=clock,
    )
    with interrupts:
        watch = BatchWatch(aws, batch, emit=on_event, interrupts=interrupts, clock=clock)
        return watch.follow(wait=wait)


def lost_batch(batch_id: str, region: str, error: AwsError) -> AwsError:
    """The error for a batch follow that gave up: the batch goes on, and can be found again."""
    hint = (f"The batch goes on. Re-attach with 'cbdeploy logs {batch_id} --follow --region "
            f"{region}' or stop it with 'cbdeploy stop {batch_id} --region {region}'.")
    if error.hint:
        hint = f"{error.hint}\n{hint}"
    return AwsError(f"Lost track of batch {batch_id}: {error.message}", hint, code=error.code)
