"""BatchWatch against a scripted door: what it does when a read fails (no network).

The door answers BatchGetBuildBatches from a script of batch states and
BatchGetBuilds from a table, failing where the test says, as a throttled
AWS would; the builds' logs are empty. Runs in real time (about 3 s): the
followers wait as they do against AWS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cbdeploy.client.aws.results import Build, BuildBatch, BuildGroup, LogPage
from cbdeploy.client.errors import AwsError
from cbdeploy.client.watch.batch import BatchWatch
from cbdeploy.client.watch.events import BatchFinished, ServiceStarted
from cbdeploy.client.watch.signals import Interrupts
from tests.factories import make_build


def batch(status: str, build_status: str) -> BuildBatch:
    return BuildBatch("p:b", "arn:b", "p", status, status, status != "IN_PROGRESS", None, None,
                      (), (BuildGroup("api", (), "p:api", build_status),), None)


class Door:
    region = "eu-west-1"

    def __init__(self, states: list[BuildBatch], build: Build, failures: int) -> None:
        self.states = states
        self.build = build
        self.failures = failures
        self.batch_reads = 0

    def for_polling(self) -> Door:
        return self

    def get_build_batch(self, batch_id: str) -> BuildBatch:
        self.batch_reads += 1
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def get_builds(self, ids: Sequence[str]) -> list[Build]:
        if self.failures:
            self.failures -= 1
            raise AwsError("Rate exceeded", code="ThrottlingException")
        return [self.build] if self.build.id in ids else []

    def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
        return LogPage([], "t")


def test_a_failed_read_of_the_started_builds_is_tried_again_at_the_next_poll() -> None:
    done = make_build("SUCCEEDED", id="p:api")
    door = Door([batch("SUCCEEDED", "SUCCEEDED")], done, failures=1)
    seen: list[Any] = []
    with Interrupts() as interrupts:
        watch = BatchWatch(door, batch("IN_PROGRESS", "IN_PROGRESS"),  # type: ignore[arg-type]
                           emit=seen.append, interrupts=interrupts)
        outcome = watch.follow()

    assert outcome.exit_code == 0 and outcome.status == "SUCCEEDED"
    assert [type(e) for e in seen if isinstance(e, (ServiceStarted, BatchFinished))] == [
        ServiceStarted, BatchFinished]
    assert outcome.services[0].outcome is not None  # its build was followed after all
    assert door.batch_reads == 1  # complete once read: no more polls
