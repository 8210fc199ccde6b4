"""A quiet build still prints a line at least every 60 s in plain mode (issue 17, item 2),
and at a live terminal shows a spinner with the running step and its time (item 4).

Some CI systems kill a job that prints nothing for ten minutes: the follower
yields :class:`StillRunning` after PULSE quiet seconds, and the plain renderer
prints ``… still running: <step> (4m 10s)``. The follower runs on a fake clock
(tests/unit/test_follow.py's FakeAws), so ten quiet minutes take no time.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from cbdeploy.client.output.console import make_console
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.terminal import Renderer
from cbdeploy.client.watch import events as f
from cbdeploy.client.watch.follow import Follower
from cbdeploy.client.watch.markers import Marker
from cbdeploy.client.watch.silence import QUIET
from tests.unit.test_follow import BUILD_ID, Clock, FakeAws, finishes_at
from tests.unit.test_render_modes import FakeTerminal, screen, strip_ansi


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


# ---------------------------------------------------------------------- at a live terminal


def test_a_quiet_stretch_yields_one_quiet_after_a_few_seconds_then_heartbeats() -> None:
    """Each quiet stretch: one Quiet (a terminal's spinner) a few seconds in, then StillRunning."""
    clock = Clock()
    lines = [(1.0, 1_000, "starting"), (100.0, 100_000, "half way"), (300.0, 300_000, "done")]
    aws = FakeAws(clock, finishes_at(320.0), lines=lines)
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5)  # type: ignore[arg-type]
    seen: list[tuple[str, float, float]] = []
    for event in follower.follow(BUILD_ID):
        if isinstance(event, (f.Quiet, f.StillRunning, f.LogLine)):
            seen.append((type(event).__name__, clock.now, getattr(event, "running", 0.0)))
    names = [name for name, _, _ in seen]
    lines_at = [i for i, name in enumerate(names) if name == "LogLine"]
    assert len(lines_at) == 3
    # After each line but the last (the build ends soon after it): one Quiet a few
    # seconds in, then only heartbeats until the next line; never a second Quiet.
    for line, following in zip(lines_at, lines_at[1:], strict=False):
        stretch = names[line + 1:following]
        assert stretch[0] == "Quiet" and set(stretch[1:]) == {"StillRunning"}, stretch
        assert QUIET <= seen[line + 1][1] - seen[line][1] < QUIET + 5.0
    assert names.count("Quiet") <= 4


def test_a_busy_build_yields_no_quiet() -> None:
    clock = Clock()
    lines = [(t / 2, int(t * 500), f"line {t}") for t in range(0, 400)]
    aws = FakeAws(clock, finishes_at(201.0), lines=lines)  # (the last line at 199.5 s)
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5)  # type: ignore[arg-type]
    assert not any(isinstance(e, f.Quiet) for e in follower.follow(BUILD_ID))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def live(events: list[object], clock: FakeClock, environ: dict[str, str]) -> str:
    """Events rendered on a fake TTY (make_console, as the commands make theirs); the raw bytes."""
    console = make_console(file=FakeTerminal(), environ=environ, width=80)
    renderer = Renderer(console, place=Place("eu-west-1"), clock=clock)
    for event in events:
        if isinstance(event, float):  # time passing
            clock.now += event
            continue
        renderer.handle(event)  # type: ignore[arg-type]
    renderer.close()
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


STEP = f.MarkerEvent(Marker("step-start", {"step": "deploy", "index": 2, "total": 2}))
QUIET_STEP = [STEP, f.LogLine(0, "uploading"), f.Quiet(12.0), 238.0, f.LogLine(0, "uploaded"),
              f.Quiet(5.0), 2.0, f.MarkerEvent(Marker("step-end", {"step": "deploy",
                                                                    "status": "ok",
                                                                    "duration": 255.0}))]
LEFT = "▸ deploy (2/2)\nuploading\nuploaded\n✓ deploy (4m 15s)\n"


def test_at_a_terminal_a_quiet_step_shows_a_spinner_with_its_time_and_leaves_no_trace() -> None:
    raw = live(QUIET_STEP, FakeClock(), {"TERM": "xterm"})
    shown = strip_ansi(raw)
    assert "deploy 12s" in shown  # the step's name and how long it has been running
    assert "deploy 4m 10s" in shown  # ... counted on while nothing comes (12 s + 238 s)
    assert "deploy 5.0s" in shown  # the second quiet stretch
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] deploy", shown)  # a spinner
    # What scrolls up is the lines alone: every spinner line was erased.
    assert screen(raw) == LEFT


@pytest.mark.parametrize(
    ("environ", "tty"),
    [({}, False), ({"FORCE_COLOR": "1"}, False), ({"TERM": "xterm", "GITHUB_ACTIONS": "true"}, True),
     ({"TERM": "dumb"}, True)],
    ids=["plain", "force-color", "github-actions", "dumb"],
)
def test_without_a_live_terminal_there_is_no_spinner(environ: dict[str, str], tty: bool) -> None:
    """Plain, a colour CI log, GitHub Actions, a dumb terminal: the lines and nothing else."""
    console = make_console(file=FakeTerminal() if tty else io.StringIO(), environ=environ, width=80)
    renderer = Renderer(console, place=Place("eu-west-1"), clock=FakeClock())
    for event in QUIET_STEP:
        if not isinstance(event, float):
            renderer.handle(event)  # type: ignore[arg-type]
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    assert strip_ansi(raw) == LEFT and "\x1b[2K" not in raw and "\x1b[?25l" not in raw


def test_a_colour_ci_log_still_gets_the_heartbeat() -> None:
    """FORCE_COLOR in CI: colours, no spinner, so the heartbeat line must come."""
    console = make_console(file=io.StringIO(), environ={"FORCE_COLOR": "1"}, width=100)
    renderer = Renderer(console, place=Place("eu-west-1"))
    renderer.handle(STEP)
    renderer.handle(f.StillRunning(250.0))
    assert "… still running: deploy (4m 10s)" in strip_ansi(console.file.getvalue())  # type: ignore[attr-defined]
