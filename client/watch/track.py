"""Follow a build to its outcome: the one loop of ``deploy`` and ``logs``.

:class:`BuildWatch` feeds the follower's events to the caller's sink and to
an :class:`~cbdeploy.client.watch.outcome.OutcomeTracker`, runs what a signal
asked for between events (:class:`~cbdeploy.client.watch.signals.Interrupts`),
and ends with the :class:`~cbdeploy.client.watch.outcome.BuildOutcome`: the
build's end, a :class:`~cbdeploy.client.watch.events.Detached` when a signal
says leave, or :func:`lost_track` when the follow gives up on an AWS error.
``deploy`` (``client.deploy.service``) starts the build and hands it over;
``logs`` calls :func:`follow_build`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cbdeploy.client.errors import AwsError, NotFoundError
from cbdeploy.client.watch.events import Attached, Detached, WatchSink
from cbdeploy.client.watch.follow import Follower
from cbdeploy.client.watch.outcome import UNKNOWN, BuildOutcome, OutcomeTracker
from cbdeploy.client.watch.signals import Detach, Interrupts

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient
    from cbdeploy.client.aws.results import Build


class BuildWatch:
    """One build followed to its end; ``region`` defaults to the door's."""

    def __init__(
        self,
        aws: AwsClient,
        build: Build,
        *,
        emit: WatchSink,
        interrupts: Interrupts,
        clock: Callable[[], float] = time.monotonic,
        region: str | None = None,
    ) -> None:
        self.build = build
        self.region = aws.region if region is None else region
        self.emit = emit
        self.interrupts = interrupts
        self.tracker = OutcomeTracker(build, self.region)
        self.stop_sent = False  # StopBuild reached CodeBuild
        self._aws = aws
        self._clock = clock
        self._follower: Follower | None = None

    def stop_sent_now(self) -> None:
        """CodeBuild has the stop request: poll the build at the log's pace from now on."""
        self.stop_sent = True
        if self._follower is not None:
            self._follower.expect_end()

    def follow(self, *, wait: bool = True) -> BuildOutcome:
        """Events from the start of the build's log to its end (``wait=False``: to what exists).

        Raises :class:`~cbdeploy.client.errors.NotFoundError` for an unknown
        build and, when the follow gives up on an error, :func:`lost_track`'s.
        """
        interrupts = self.interrupts
        follower = Follower(self._aws.for_polling(), sleep=interrupts.sleep, clock=self._clock)
        self._follower = follower
        try:
            interrupts.check()  # a signal during StartBuild acts now
            for event in follower.follow(self.build.id, wait=wait, known=self.build):
                self.emit(event)
                self.tracker.add(event)
                interrupts.check()
        except Detach:
            return self.leave()
        except NotFoundError:
            raise
        except AwsError as error:
            raise lost_track(self.build.id, self.region, error) from error
        return self.tracker.outcome(interrupted=interrupts.stopping, signum=interrupts.signum)

    def leave(self) -> BuildOutcome:
        """A signal said leave: the build goes on (or is being stopped without us)."""
        interrupts = self.interrupts
        waited = interrupts.budget if interrupts.out_of_time else None
        self.emit(Detached(self.build.id, True, stop_requested=self.stop_sent, waited=waited))
        return self.tracker.outcome(interrupted=True, detached=True, signum=interrupts.signum)


def follow_build(
    aws: AwsClient,
    build_id: str,
    *,
    on_event: WatchSink,
    wait: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> BuildOutcome:
    """Print-agnostic ``logs``: an existing build's events from the start of its log.

    With ``wait`` it follows to the end (a Ctrl-C detaches: the build goes
    on); without, it stops at the end of what the log holds now. Raises
    NotFoundError for an unknown build.
    """
    build = aws.get_build(build_id)
    on_event(Attached(build, following=wait and not build.complete))
    with Interrupts(sleep=sleep, clock=clock) as interrupts:  # (nothing to stop: any leaves)
        watch = BuildWatch(aws, build, emit=on_event, interrupts=interrupts, clock=clock)
        return watch.follow(wait=wait)


def logs_exit_code(outcome: BuildOutcome, *, follow: bool) -> int:
    """``logs``' exit status: looking at a build is no failure of the command.

    The build's own status (0, 1, a signal's) only when it was followed to its
    end or left with a signal; 3 whenever the follow lost the build (its
    outcome is unknown, with ``--follow`` or without); 0 otherwise.
    """
    if outcome.status == UNKNOWN:
        return outcome.exit_code
    running = outcome.status == "IN_PROGRESS" and not outcome.detached
    return outcome.exit_code if (follow or outcome.detached) and not running else 0


def lost_track(build_id: str, region: str, error: AwsError) -> AwsError:
    """The error for a follow that gave up: the build itself goes on, and can be found again."""
    hint = f"The build goes on. Re-attach with 'cbdeploy logs {build_id} --follow --region {region}'"
    hint += f" or stop it with 'cbdeploy stop {build_id} --region {region}'."
    if error.hint:
        hint = f"{error.hint}\n{hint}"
    return AwsError(f"Lost track of build {build_id}: {error.message}", hint, code=error.code)
