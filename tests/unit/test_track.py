"""One follow-to-outcome loop for ``deploy`` and ``logs --follow`` (``client.watch.track``).

Driven with the same fake build as the deploy tests (a line a second, no
waiting: the clock is fake), so both commands are seen following the same build.
"""

from __future__ import annotations

import signal

from cbdeploy.client.deploy.events import BuildStarted, Event
from cbdeploy.client.errors import AwsError
from cbdeploy.client.watch.events import Attached, Detached
from cbdeploy.client.watch.outcome import BuildOutcome
from cbdeploy.client.watch.track import follow_build, logs_exit_code
from tests.unit.test_deploy import (
    BUILD_ID,
    Clock,
    FakeAws,
    emulator,  # noqa: F401 (autouse: run() deploys to it)
    run,
)


def test_logs_follow_sees_a_build_exactly_as_deploy_does() -> None:
    deployed, deploy_events = run(FakeAws(Clock()))
    aws = FakeAws(Clock())
    logs_events: list[Event] = []
    followed = follow_build(aws, BUILD_ID, on_event=logs_events.append, sleep=aws.clock.sleep,
                            clock=aws.clock)
    assert isinstance(deploy_events[0], BuildStarted) and isinstance(logs_events[0], Attached)
    # (The fake's clock starts at 0 for both: the same lines, phases and end.)
    assert deploy_events[1:] == logs_events[1:]
    assert followed == deployed


def test_a_signal_leaves_a_followed_build_running_with_the_same_ending_as_deploy() -> None:
    aws = FakeAws(Clock(), ends_at=100.0)
    aws.on_log_call = lambda n: signal.raise_signal(signal.SIGTERM) if n == 3 else None
    events: list[Event] = []
    outcome = follow_build(aws, BUILD_ID, on_event=events.append, sleep=aws.clock.sleep,
                           clock=aws.clock)
    assert events[-1] == Detached(BUILD_ID, True)
    assert (outcome.detached, outcome.interrupted, outcome.exit_code) == (True, True, 143)
    assert aws.stops == []  # logs has nothing to stop: the build goes on


def test_logs_without_follow_exits_3_when_it_lost_the_build() -> None:
    """CloudWatch Logs unreachable for ten minutes while the build runs: the outcome is
    unknown (SPEC: exit 3), not a look at the log that went fine (exit 0)."""
    aws = FakeAws(Clock(), ends_at=100_000.0)

    def fail(n: int) -> None:
        raise AwsError("Could not connect to the endpoint", "Check your network.")

    aws.on_log_call = fail
    outcome = follow_build(aws, BUILD_ID, on_event=lambda event: None, wait=False,
                           sleep=aws.clock.sleep, clock=aws.clock)
    assert (outcome.status, outcome.exit_code) == ("UNKNOWN", 3)
    assert logs_exit_code(outcome, follow=False) == 3
    assert logs_exit_code(outcome, follow=True) == 3


def test_logs_exits_with_the_builds_outcome_only_when_followed_to_its_end() -> None:
    failed = BuildOutcome(BUILD_ID, "FAILED", 1)
    assert logs_exit_code(failed, follow=False) == 0  # looking at a failed build went fine
    assert logs_exit_code(failed, follow=True) == 1
    aws = FakeAws(Clock(), ends_at=100.0)
    running = follow_build(aws, BUILD_ID, on_event=lambda event: None, wait=False,
                           sleep=aws.clock.sleep, clock=aws.clock)
    assert (running.status, logs_exit_code(running, follow=False)) == ("IN_PROGRESS", 0)
    left = BuildOutcome(BUILD_ID, "IN_PROGRESS", 130, interrupted=True, detached=True)
    assert logs_exit_code(left, follow=True) == 130  # Ctrl-C leaves the build running
