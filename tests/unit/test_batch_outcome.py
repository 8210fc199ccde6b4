"""A batch's outcome from its services' events (``client.watch.batch_outcome``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cbdeploy.client.aws.results import Build, BuildBatch, BuildGroup
from cbdeploy.client.watch.batch_outcome import BatchTracker
from cbdeploy.client.watch.events import BuildFinished, FollowLost, ServiceEvent, ServiceStarted
from tests.factories import make_build

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def batch(status: str, *groups: tuple[str, str | None]) -> BuildBatch:
    complete = status != "IN_PROGRESS"
    return BuildBatch(
        "p:batch", "arn:batch", "p", status, status, complete, T0,
        T0 + timedelta(seconds=30) if complete else None, (),
        (BuildGroup("DOWNLOAD_SOURCE", (), "p:src", "SUCCEEDED"),)
        + tuple(BuildGroup(i, (), f"p:{i}" if s else None, s) for i, s in groups), None)


def build(identifier: str, status: str, ended: float = 10.0, service: str | None = None) -> Build:
    env = (("CBDEPLOY_SERVICE", service),) if service else ()
    return make_build(status, id=f"p:{identifier}", start=T0,
                      end=T0 + timedelta(seconds=ended) if status != "IN_PROGRESS" else None,
                      environment=env)


def tracked(final: BuildBatch, *builds: tuple[str, Build]) -> BatchTracker:
    tracker = BatchTracker(final, "eu-west-1")
    names = tuple(i for i, _ in builds)
    for identifier, b in builds:
        service = dict(b.environment).get("CBDEPLOY_SERVICE", identifier)
        tracker.add(ServiceStarted(service, identifier, b, names))
        if b.complete:
            tracker.add(ServiceEvent(service, BuildFinished(b)))
    return tracker


def test_every_service_succeeded_exits_0_and_the_source_group_is_no_service() -> None:
    outcome = tracked(batch("SUCCEEDED", ("api", "SUCCEEDED"), ("web_app", "SUCCEEDED")),
                      ("api", build("api", "SUCCEEDED")),
                      ("web_app", build("web_app", "SUCCEEDED", service="web-app"))).outcome()
    assert outcome.exit_code == 0 and outcome.succeeded
    assert [s.service for s in outcome.services] == ["api", "web-app"]  # its CBDEPLOY_SERVICE
    assert outcome.services[1].identifier == "web_app"
    assert outcome.duration == 30.0


def test_a_failed_service_fails_the_deploy_even_when_the_batch_ignored_it() -> None:
    """ignore-failure lets CodeBuild call the batch SUCCEEDED: cbdeploy still says 1."""
    outcome = tracked(batch("SUCCEEDED", ("flaky", "FAILED"), ("api", "SUCCEEDED")),
                      ("flaky", build("flaky", "FAILED")),
                      ("api", build("api", "SUCCEEDED"))).outcome()
    assert outcome.exit_code == 1 and outcome.first_failed == "flaky"


def test_the_first_to_fail_is_the_one_whose_build_ended_first() -> None:
    outcome = tracked(batch("FAILED", ("late", "FAILED"), ("early", "FAULT"), ("other", "STOPPED"),
                            ("never", None)),
                      ("late", build("late", "FAILED", ended=20)),
                      ("early", build("early", "FAULT", ended=5)),
                      ("other", build("other", "STOPPED", ended=21))).outcome()
    assert outcome.first_failed == "early" and outcome.exit_code == 1
    by_name = {s.service: s for s in outcome.services}
    assert by_name["other"].stopped_by == "fast-fail"
    assert by_name["late"].stopped_by is None
    assert by_name["never"].status is None and by_name["never"].outcome is None
    assert outcome.failed_phase is None  # the services say what failed


def test_a_lost_follow_is_an_unknown_outcome_unless_a_failure_is_known() -> None:
    running = batch("IN_PROGRESS", ("api", "IN_PROGRESS"))
    tracker = tracked(running, ("api", build("api", "IN_PROGRESS")))
    tracker.add(ServiceEvent("api", FollowLost(build("api", "IN_PROGRESS"), "no answer")))
    outcome = tracker.outcome(lost="no answer")
    assert outcome.status == "UNKNOWN" and outcome.exit_code == 3 and outcome.lost == "no answer"

    failing = batch("IN_PROGRESS", ("api", "FAILED"), ("web", "IN_PROGRESS"))
    known = tracked(failing, ("api", build("api", "FAILED")), ("web", build("web", "IN_PROGRESS")))
    assert known.outcome(lost="no answer").exit_code == 1


def test_a_signal_gives_its_exit_status_and_stopped_services_are_the_stop_s() -> None:
    outcome = tracked(batch("STOPPED", ("api", "STOPPED")),
                      ("api", build("api", "STOPPED"))).outcome(
        interrupted=True, signum=15, stop_sent=True)
    assert outcome.exit_code == 143 and outcome.signal == 15
    assert outcome.services[0].stopped_by == "stop"
