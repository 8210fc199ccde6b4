"""The follower against a fake AwsClient on a fake clock (no I/O, no waiting).

The fake is a build and a log stream whose contents appear as the fake clock
advances; the follower's injected ``sleep`` advances it. Tests assert on what
a user would see (every line once, in order) and on the sleeps requested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import cycle

import pytest

from cbdeploy.client.aws.results import Build, LogEvent, LogPage, Phase
from cbdeploy.client.errors import AwsError, CredentialsError, NotFoundError
from cbdeploy.client.watch import cursor as cursor_module
from cbdeploy.client.watch import follow as follow_module
from cbdeploy.client.watch.events import (
    BuildFinished,
    ContactLost,
    ContactRestored,
    FollowLost,
    LogLine,
    MarkerEvent,
    PhaseChanged,
)
from cbdeploy.client.watch.follow import ERROR_CAP, FAST_INTERVAL, QUIET_CAP, Follower
from cbdeploy.client.watch.phases import phase_seconds
from tests import factories

GROUP = "/cbdeploy/app"
STREAM = "dev/1234"
BUILD_ID = "cbdeploy-app-dev:1234"
TOKEN = "0123456789abcdef0123456789abcdef"
ANNOUNCEMENT = '::cbdeploy:: {"event":"runner","token":"' + TOKEN + '"}\n'


def signed(payload: str) -> str:
    """A marker line as the runner that announced TOKEN writes it."""
    return f"::cbdeploy:{TOKEN}:: {payload}\n"


def make_build(
    status: str = "IN_PROGRESS",
    *,
    phases: tuple[Phase, ...] = (),
    stream: str | None = STREAM,
    build_id: str = BUILD_ID,
) -> Build:
    return factories.make_build(status, id=build_id, phases=phases, initiator="me",
                                log_group=GROUP if stream else None, log_stream=stream)


def phase(name: str, status: str | None = None, *contexts: tuple[str, str]) -> Phase:
    return factories.make_phase(name, status, contexts=contexts)


@dataclass
class Clock:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeAws:
    """``lines``: (visible_at, timestamp_ms, message). ``build_at``: clock -> Build."""

    clock: Clock
    build_at: Callable[[float], Build]
    lines: list[tuple[float, int, str]] = field(default_factory=list)
    page_size: int = cursor_module.PAGE_EVENTS  # GetLogEvents' own limit
    stream_from: float = 0.0  # the stream exists from this time on
    faults: dict[int, Exception] = field(default_factory=dict)  # call number -> error
    calls: list[str] = field(default_factory=list)

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        error = self.faults.pop(len(self.calls), None)
        if error is not None:
            raise error

    def get_build(self, build_id: str) -> Build:
        self._maybe_fail("get_build")
        build = self.build_at(self.clock.now)
        if build.id != build_id:
            raise NotFoundError(f"No build {build_id!r}", code="ResourceNotFoundException")
        return build

    def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
        self._maybe_fail("get_log_events")
        if (group, stream) != (GROUP, STREAM) or self.clock.now < self.stream_from:
            raise NotFoundError("The specified log stream does not exist.")
        visible = [line for line in self.lines if line[0] <= self.clock.now]
        start = int(token[2:]) if token else 0
        page = visible[start : start + self.page_size]
        events = [LogEvent(timestamp=ts, message=msg, ingestion_time=ts) for _, ts, msg in page]
        return LogPage(events=events, next_token=f"f/{start + len(page)}")


def throttled() -> AwsError:
    return AwsError("Rate exceeded", code="ThrottlingException")


def run(aws: FakeAws, *, rng: Callable[[], float] = lambda: 0.5, **kwargs: bool) -> list:
    follower = Follower(aws, sleep=aws.clock.sleep, clock=aws.clock, rng=rng)  # type: ignore[arg-type]
    return list(follower.follow(BUILD_ID, **kwargs))


def messages(events: list) -> list[str]:
    return [e.message for e in events if isinstance(e, LogLine)]


def finishes_at(t: float, final: str = "SUCCEEDED") -> Callable[[float], Build]:
    return lambda now: make_build(final if now >= t else "IN_PROGRESS")


# ----------------------------------------------------------------------------- delivery


def test_every_line_once_in_order_through_bursts_and_shared_milliseconds() -> None:
    """Thousands of lines in bursts, many in one millisecond and identical: none lost or doubled."""
    clock = Clock()
    lines = []
    for burst in range(5):
        at = 1.0 + burst * 7.0
        for i in range(1000):
            # Ten lines per millisecond, and repeated identical text within one.
            text = "tick" if i % 10 < 3 else f"burst {burst} line {i}"
            lines.append((at, 1_700_000_000_000 + burst * 7000 + i // 10, text))
    aws = FakeAws(clock, finishes_at(40.0), lines=lines, page_size=97)
    events = run(aws)
    assert messages(events) == [text for _, _, text in lines]
    assert isinstance(events[-1], BuildFinished)
    assert events[-1].build.status == "SUCCEEDED"


def test_a_burst_is_drained_before_sleeping() -> None:
    clock = Clock()
    lines = [(1.0, 1000 + i, f"line {i}") for i in range(25_000)]  # two full pages and more
    aws = FakeAws(clock, finishes_at(3.0), lines=lines)
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.0)  # type: ignore[arg-type]
    seen_at = {}
    for event in follower.follow(BUILD_ID):
        if isinstance(event, LogLine):
            seen_at[event.message] = clock.now
    # All the lines arrived within the same poll round, right after they appeared.
    assert len(seen_at) == 25_000
    assert max(seen_at.values()) == min(seen_at.values())
    assert min(seen_at.values()) - 1.0 <= FAST_INTERVAL * 2


def test_lines_written_just_before_completion_are_not_lost() -> None:
    clock = Clock()
    lines = [(0.0, 1, "first"), (4.99, 2, "last words")]
    aws = FakeAws(clock, finishes_at(5.0, "FAILED"), lines=lines)
    events = run(aws)
    assert messages(events) == ["first", "last words"]
    assert events[-1].build.status == "FAILED"


def test_trailing_newline_stripped_and_long_lines_kept_whole() -> None:
    clock = Clock()
    long_line = "x" * 300_000
    lines = [(0.0, 1, "hello\n"), (0.0, 2, long_line + "\n"), (0.0, 3, "crlf\r\n"), (0.0, 4, "\n")]
    aws = FakeAws(clock, finishes_at(1.0), lines=lines)
    assert messages(run(aws)) == ["hello", long_line, "crlf", ""]


def test_runner_markers_become_marker_events_not_lines() -> None:
    clock = Clock()
    lines = [
        (0.0, 0, ANNOUNCEMENT),
        (0.0, 1, signed('{"event": "step-start", "step": "build", "index": 1, "total": 2}')),
        (0.0, 2, "compiling"),
        (0.0, 3, signed('{"event": "outputs", "outputs": {"url": "http://x"}}')),
        (0.0, 4, f"::cbdeploy:{TOKEN}:: not json, so an ordinary line"),
    ]
    aws = FakeAws(clock, finishes_at(1.0), lines=lines)
    events = run(aws)
    markers = [e.marker for e in events if isinstance(e, MarkerEvent)]
    assert [(m.event, dict(m.data)) for m in markers] == [
        ("runner", {}),
        ("step-start", {"step": "build", "index": 1, "total": 2}),
        ("outputs", {"outputs": {"url": "http://x"}}),
    ]
    assert messages(events) == ["compiling", f"::cbdeploy:{TOKEN}:: not json, so an ordinary line"]


def test_markers_without_the_runner_s_token_are_ordinary_lines() -> None:
    """A step prints marker lines: unsigned, with a guessed token, or a second announcement."""
    clock = Clock()
    forged = [
        '::cbdeploy:: {"event":"outputs","outputs":{"url":"http://evil"}}',
        '::cbdeploy:ffffffffffffffffffffffffffffffff:: {"event":"outputs","outputs":{"a":1}}',
        '::cbdeploy:: {"event":"runner","token":"ffffffffffffffffffffffffffffffff"}',
        '::cbdeploy:ffffffffffffffffffffffffffffffff:: {"event":"pipeline-end","status":"ok"}',
    ]
    lines = [(0.0, 0, ANNOUNCEMENT), (0.0, 1, signed('{"event":"step-start","step":"s"}'))]
    lines += [(0.0, 2 + i, text + "\n") for i, text in enumerate(forged)]
    lines += [(0.0, 9, signed('{"event":"outputs","outputs":{"url":"http://real"}}'))]
    events = run(FakeAws(clock, finishes_at(1.0), lines=lines))
    markers = [(e.marker.event, dict(e.marker.data)) for e in events if isinstance(e, MarkerEvent)]
    assert markers == [
        ("runner", {}), ("step-start", {"step": "s"}), ("outputs", {"outputs": {"url": "http://real"}}),
    ]
    assert messages(events) == forged  # shown for what they are: the step's output


def test_a_marker_before_any_announcement_is_an_ordinary_line() -> None:
    """A build without cbdeploy's runner (or an old one): no announcement, no markers."""
    clock = Clock()
    old = '::cbdeploy:: {"event": "outputs", "outputs": {"url": "http://x"}}'
    events = run(FakeAws(clock, finishes_at(1.0), lines=[(0.0, 1, old + "\n")]))
    assert not [e for e in events if isinstance(e, MarkerEvent)]
    assert messages(events) == [old]


# ----------------------------------------------------------------------------- long lines


def split_like_codebuild(line: str) -> list[str]:
    """The events CodeBuild (and the emulator) write for one line: cut at CloudWatch's limit."""
    from cbdeploy.emulator.logs import split_message

    return split_message(line + "\n")


@pytest.mark.parametrize("char", ["x", "é", "€", "😀"])
def test_a_line_longer_than_an_event_comes_back_whole(char: str) -> None:
    """600 KB of one line arrives as three events at the size limit; the follower joins them."""
    clock = Clock()
    long_line = "start " + char * (600_000 // len(char.encode())) + " end"
    pieces = split_like_codebuild(long_line)
    assert len(pieces) == 3 and not pieces[0].endswith("\n")
    lines = [(0.0, 1, "before\n")]
    # The pieces reach the follower over several polls and pages.
    lines += [(0.5 * i, 2, piece) for i, piece in enumerate(pieces)]
    lines += [(2.0, 3, "after\n")]
    events = run(FakeAws(clock, finishes_at(3.0), lines=lines, page_size=2))
    assert messages(events) == ["before", long_line, "after"]


def test_carriage_returns_inside_a_line_are_kept() -> None:
    clock = Clock()
    lines = [(0.0, 1, "10%\r50%\r100%\n"), (0.0, 2, "dos\r\n"), (0.0, 3, "a\rb\r\n")]
    events = run(FakeAws(clock, finishes_at(1.0), lines=lines))
    assert messages(events) == ["10%\r50%\r100%", "dos", "a\rb"]


def test_a_piece_cut_short_by_the_end_of_the_log_is_still_shown() -> None:
    clock = Clock()
    piece = split_like_codebuild("y" * 300_000)[0]
    events = run(FakeAws(clock, finishes_at(1.0), lines=[(0.0, 1, piece)]))
    assert messages(events) == [piece]


def test_a_snapshot_shows_what_exists_of_a_long_line_being_written() -> None:
    clock = Clock()
    piece = split_like_codebuild("y" * 300_000)[0]
    lines = [(0.0, 1, "first\n"), (0.0, 2, piece)]
    events = run(FakeAws(clock, finishes_at(100.0), lines=lines), wait=False)
    assert messages(events) == ["first", piece]


def test_a_long_line_without_a_newline_from_the_emulator_is_one_line() -> None:
    """The emulator sends a never-ending line on in pieces as it comes: still one line."""
    from cbdeploy.emulator.logs import LineSplitter

    class Log:
        def __init__(self) -> None:
            self.events: list[str] = []

        def write(self, line: str) -> None:
            from cbdeploy.emulator.logs import split_message

            self.events.extend(split_message(line + "\n"))

        def write_piece(self, text: str) -> None:
            from cbdeploy.emulator.logs import split_message

            self.events.extend(split_message(text))

    log = Log()
    splitter = LineSplitter(log)  # type: ignore[arg-type]
    data = ("z" * 1000).encode() * 1500  # 1.5 MB, no newline, fed in chunks
    for start in range(0, len(data), 65536):
        splitter.feed(data[start : start + 65536])
    splitter.feed(b"\nnext\n")
    clock = Clock()
    lines = [(0.0, i, event) for i, event in enumerate(log.events)]
    events = run(FakeAws(clock, finishes_at(1.0), lines=lines))
    assert messages(events) == [data.decode(), "next"]


def test_stream_that_appears_late_is_read_from_its_start() -> None:
    clock = Clock()
    lines = [(0.0, 1, "one"), (0.0, 2, "two"), (6.0, 3, "three")]
    aws = FakeAws(clock, finishes_at(8.0), lines=lines, stream_from=3.0)
    events = run(aws)
    assert messages(events) == ["one", "two", "three"]


def test_build_without_a_stream_name_yet_then_with_one() -> None:
    clock = Clock()

    def build_at(now: float) -> Build:
        if now < 2.0:
            return make_build(stream=None)
        return make_build("SUCCEEDED" if now >= 5.0 else "IN_PROGRESS")

    aws = FakeAws(clock, build_at, lines=[(0.0, 1, "hello")])
    assert messages(run(aws)) == ["hello"]


def test_build_that_never_wrote_a_log_still_finishes() -> None:
    clock = Clock()
    aws = FakeAws(clock, finishes_at(2.0, "FAULT"), stream_from=1e9)
    events = run(aws)
    assert isinstance(events[-1], BuildFinished)
    assert events[-1].build.status == "FAULT"


# ----------------------------------------------------------------------------- errors


def test_throttling_and_dropped_connections_mid_stream_lose_and_repeat_nothing() -> None:
    clock = Clock()
    lines = [(0.1 * (i // 50), i, f"line {i}") for i in range(1500)]
    faults: dict[int, Exception] = {
        n: AwsError("Rate exceeded", code="ThrottlingException") for n in range(3, 60, 4)
    }
    faults[5] = AwsError("Could not reach AWS for logs GetLogEvents: connection dropped")
    aws = FakeAws(clock, finishes_at(5.0), lines=lines, page_size=40, faults=faults)
    events = run(aws)
    assert messages(events) == [f"line {i}" for i in range(1500)]
    assert not aws.faults  # every injected fault was hit


def test_credentials_error_is_not_retried() -> None:
    clock = Clock()
    aws = FakeAws(clock, finishes_at(5.0), faults={3: CredentialsError("expired")})
    with pytest.raises(CredentialsError):
        run(aws)


def test_unknown_build_raises_not_found() -> None:
    clock = Clock()
    aws = FakeAws(clock, lambda now: make_build(build_id="other:1"))
    with pytest.raises(NotFoundError):
        run(aws)


def test_gives_up_after_a_long_time_without_an_answer_and_says_so_early() -> None:
    """The endpoint is gone: within 10 s the contact is said lost, then FollowLost after the limit."""
    clock = Clock()

    class Down(FakeAws):
        def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
            if self.clock.now >= 5.0:
                raise AwsError("Could not reach AWS for logs GetLogEvents: connection refused")
            return super().get_log_events(group, stream, token)

        def get_build(self, build_id: str) -> Build:
            if self.clock.now >= 5.0:
                raise AwsError("Could not reach AWS for codebuild BatchGetBuilds: refused")
            return super().get_build(build_id)

    aws = Down(clock, finishes_at(1e9), lines=[(0.0, 1, "working")])
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5, give_up_after=300.0)  # type: ignore[arg-type]
    seen: list[tuple[float, object]] = []
    for event in follower.follow(BUILD_ID):
        seen.append((clock.now, event))
    lost = [(t, e) for t, e in seen if isinstance(e, ContactLost)]
    assert len(lost) == 1
    assert 5.0 < lost[0][0] <= 5.0 + 10.0
    # The last failure as the AWS door words it (while quiet, the log and the build are
    # polled about as often: either may have failed last).
    assert lost[0][1].error in {
        "Could not reach AWS for logs GetLogEvents: connection refused",
        "Could not reach AWS for codebuild BatchGetBuilds: refused",
    }
    last_time, last = seen[-1]
    assert isinstance(last, FollowLost) and not last.vanished
    assert 300.0 <= last_time - 5.0 <= 300.0 + ERROR_CAP * 2
    assert messages([e for _, e in seen]) == ["working"]
    # Backed off, never above the cap, and did not hammer the endpoint.
    assert max(clock.sleeps) <= ERROR_CAP
    assert len(aws.calls) < 80


def test_an_unreachable_endpoint_is_said_within_10_seconds_though_each_call_hangs() -> None:
    """Packets dropped: each call ends only with its connect timeouts (2 attempts of 3 s)."""
    clock = Clock()

    class BlackHole(FakeAws):
        def _maybe_fail(self, name: str) -> None:
            self.calls.append(name)
            if self.clock.now >= 5.0:
                self.clock.now += 6.5
                raise AwsError("Could not reach AWS: connect timeout")

    aws = BlackHole(clock, finishes_at(1e9), lines=[(0.0, 1, "working")])
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5, give_up_after=60.0)  # type: ignore[arg-type]
    for event in follower.follow(BUILD_ID):
        if isinstance(event, ContactLost):
            assert clock.now - 5.0 <= 10.0
            break
    else:
        raise AssertionError("the lost contact was never said")


def test_a_build_the_endpoint_forgot_ends_the_follow_as_lost() -> None:
    """An emulator restarted: the build it ran is unknown now. Not "No build" plus "goes on"."""
    clock = Clock()

    class Forgetful(FakeAws):
        def get_build(self, build_id: str) -> Build:
            if self.clock.now >= 3.0:
                raise NotFoundError(f"No build {build_id!r} in us-east-1.")
            return super().get_build(build_id)

    aws = Forgetful(clock, finishes_at(1e9), lines=[(0.0, 1, "working")], stream_from=0.0)
    events = run(aws)
    assert isinstance(events[-1], FollowLost) and events[-1].vanished
    assert clock.now < 15.0


def test_sustained_throttling_backs_off_and_comes_back_down_losing_nothing() -> None:
    """Two minutes of throttling on every call, lines written meanwhile: all arrive, once each."""
    clock = Clock()
    lines = [(0.2 * i, i, f"line {i}") for i in range(1000)]

    class Throttled(FakeAws):
        def _maybe_fail(self, name: str) -> None:
            self.calls.append(name)
            if 10.0 <= self.clock.now < 130.0:
                raise throttled()

    aws = Throttled(clock, finishes_at(210.0), lines=lines, page_size=25)
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5)  # type: ignore[arg-type]
    events = list(follower.follow(BUILD_ID))
    assert messages(events) == [f"line {i}" for i in range(1000)]
    assert isinstance(events[-1], BuildFinished)
    kinds = [type(e) for e in events if isinstance(e, (ContactLost, ContactRestored))]
    assert kinds == [ContactLost, ContactRestored]
    during = [s for s, t in zip(clock.sleeps, _times(clock.sleeps), strict=True) if 10.0 <= t < 130.0]
    assert max(during) > 10.0  # it backed off ...
    assert max(clock.sleeps) <= ERROR_CAP  # ... up to the cap
    calls_throttled = sum(1 for s in during)
    assert calls_throttled < 30  # (not one call per 0.4 s for two minutes)
    after = [s for s, t in zip(clock.sleeps, _times(clock.sleeps), strict=True) if t >= 140.0]
    assert after and max(after) <= QUIET_CAP  # and came back down


def _times(sleeps: list[float]) -> list[float]:
    """When each sleep began."""
    times, now = [], 0.0
    for s in sleeps:
        times.append(now)
        now += s
    return times


# ----------------------------------------------------------------------------- pacing


def test_quiet_back_off_is_capped_jittered_and_returns_to_fast() -> None:
    clock = Clock()
    lines = [(0.0, 1, "start"), (60.0, 2, "after a long quiet spell"), (60.0, 3, "more")]
    aws = FakeAws(clock, finishes_at(90.0), lines=lines)
    reads: list[float] = []
    original = aws.get_log_events

    def timed(group: str, stream: str, token: str | None) -> LogPage:
        reads.append(clock.now)
        return original(group, stream, token)

    aws.get_log_events = timed  # type: ignore[method-assign]
    jitter = cycle([0.0, 1.0, 0.3, 0.7])
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: next(jitter))  # type: ignore[arg-type]
    reads_before_line = None
    for event in follower.follow(BUILD_ID):
        if isinstance(event, LogLine) and event.message.startswith("after"):
            reads_before_line = list(reads)
    assert reads_before_line is not None
    gaps = [b - a for a, b in zip(reads_before_line, reads_before_line[1:], strict=False)]
    quiet = gaps[1:]
    # Grows from fast, never above the cap, and jittered (not one constant value).
    assert quiet[0] <= FAST_INTERVAL * follow_module.GROWTH
    assert min(quiet[-3:]) > 2 * quiet[0]
    assert max(clock.sleeps) <= QUIET_CAP
    assert max(gaps) <= QUIET_CAP + 1e-9
    assert min(quiet[-3:]) >= QUIET_CAP * (1 - follow_module.JITTER)
    assert len({round(g, 6) for g in quiet[-3:]}) > 1
    # Back to fast right after lines came again.
    after = reads[len(reads_before_line)] - reads[len(reads_before_line) - 1]
    assert after <= FAST_INTERVAL


def test_a_chatty_build_costs_one_log_read_per_poll_and_at_most_1_5_a_second() -> None:
    """A line every 50 ms for a minute (issue 16): a page short of GetLogEvents' limits was
    the end of the stream, so no second read confirms it; every line still comes once."""
    clock = Clock()
    lines = [(i * 0.05, 1000 + i * 50, f"line {i}") for i in range(1200)]
    aws = FakeAws(clock, finishes_at(61.0), lines=lines)
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5)  # type: ignore[arg-type]
    got = [e.message for e in follower.follow(BUILD_ID) if isinstance(e, LogLine)]
    assert got == [f"line {i}" for i in range(1200)]
    reads = aws.calls.count("get_log_events")
    assert reads / 60.0 <= 1.5


def test_a_quiet_build_costs_at_most_12_calls_a_minute() -> None:
    """Issue 16: GetLogEvents and BatchGetBuilds together, once the back-off has settled."""
    clock = Clock()
    times: list[float] = []

    @dataclass
    class Timed(FakeAws):
        def _maybe_fail(self, name: str) -> None:
            times.append(clock.now)
            super()._maybe_fail(name)

    aws = Timed(clock, finishes_at(400.0), lines=[(0.0, 1, "start")])
    run(aws)
    quiet = [t for t in times if 60.0 <= t < 360.0]
    assert len(quiet) / 5.0 <= 12


def test_build_is_polled_less_often_than_the_log_while_quiet() -> None:
    clock = Clock()
    aws = FakeAws(clock, finishes_at(120.0), lines=[(0.0, 1, "hi")])
    run(aws)
    quiet_calls = aws.calls[20:]
    logs = quiet_calls.count("get_log_events")
    builds = quiet_calls.count("get_build")
    assert builds * 2 <= logs
    # And the whole follow stayed well under a few calls per second.
    assert len(aws.calls) / 120.0 < 2.0


def test_snapshot_without_wait_yields_what_exists_and_stops() -> None:
    clock = Clock()
    lines = [(0.0, 1, "one"), (0.0, 2, "two"), (50.0, 3, "later")]
    aws = FakeAws(clock, finishes_at(100.0), lines=lines)
    events = run(aws, wait=False)
    assert messages(events) == ["one", "two"]
    assert not any(isinstance(e, BuildFinished) for e in events)


# ----------------------------------------------------------------------------- phases


def test_phase_changes_are_reported_once_each() -> None:
    clock = Clock()

    def build_at(now: float) -> Build:
        if now < 2.0:
            phases: tuple[Phase, ...] = (phase("SUBMITTED", "SUCCEEDED"), phase("PROVISIONING"))
        elif now < 20.0:
            phases = (
                phase("SUBMITTED", "SUCCEEDED"),
                phase("PROVISIONING", "SUCCEEDED"),
                phase("BUILD"),
            )
        else:
            phases = (
                phase("SUBMITTED", "SUCCEEDED"),
                phase("PROVISIONING", "SUCCEEDED"),
                phase("BUILD", "FAILED", ("COMMAND_EXECUTION_ERROR", "exit status 3")),
                phase("COMPLETED"),
            )
        return make_build("FAILED" if now >= 20.0 else "IN_PROGRESS", phases=phases)

    # The build reports its stream from the start: BUILD's start comes from the log.
    entering = "[Container] 2026/11/28 02:00:02.000000 Entering phase BUILD\n"
    aws = FakeAws(clock, build_at, lines=[(2.0, 2000, entering)])
    events = run(aws)
    changes = [(e.phase.name, e.phase.status) for e in events if isinstance(e, PhaseChanged)]
    # Each once; a phase's start before its end. (Starts read from the log and
    # ends polled from BatchGetBuilds interleave at the two sources' pace.)
    for name, status in changes:
        if status is not None:  # every end after its start, even a start no poll saw
            assert changes.index((name, None)) < changes.index((name, status)), name
    assert sorted(changes, key=str) == sorted(
        [
            ("SUBMITTED", None),
            ("SUBMITTED", "SUCCEEDED"),
            ("PROVISIONING", None),
            ("PROVISIONING", "SUCCEEDED"),
            ("BUILD", None),
            ("BUILD", "FAILED"),
            ("COMPLETED", None),
        ],
        key=str,
    )
    assert changes.index(("BUILD", None)) < changes.index(("BUILD", "FAILED"))
    assert changes.index(("PROVISIONING", None)) < changes.index(("PROVISIONING", "SUCCEEDED"))
    assert isinstance(events[-1], BuildFinished)


def test_phase_starts_sit_between_the_lines_of_the_phases_around_them() -> None:
    """BatchGetBuilds reports BUILD before its lines are read; the log places it exactly."""
    clock = Clock()

    def build_at(now: float) -> Build:
        # BUILD shows as started in BatchGetBuilds from the first poll on.
        phases = (phase("INSTALL", "SUCCEEDED"), phase("BUILD"))
        return make_build("SUCCEEDED" if now >= 5.0 else "IN_PROGRESS", phases=phases)

    lines = [
        (0.0, 1, "[Container] 2026/11/28 02:00:00.000001 Entering phase INSTALL\n"),
        (0.0, 2, "installing\n"),
        (3.0, 3, "still installing\n"),
        (3.0, 4, "[Container] 2026/11/28 02:00:03.000001 Entering phase BUILD\n"),
        (3.0, 5, "building\n"),
    ]
    events = run(FakeAws(clock, build_at, lines=lines))
    shown = []
    for e in events:
        if isinstance(e, PhaseChanged) and e.phase.status is None:
            shown.append(f"phase {e.phase.name}")
        elif isinstance(e, LogLine) and not e.message.startswith("[Container]"):
            shown.append(e.message)
    assert shown == ["phase INSTALL", "installing", "still installing", "phase BUILD", "building"]


def test_phase_ends_sit_after_the_phase_s_last_line_with_the_log_s_duration() -> None:
    """BatchGetBuilds says BUILD ended while its last lines are unread; the log's end is in place.

    Its late report of the same end is not yielded again, and its whole-second
    duration gives way to the two log lines' times.
    """
    clock = Clock()
    t0 = datetime(2026, 11, 28, 2, 0, 0, tzinfo=timezone.utc)

    def api_phase(name: str, status: str | None, start: float, end: float | None) -> Phase:
        return Phase(
            name, status, t0 + timedelta(seconds=start),
            None if end is None else t0 + timedelta(seconds=end),
            None if end is None else int(end - start), (),
        )

    def build_at(now: float) -> Build:
        phases = [
            api_phase("DOWNLOAD_SOURCE", "SUCCEEDED", 0.0, 0.5),
            api_phase("BUILD", "SUCCEEDED", 0.5, 3.7),  # (ended already: the log is behind)
        ]
        if now >= 5.0:
            phases.append(api_phase("FINALIZING", "SUCCEEDED", 3.8, 4.0))
        return make_build("SUCCEEDED" if now >= 5.0 else "IN_PROGRESS", phases=tuple(phases))

    ms = int(t0.timestamp() * 1000)
    lines = [
        (0.0, ms + 490, "[Container] 2026/11/28 02:00:00.490000 Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED\n"),
        (0.0, ms + 500, "[Container] 2026/11/28 02:00:00.500000 Entering phase BUILD\n"),
        (0.0, ms + 600, "building\n"),
        (3.0, ms + 3600, "last build line\n"),
        (3.0, ms + 3700, "[Container] 2026/11/28 02:00:03.700000 Phase complete: BUILD State: SUCCEEDED\n"),
        (3.0, ms + 3701, "[Container] 2026/11/28 02:00:03.701000 Phase context status code:  Message: \n"),
    ]
    events = run(FakeAws(clock, build_at, lines=lines))
    shown: list[object] = []
    for e in events:
        if isinstance(e, PhaseChanged):
            shown.append((e.phase.name, e.phase.status, phase_seconds(e.phase)))
        elif isinstance(e, LogLine) and not e.message.startswith("[Container]"):
            shown.append(e.message)
    assert shown == [
        ("DOWNLOAD_SOURCE", None, None),  # first polled over: its start still comes first
        ("DOWNLOAD_SOURCE", "SUCCEEDED", 0.49),  # from BatchGetBuilds' start to the log's end
        ("BUILD", None, None),
        "building",
        "last build line",
        ("BUILD", "SUCCEEDED", 3.2),
        ("FINALIZING", None, None),
        ("FINALIZING", "SUCCEEDED", 0.2),  # never logged: BatchGetBuilds tells it
    ]
    assert [m.split(" ", 3)[-1] for m in messages(events) if m.startswith("[Container]")] == [
        "Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED",
        "Entering phase BUILD",
        "Phase complete: BUILD State: SUCCEEDED",
        "Phase context status code:  Message: ",
    ]  # every line still delivered, once, in order


def test_phases_after_the_container_s_wait_for_the_last_lines() -> None:
    """BatchGetBuilds says FINALIZING and COMPLETED while the pipeline's last lines are unread."""
    clock = Clock()

    def build_at(now: float) -> Build:
        if now < 4.5:
            return make_build(phases=(phase("BUILD"),))
        phases = (phase("BUILD", "SUCCEEDED"), phase("FINALIZING", "SUCCEEDED"), phase("COMPLETED"))
        return make_build("SUCCEEDED", phases=phases)

    lines = [
        (0.0, 1, "[Container] 2026/11/28 02:00:00.000001 Entering phase BUILD\n"),
        (0.0, 2, "first\n"),
        # Still being ingested when the build reports completion.
        (5.2, 3, "last\n"),
        (5.2, 4, "[Container] 2026/11/28 02:00:05.000001 Phase complete: BUILD State: SUCCEEDED\n"),
    ]
    events = run(FakeAws(clock, build_at, lines=lines))
    shown = [
        (e.phase.name, e.phase.status) if isinstance(e, PhaseChanged) else e.message
        for e in events
        if isinstance(e, PhaseChanged)
        or (isinstance(e, LogLine) and not e.message.startswith("[Container]"))
    ]
    assert shown == [
        ("BUILD", None), "first", "last", ("BUILD", "SUCCEEDED"), ("FINALIZING", None),
        ("FINALIZING", "SUCCEEDED"), ("COMPLETED", None),
    ]


def test_an_end_the_log_never_tells_comes_from_the_build_before_it_finishes() -> None:
    """A stopped build: CodeBuild writes no "Phase complete" for the phase it cut short."""
    clock = Clock()

    def build_at(now: float) -> Build:
        if now < 3.0:
            return make_build(phases=(phase("BUILD"),))
        return make_build("STOPPED", phases=(phase("BUILD", "STOPPED"),))

    lines = [
        (0.0, 1, "[Container] 2026/11/28 02:00:00.000001 Entering phase BUILD\n"),
        (0.0, 2, "working\n"),
    ]
    events = run(FakeAws(clock, build_at, lines=lines))
    kinds = [
        (e.phase.name, e.phase.status) if isinstance(e, PhaseChanged) else type(e).__name__
        for e in events
        if not isinstance(e, LogLine)
    ]
    assert kinds == [("BUILD", None), ("BUILD", "STOPPED"), "BuildFinished"]


def test_end_of_build_is_noticed_promptly_after_the_pipeline_end_marker() -> None:
    clock = Clock()
    end = signed('{"event": "pipeline-end", "status": "ok", "failedStep": null, "exitCode": 0}')
    lines = [(0.0, 0, ANNOUNCEMENT), (0.0, 1, "start"), (30.0, 2, end)]
    aws = FakeAws(clock, finishes_at(31.5), lines=lines)
    follower = Follower(aws, sleep=clock.sleep, clock=clock, rng=lambda: 0.5)  # type: ignore[arg-type]
    marker_seen = None
    for event in follower.follow(BUILD_ID):
        if isinstance(event, MarkerEvent) and event.marker.event == "pipeline-end":
            marker_seen = clock.now
        if isinstance(event, BuildFinished):
            # The marker comes after a quiet spell (up to QUIET_CAP late); from then on the
            # end is seen within about a second (plus the one tail read), not a quiet poll later.
            assert marker_seen is not None and marker_seen - 30.0 <= QUIET_CAP
            assert clock.now - max(marker_seen, 31.5) <= FAST_INTERVAL * 3


def test_a_refused_token_rereads_from_the_head_without_repeating_lines() -> None:
    """Tokens expire; the identity of an event is its position, so nothing repeats."""
    clock = Clock()
    lines = [(0.0, 5, "same ms")] * 3 + [(0.0, 6, f"early {i}") for i in range(5)]
    lines += [(3.0, 7, f"late {i}") for i in range(5)]

    class Expiring(FakeAws):
        refused = False

        def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
            if token and self.clock.now >= 2.0 and not self.refused:
                self.refused = True
                raise AwsError("The specified nextToken is invalid.", code="InvalidParameterException")
            return super().get_log_events(group, stream, token)

    aws = Expiring(clock, finishes_at(6.0), lines=lines, page_size=3)
    events = run(aws)
    assert aws.refused
    assert messages(events) == [text for _, _, text in lines]


# ----------------------------------------------------------------------------- ordering

ORDER = ("SUBMITTED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "BUILD", "POST_BUILD",
         "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED")


@pytest.mark.parametrize("seed", range(20))
def test_phase_headings_wait_for_the_lines_before_them(seed: int) -> None:
    """BatchGetBuilds runs ahead of the log (ingestion lags by a random few seconds).

    What the user sees is ordered by the log: a phase's heading never lands
    among the lines of the phase before it, UPLOAD_ARTIFACTS included, whether
    or not the log announces it. The timings vary with ``seed``.
    """
    import io
    import random

    from rich.console import Console

    from cbdeploy.client.output.terminal import Renderer

    rnd = random.Random(seed)
    clock = Clock()
    t0 = datetime(2026, 11, 28, 2, 0, 0, tzinfo=timezone.utc)
    written: list[tuple[float, str, str]] = []  # (written at, phase, message)
    starts: dict[str, float] = {}
    now = 1.0
    for name in ORDER:
        starts[name] = now
        if name in ("INSTALL", "BUILD", "POST_BUILD") or (
            name == "UPLOAD_ARTIFACTS" and seed % 2
        ):
            stamp = (t0 + timedelta(seconds=now)).strftime("%Y/%m/%d %H:%M:%S.%f")
            written.append((now, name, f"[Container] {stamp} Entering phase {name}\n"))
        if name in ("INSTALL", "BUILD", "POST_BUILD"):
            for i in range(rnd.randint(3, 15)):
                now += rnd.uniform(0.0, 0.6)
                written.append((now, name, f"{name.lower()} {i}\n"))
        now += rnd.uniform(0.1, 2.0)
    end = now
    lag, visible = 0.0, 0.0
    lines = []
    for at, _, message in written:
        lag = max(0.0, min(6.0, lag + rnd.uniform(-1.0, 1.5)))  # ingestion lag drifts
        visible = max(visible, at + lag)  # (readable in the order written)
        lines.append((visible, int((t0.timestamp() + at) * 1000), message))
    ahead = rnd.uniform(1.0, 5.0)  # BatchGetBuilds knows this much sooner

    def build_at(t: float) -> Build:
        known = t + ahead
        phases = []
        for k, name in enumerate(ORDER):
            if starts[name] > known:
                break
            following = ORDER[k + 1] if k + 1 < len(ORDER) else None
            done = following is not None and starts[following] <= known
            phases.append(phase(name, "SUCCEEDED" if done else None))
        # (Complete once the log has it all: lines lag by 6 s at most.)
        return make_build("SUCCEEDED" if t >= end + 7.0 else "IN_PROGRESS",
                          phases=tuple(phases))

    aws = FakeAws(clock, build_at, lines=lines, page_size=rnd.randint(1, 7))
    events = run(aws, rng=rnd.random)

    phase_of = {message.rstrip("\n"): name for _, name, message in written}
    shown: list[str] = []
    for e in events:
        if isinstance(e, LogLine):
            shown.append(phase_of[e.message])
        elif isinstance(e, PhaseChanged) and e.phase.status is None:
            # Every line of an earlier phase has been yielded before this start.
            earlier = {p for p in ORDER[: ORDER.index(e.phase.name)]}
            total_earlier = sum(1 for _, p, _ in written if p in earlier)
            assert sum(1 for p in shown if p in earlier) == total_earlier, e.phase.name

    out = io.StringIO()
    renderer = Renderer(Console(file=out, width=100, force_terminal=False), debug=False)
    for e in events:
        renderer.handle(e)
    printed = [line for line in out.getvalue().splitlines() if line]
    with_lines = ("install", "build", "post_build")
    for i, line in enumerate(printed):
        if line.startswith("· "):
            # A heading goes right above a line of its own phase, never among another's.
            assert printed[i + 1].split(" ")[0] == line[2:].lower(), printed
    order = [line.split(" ")[0] for line in printed if line.split(" ")[0] in with_lines]
    assert order == [p.lower() for _, p, m in written if not m.startswith("[Container]")]
