"""The followers of a batch share one BatchGetBuilds per poll (``client.watch.shared``)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cbdeploy.client.aws.results import Build, LogPage
from cbdeploy.client.errors import NotFoundError
from cbdeploy.client.watch.shared import FRESH, SharedBuilds
from tests.factories import make_build


class Door:
    """BatchGetBuilds as CodeBuild answers it: the builds it knows, in their current state."""

    def __init__(self, *builds: Build) -> None:
        self.builds = {b.id: b for b in builds}
        self.calls: list[list[str]] = []

    def get_builds(self, ids: Sequence[str]) -> list[Build]:
        self.calls.append(list(ids))
        return [self.builds[i] for i in ids if i in self.builds]

    def get_build(self, build_id: str) -> Build:
        raise AssertionError("a follower's poll must go through the shared call")

    def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
        return LogPage([], token or "t0")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_three_followers_polling_within_a_second_cost_one_call_for_all() -> None:
    ids = ["p:a", "p:b", "p:c"]
    door, clock = Door(*(make_build(id=i) for i in ids)), Clock()
    shared = SharedBuilds(door, clock=clock)
    for build in door.builds.values():
        shared.add(build)

    for _ in range(3):  # three polls of each follower, each round within FRESH
        for i in ids:
            assert shared.get_build(i).id == i
            clock.now += FRESH / 10
        clock.now += FRESH

    assert len(door.calls) == 3  # one per round, not one per build and round
    assert all(sorted(call) == ids for call in door.calls)


def test_a_complete_build_is_asked_for_no_more() -> None:
    door, clock = Door(make_build(id="p:a"), make_build(id="p:b")), Clock()
    shared = SharedBuilds(door, clock=clock)
    shared.get_build("p:a")
    door.builds["p:a"] = make_build("SUCCEEDED", id="p:a")
    clock.now += FRESH
    shared.get_build("p:b")
    clock.now += FRESH

    assert shared.get_build("p:a").status == "SUCCEEDED"
    assert shared.get_build("p:b").status == "IN_PROGRESS"
    assert door.calls[-1] == ["p:b"]  # the complete one is left out of the next call
    calls = len(door.calls)
    clock.now += 10 * FRESH
    assert shared.get_build("p:a").complete and len(door.calls) == calls


def test_a_build_the_service_does_not_know_is_not_found() -> None:
    shared = SharedBuilds(Door(), clock=Clock())
    with pytest.raises(NotFoundError):
        shared.get_build("p:gone")
