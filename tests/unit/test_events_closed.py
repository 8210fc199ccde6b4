"""Events are a closed set: every event of the union reaches every presenter's own case.

mypy proves it where the code is typed (each ``match`` ends with
``assert_never``); these tests check it at run time too: one sample of every
class in :data:`~cbdeploy.client.deploy.events.Event` goes through the
terminal renderer, the GitHub Actions renderer, the ``--json`` collector and
(the follower's) the outcome tracker, and an object outside the union is
refused loudly instead of vanishing, as it did when dispatch went by name.
"""

from __future__ import annotations

import io
import typing
from pathlib import Path

import pytest
from rich.console import Console

from cbdeploy.client.aws.results import BuildBatch, BuildGroup, Phase
from cbdeploy.client.config.workspace import Service
from cbdeploy.client.deploy import events as d
from cbdeploy.client.deploy.selection import Picked, ServiceChoice
from cbdeploy.client.deploy.upload import UploadResult
from cbdeploy.client.infra.model import Infrastructure
from cbdeploy.client.output.github import GithubRenderer
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.report import ReportCollector
from cbdeploy.client.output.terminal import Renderer
from cbdeploy.client.packaging import ArchiveResult, Selection
from cbdeploy.client.packaging.gitcmd import GitInfo
from cbdeploy.client.watch import events as f
from cbdeploy.client.watch.batch_outcome import BatchTracker
from cbdeploy.client.watch.markers import Marker
from cbdeploy.client.watch.outcome import OutcomeTracker
from tests.factories import make_build

BUILD = make_build(id="p:1", log_group="g", log_stream="s")
BATCH = BuildBatch("p:b", "arn:b", "p", "IN_PROGRESS", "IN_PROGRESS", False, None, None, (),
                   (BuildGroup("api", (), "p:1", "IN_PROGRESS"),), None)
ARCHIVE = ArchiveResult(Path("/tmp/a.zip"), "ab" * 32, 100, 1, 200)

# One of each: a new event class fails test_every_event_class_has_a_sample until it has one.
SAMPLES: dict[type, d.Event] = {
    d.DeployStarting: d.DeployStarting("app", "dev", "p", "inv", "1"),
    d.ServicesSelected: d.ServicesSelected(
        ServiceChoice((Picked(Service("api", "services/api", Path("/tmp/c.toml")), ("requested",)),)),
        "dev"),
    d.FilesSelected: d.FilesSelected(Selection(Path("/tmp"), ())),
    d.PackagingProgress: d.PackagingProgress(1, 2),
    d.FilesHashed: d.FilesHashed(27675, 39_900_000, 0.1),
    d.ArchiveBuilt: d.ArchiveBuilt(ARCHIVE, 0.5, None),
    d.ConfirmationNeeded: d.ConfirmationNeeded("app", "dev", "eu-west-1", "1", ARCHIVE,
                                               GitInfo("abc", "main", dirty=False)),
    d.BootstrapStep: d.BootstrapStep("Create the project"),
    d.BootstrapDone: d.BootstrapDone(Infrastructure("b", "r", "g", "p")),
    d.UploadStarting: d.UploadStarting("k", 100),
    d.UploadProgress: d.UploadProgress(50, 100),
    d.UploadDone: d.UploadDone(UploadResult("b", "k", False, 100), 100, 0.5),
    d.BuildStarted: d.BuildStarted(BUILD),
    d.BatchStarted: d.BatchStarted(BATCH, (("shop-infra", "shop_infra"), ("api", "api"))),
    d.DeployRecorded: d.DeployRecorded(("api",), "dev", "ab" * 20),
    f.Attached: f.Attached(BUILD, following=True),
    f.StopScheduled: f.StopScheduled("p:1", 3.0),
    f.StopRequested: f.StopRequested("p:1"),
    f.StopFailed: f.StopFailed("p:1", "no"),
    f.Detached: f.Detached("p:1", True),
    f.PhaseChanged: f.PhaseChanged(BUILD, Phase("BUILD", None, None, None, None, ())),
    f.LogLine: f.LogLine(1, "hello"),
    f.MarkerEvent: f.MarkerEvent(Marker("step-start", {"step": "build"})),
    f.BuildFinished: f.BuildFinished(BUILD),
    f.ContactLost: f.ContactLost("timeout", 3.0, 600.0),
    f.ContactRestored: f.ContactRestored(4.0),
    f.FollowLost: f.FollowLost(BUILD, "gone"),
    f.StillRunning: f.StillRunning(250.0),
    f.BatchAttached: f.BatchAttached(BATCH, following=True),
    f.ServiceStarted: f.ServiceStarted("api", "api", BUILD, ("api",)),
    f.ServiceEvent: f.ServiceEvent("api", f.LogLine(1, "hello")),
    f.BatchFinished: f.BatchFinished(BATCH),
    f.Quiet: f.Quiet(12.0),
}


def classes(union: object) -> set[type]:
    return set(typing.get_args(union))


def test_every_event_class_has_a_sample() -> None:
    assert classes(d.Event) == set(SAMPLES)
    assert classes(f.FollowEvent) < classes(f.WatchEvent) < classes(d.Event)


def renderer() -> tuple[Renderer, io.StringIO]:
    out = io.StringIO()
    return Renderer(Console(file=out, width=80), place=Place("eu-west-1")), out


@pytest.mark.parametrize("event", list(SAMPLES.values()), ids=lambda e: type(e).__name__)
def test_every_presenter_has_a_case_for_every_event(event: d.Event) -> None:
    inner, _ = renderer()
    github = GithubRenderer(inner, inner.console, token="T")
    github.handle(event)  # (then the terminal renderer's own case)
    ReportCollector().handle(event)
    if type(event) in classes(f.FollowEvent):
        OutcomeTracker(BUILD, "eu-west-1").add(event)  # type: ignore[arg-type]
    if type(event) in classes(f.BatchEvent):
        BatchTracker(BATCH, "eu-west-1").add(event)  # type: ignore[arg-type]


def test_the_events_a_renderer_shows_reach_it() -> None:
    """A renamed handler once dropped its event silently: each of these prints a line."""
    shows = [d.DeployStarting, d.FilesHashed, d.ArchiveBuilt, d.BootstrapStep, d.BootstrapDone, d.UploadDone,
             d.BuildStarted, d.BatchStarted, f.Attached, f.StopScheduled, f.StopRequested, f.StopFailed,
             f.Detached, f.LogLine, f.MarkerEvent, f.ContactLost, f.ContactRestored,
             f.BatchAttached, f.ServiceStarted]
    for cls in shows:
        r, out = renderer()
        r.handle(SAMPLES[cls])
        assert out.getvalue().strip(), cls.__name__


class NotAnEvent:
    pass


def test_an_object_outside_the_union_is_refused_not_dropped() -> None:
    stranger: typing.Any = NotAnEvent()
    inner, _ = renderer()
    presenters = [inner.handle, GithubRenderer(inner, inner.console, token="T").handle,
                  ReportCollector().handle, OutcomeTracker(BUILD, "eu-west-1").add,
                  BatchTracker(BATCH, "eu-west-1").add]
    for handle in presenters:
        with pytest.raises(AssertionError):
            handle(stranger)


@pytest.mark.parametrize("module", ["cbdeploy.client.deploy.events", "cbdeploy.client.watch.events"])
def test_importing_the_events_loads_neither_boto3_nor_click(module: str) -> None:
    import subprocess
    import sys

    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('boto3', 'botocore', 'click') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
