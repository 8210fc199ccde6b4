"""A quiet build still prints a line at least every 60 s in plain mode (issue 17, item 2).

Some CI systems kill a job that prints nothing for ten minutes: the follower
yields :class:`StillRunning` after PULSE quiet seconds, and the plain renderer
prints ``… still running: <step> (4m 10s)``. The follower runs on a fake clock
(tests/unit/test_follow.py's FakeAws), so ten quiet minutes take no time.
"""

from __future__ import annotations

import io

from rich.console import Console

from cbdeploy.client.output.place import Place
from cbdeploy.client.output.terminal import Renderer
from cbdeploy.client.watch import events as f
from cbdeploy.client.watch.follow import Follower
from cbdeploy.client.watch.markers import Marker
from tests.unit.test_follow import BUILD_ID, Clock, FakeAws, finishes_at


def test_a_quiet_build_yields_a_pulse_at_least_every_60_seconds() -> None:
    clock = Clock()
    lines = [(1.0, 1_000, "starting"), (700.0, 700_000, "done")]
    aws = FakeAws(clock, finishes_at(720.0), lines=lines)
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5)  # type: ignore[arg-type]
    times, pulses = [], []
    for event in follower.follow(BUILD_ID):
        times.append(clock.now)
        if isinstance(event, f.StillRunning):
            pulses.append(event.running)
    gaps = [later - earlier for earlier, later in zip(times[:-1], times[1:], strict=True)]
    assert max(gaps) <= 60.0, gaps
    assert len(pulses) >= 10
    assert pulses == sorted(pulses) and pulses[-1] > 600.0  # how long it has been running


def test_a_busy_build_yields_no_pulse() -> None:
    clock = Clock()
    lines = [(t / 2, int(t * 500), f"line {t}") for t in range(0, 400)]
    aws = FakeAws(clock, finishes_at(205.0), lines=lines)
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5)  # type: ignore[arg-type]
    assert not any(isinstance(e, f.StillRunning) for e in follower.follow(BUILD_ID))


def render(*events: f.FollowEvent, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=terminal, no_color=True)
    renderer = Renderer(console, place=Place("eu-west-1"))
    for event in events:
        renderer.handle(event)
    renderer.close()
    return out.getvalue()


def test_plain_output_names_the_running_step_and_its_time() -> None:
    start = f.MarkerEvent(Marker("step-start", {"step": "deploy", "index": 2, "total": 2}))
    text = render(start, f.StillRunning(250.0), terminal=False)
    assert "… still running: deploy (4m 10s)" in text
    # At a terminal the live spinner says it; no heartbeat lines pile up.
    assert "still running" not in render(start, f.StillRunning(250.0), terminal=True)
