"""StartBuild and what follows it: the watch to the outcome, signals that stop the build.

:class:`Launcher` is :class:`~cbdeploy.client.deploy.service.DeployService`'s half that
runs from StartBuild on, made (and this module, with the watch, loaded: ~30 ms) while
the stage's reads finish. StartBuild is retried on transient errors with the same
idempotency token; once the build is started, a signal stops it
(``client.watch.signals``), and following it is ``client.watch.track``'s, the same loop
as ``logs --follow``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from signal import SIGINT
from typing import TYPE_CHECKING, Any

from cbdeploy.client.deploy.events import BuildStarted, EventSink
from cbdeploy.client.deploy.plan import DeployOptions
from cbdeploy.client.errors import AwsError, BuildConflictError, CredentialsError
from cbdeploy.client.target import Target
from cbdeploy.client.watch.events import Detached, StopFailed, StopRequested, StopScheduled
from cbdeploy.client.watch.outcome import BuildOutcome
from cbdeploy.client.watch.signals import Detach, Interrupts, exit_code, signal_name
from cbdeploy.client.watch.track import BuildWatch, lost_track

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient
    from cbdeploy.client.aws.results import Build

START_ATTEMPTS = 3
# StartBuild errors worth another try (same idempotency token); None: no answer at all.
TRANSIENT_START_CODES = frozenset(
    {None, "ThrottlingException", "ServiceUnavailable", "InternalFailure", "InternalServerError",
     "RequestTimeout", "ServiceUnavailableException", "InternalServiceException"}
)
# What runs once the build is started, before it is followed (or left, with --detach);
# given the check that acts on a signal received meanwhile (see Interrupts.check).
Started = Callable[[Callable[[], None]], None]


class Launcher:
    """StartBuild, then the watch, for a deploy to ``target``."""

    def __init__(self, target: Target, options: DeployOptions, *, emit: EventSink,
                 clock: Callable[[], float], sleep: Callable[[float], None],
                 at_terminal: Callable[[], bool]) -> None:
        self.target = target
        self.options = options
        self.emit = emit
        self.clock = clock
        self.sleep = sleep
        self.at_terminal = at_terminal

    def _start(self, aws: AwsClient, request: Mapping[str, Any]) -> Build:
        """StartBuild, retried on transient errors with the same idempotency token."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return aws.start_build(**request)
            except (BuildConflictError, CredentialsError):
                raise
            except AwsError as error:
                if attempt == START_ATTEMPTS or error.code not in TRANSIENT_START_CODES:
                    raise
                self.sleep(2.0 * attempt)
        raise AssertionError("unreachable")

    def start_and_follow(self, aws: AwsClient, request: Mapping[str, Any], *,
                          started: Callable[[], None] = lambda: None,
                          then: Started = lambda _check: None) -> BuildOutcome:
        """StartBuild, then the watch (``client.watch.track``) to the outcome; signals stop it.
        ``started`` runs once the build is started, ``then`` once that is said."""
        watch: BuildWatch | None = None
        at_terminal = self.at_terminal()
        interrupts = Interrupts(
            lambda: self._stop(aws, watch, interrupts),
            announce=lambda seconds: self.emit(StopScheduled(_watched(watch).build.id, seconds)),
            at_terminal=at_terminal, sleep=self.sleep, clock=self.clock,
        )
        with interrupts:
            try:
                build = self._start(aws, request)
                started()
                watch = BuildWatch(aws, build, emit=self.emit, interrupts=interrupts,
                                   clock=self.clock, region=self.target.region)
                detach = self.options.detach and not interrupts.requested
                self.emit(BuildStarted(build, following=not detach, at_terminal=at_terminal))
                then(interrupts.check)
                if detach and not interrupts.requested:  # (a signal meanwhile: it stops the build)
                    self.emit(Detached(build.id, interrupted=False))
                    return watch.tracker.outcome(detached=True)
            except Detach:
                if watch is None:  # a signal while StartBuild was in flight
                    self.emit(Detached(None, interrupted=True))
                    return BuildOutcome(None, None, exit_code(interrupts.signum or SIGINT),
                                        interrupted=True, detached=True,
                                        region=self.target.region, signal=interrupts.signum)
                return watch.leave()
            except AwsError as error:
                if watch is None:
                    raise  # StartBuild failed: nothing was started
                raise lost_track(watch.build.id, self.target.region, error) from error
            return watch.follow()

    def _stop(self, aws: AwsClient, watch: BuildWatch | None, interrupts: Interrupts) -> None:
        """StopBuild, for a signal (run by ``interrupts`` in ordinary code, never in a handler)."""
        build_id = _watched(watch).build.id
        try:
            aws.stop_build(build_id)
        except AwsError as error:
            self.emit(StopFailed(build_id, error.message))
        else:
            # Said once CodeBuild has the request: a Ctrl-C after this
            # line leaves a build that is already being stopped.
            _watched(watch).stop_sent_now()
            self.emit(StopRequested(build_id, signal_name(interrupts.signum)
                                    if interrupts.signum != SIGINT else None,
                                    interrupts.budget))


def _watched(watch: BuildWatch | None) -> BuildWatch:
    # A stop or its announcement runs only from the watch's own check or sleep.
    assert watch is not None, "a stop before the build started"
    return watch
