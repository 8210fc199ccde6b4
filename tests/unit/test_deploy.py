"""The deploy service's plan and its start-and-follow loop, with a fake AwsClient.

Every deploy runs through the service's public entry point, ``DeployService.run``,
with the AWS door passed in as ``aws_factory``. The fake plays the build
(StartBuild, BatchGetBuilds, GetLogEvents, StopBuild) on a fake clock; every
other call (who the caller is, bootstrap, upload) goes to a real AwsClient on
the test session's emulator, so the deploy runs as it does for a user up to
StartBuild.

Ctrl-C is a real SIGINT (``signal.raise_signal``) delivered to this process
while the fake is answering, so the installed handler does the counting as it
would for a user; no wall-clock waits (the clock and sleep are fakes).
"""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from cbdeploy.client.aws.client import AwsClient, open_aws
from cbdeploy.client.aws.endpoint import AWS, Endpoint
from cbdeploy.client.aws.results import Build, LogEvent, LogPage
from cbdeploy.client.deploy.events import BuildStarted
from cbdeploy.client.deploy.service import DeployOptions, DeployPlan, DeployService, start_request
from cbdeploy.client.deploy.upload import UploadResult
from cbdeploy.client.errors import AwsError, Cancelled
from cbdeploy.client.target import Target
from cbdeploy.client.watch.events import (
    BuildFinished,
    ContactLost,
    Detached,
    LogLine,
    StopRequested,
    StopScheduled,
)
from cbdeploy.client.watch.follow import QUIET_CAP
from cbdeploy.client.watch.outcome import lost_message
from cbdeploy.client.watch.signals import STOP_BUDGET_SECONDS, WINDOW_SECONDS
from tests.factories import make_build

TARGET = Target(stage="dev", region="eu-west-1", profile=None, config_path=None, local=False,
                log_level="info")
BUILD_ID = "cbdeploy-app-dev:7"


def plan(**changes: Any) -> DeployPlan:
    base = DeployPlan(
        app="app", stage="dev", region="eu-west-1", project="cbdeploy-app-dev",
        invocation_id="3f1c-token", needs_confirmation=False, buildspec="version: 0.2\n",
        environment=({"name": "STAGE", "value": "dev", "type": "PLAINTEXT"},
                     {"name": "DB", "value": "/app/db", "type": "PARAMETER_STORE"}),
        compute_type="BUILD_GENERAL1_MEDIUM", image="aws/codebuild/standard:7.0",
        privileged_mode=True, timeout_in_minutes=30, no_build_cache=False, entries={},
    )
    return replace(base, **changes)


UPLOAD = UploadResult(bucket="cbdeploy-1-eu-west-1", key="sources/app/abc.zip", skipped=False)


def test_start_request_overrides_source_buildspec_environment_and_settings() -> None:
    assert start_request(plan(), UPLOAD) == {
        "projectName": "cbdeploy-app-dev",
        "sourceTypeOverride": "S3",
        "sourceLocationOverride": "cbdeploy-1-eu-west-1/sources/app/abc.zip",
        "buildspecOverride": "version: 0.2\n",
        "environmentVariablesOverride": [
            {"name": "STAGE", "value": "dev", "type": "PLAINTEXT"},
            {"name": "DB", "value": "/app/db", "type": "PARAMETER_STORE"},
        ],
        "computeTypeOverride": "BUILD_GENERAL1_MEDIUM",
        "imageOverride": "aws/codebuild/standard:7.0",
        "privilegedModeOverride": True,
        "timeoutInMinutesOverride": 30,
        "idempotencyToken": "3f1c-token",
    }


def test_no_build_cache_overrides_the_project_cache() -> None:
    assert start_request(plan(no_build_cache=True), UPLOAD)["cacheOverride"] == {"type": "NO_CACHE"}


# ----------------------------------------------------------------------------- start and follow


def build(status: str) -> Build:
    return make_build(status, id=BUILD_ID, number=7, log_group="/cbdeploy/app", log_stream="dev/7")


@dataclass
class Clock:
    now: float = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeAws:
    """A build that prints a line per second and succeeds at ``ends_at`` unless stopped."""

    clock: Clock
    ends_at: float = 10.0
    region: str = "eu-west-1"
    endpoint: Endpoint = AWS
    on_log_call: Callable[[int], None] = lambda n: None
    start_failures: list[Exception] = field(default_factory=list)
    start_requests: list[dict[str, Any]] = field(default_factory=list)
    stops: list[str] = field(default_factory=list)
    stopped_at: float | None = None
    stop_takes: float = 1.0  # CodeBuild takes a moment to stop
    log_calls: int = 0
    quiet: bool = False  # prints nothing at all
    build_polls: list[float] = field(default_factory=list)  # when BatchGetBuilds was called
    door: AwsClient | None = None  # every call but the build's: the emulator, while deploying

    def __getattr__(self, name: str) -> Any:
        if self.door is None:
            raise AttributeError(name)
        return getattr(self.door, name)

    def for_polling(self) -> FakeAws:
        return self

    def start_build(self, **request: Any) -> Build:
        self.start_requests.append(request)
        if self.start_failures:
            raise self.start_failures.pop(0)
        return build("IN_PROGRESS")

    def stop_build(self, build_id: str) -> Build:
        self.stops.append(build_id)
        self.stopped_at = self.clock.now + self.stop_takes
        return build("IN_PROGRESS")

    def get_build(self, build_id: str) -> Build:
        self.build_polls.append(self.clock.now)
        if self.stopped_at is not None and self.clock.now >= self.stopped_at:
            return build("STOPPED")
        return build("SUCCEEDED" if self.clock.now >= self.ends_at else "IN_PROGRESS")

    def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
        self.log_calls += 1
        self.on_log_call(self.log_calls)
        end = self.stopped_at if self.stopped_at is not None else self.ends_at
        count = 0 if self.quiet else int(min(self.clock.now, end)) + 1
        start = int(token[2:]) if token else 0
        events = [LogEvent(i, f"line {i}", i) for i in range(start, count)]
        return LogPage(events, f"f/{count}")


@pytest.fixture(autouse=True)
def emulator(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The door behind the fake is the session's emulator (the target is not --local)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)


def project(root: Path) -> Path:
    (root / "cbdeploy.toml").write_text('name = "app"\n\n[pipeline]\ndeploy = ["echo hi"]\n')
    (root / "index.html").write_text("<p>hi</p>\n")
    return root


def run(
    aws: FakeAws, options: DeployOptions | None = None, *, at_terminal: bool = False,
    seen: Callable[[object], None] = lambda event: None,
) -> tuple[Any, list[object]]:
    """Deploy a small project with ``aws`` playing the build; the events from BuildStarted on
    (``seen`` is shown every event as it is emitted)."""

    @contextmanager
    def door(target: Target) -> Iterator[FakeAws]:
        with open_aws(target) as real:
            aws.door = real
            try:
                yield aws
            finally:
                aws.door = None

    events: list[object] = []
    with tempfile.TemporaryDirectory(prefix="cbdeploy-test-") as tmp:
        service = DeployService(
            TARGET, options or DeployOptions(), project_root=project(Path(tmp)),
            on_event=lambda e: (seen(e), events.append(e)), confirm=lambda q: True,
            aws_factory=door,
            clock=aws.clock, sleep=aws.clock.sleep, new_id=lambda: "tok",
            at_terminal=lambda: at_terminal,
        )
        outcome = service.run()
    started = next(i for i, e in enumerate(events) if isinstance(e, BuildStarted))
    return outcome, events[started:]


def lines(events: list[object]) -> list[str]:
    return [e.message for e in events if isinstance(e, LogLine)]


def test_successful_build_exits_zero_with_every_line() -> None:
    aws = FakeAws(Clock())
    outcome, events = run(aws)
    assert outcome.exit_code == 0 and outcome.status == "SUCCEEDED"
    assert lines(events) == [f"line {i}" for i in range(11)]
    assert isinstance(events[0], BuildStarted)
    assert isinstance(events[-1], BuildFinished)


def test_without_a_terminal_the_first_ctrl_c_stops_the_build_at_once_and_follows_until_stopped(
) -> None:
    aws = FakeAws(Clock(), ends_at=100.0)
    aws.on_log_call = lambda n: signal.raise_signal(signal.SIGINT) if n == 5 else None
    outcome, events = run(aws)
    assert aws.stops == [BUILD_ID]
    assert any(isinstance(e, StopRequested) for e in events)
    assert outcome.status == "STOPPED"
    assert outcome.exit_code == 130 and outcome.interrupted and not outcome.detached
    # It kept following after the stop: lines up to the stop are all there.
    assert lines(events) == [f"line {i}" for i in range(len(lines(events)))]
    assert aws.clock.now < 100.0


def test_without_a_terminal_a_second_ctrl_c_detaches_at_once() -> None:
    aws = FakeAws(Clock(), ends_at=100.0)
    aws.on_log_call = lambda n: signal.raise_signal(signal.SIGINT) if n in (3, 4) else None
    outcome, events = run(aws)
    detached = [e for e in events if isinstance(e, Detached)]
    assert len(detached) == 1 and detached[0].build_id == BUILD_ID and detached[0].interrupted
    assert outcome.exit_code == 130 and outcome.detached
    assert aws.stops == [BUILD_ID]  # the first Ctrl-C asked to stop; the second left
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def signal_at(aws: FakeAws, calls: dict[int, int]) -> list[float]:
    """Raise signal ``calls[n]`` during the n-th GetLogEvents; the fake times they were sent."""
    sent: list[float] = []

    def on_call(n: int) -> None:
        if n in calls:
            sent.append(aws.clock.now)
            signal.raise_signal(calls[n])

    aws.on_log_call = on_call
    return sent


def test_at_a_terminal_the_first_ctrl_c_announces_and_stops_when_the_window_ends() -> None:
    aws = FakeAws(Clock(), ends_at=100.0)
    stops_at: list[float] = []
    original = aws.stop_build
    aws.stop_build = lambda build_id: (stops_at.append(aws.clock.now), original(build_id))[1]  # type: ignore[method-assign]
    pressed = signal_at(aws, {5: signal.SIGINT})
    outcome, events = run(aws, at_terminal=True)
    names = [type(e).__name__ for e in events]
    assert names.index("StopScheduled") < names.index("StopRequested")
    scheduled = next(e for e in events if isinstance(e, StopScheduled))
    assert scheduled.build_id == BUILD_ID and scheduled.seconds == WINDOW_SECONDS
    assert aws.stops == [BUILD_ID]
    assert pressed[0] + WINDOW_SECONDS <= stops_at[0] < pressed[0] + WINDOW_SECONDS + 0.5
    assert outcome.status == "STOPPED" and outcome.exit_code == 130 and not outcome.detached


def test_at_a_terminal_a_second_ctrl_c_within_the_window_leaves_without_stopping() -> None:
    aws = FakeAws(Clock(), ends_at=100.0)
    pressed = signal_at(aws, {3: signal.SIGINT, 5: signal.SIGINT})
    outcome, events = run(aws, at_terminal=True)
    assert pressed[1] - pressed[0] < WINDOW_SECONDS
    assert aws.stops == []  # the build goes on
    detached = [e for e in events if isinstance(e, Detached)]
    assert len(detached) == 1 and detached[0].interrupted and not detached[0].stop_requested
    assert outcome.exit_code == 130 and outcome.detached and outcome.status == "IN_PROGRESS"


def test_a_build_that_ends_within_the_window_exits_with_its_own_outcome() -> None:
    aws = FakeAws(Clock(), ends_at=3.0)
    pressed: list[float] = []

    def press_near_the_end(_n: int) -> None:
        if not pressed and aws.clock.now >= 2.5:
            pressed.append(aws.clock.now)
            signal.raise_signal(signal.SIGINT)

    aws.on_log_call = press_near_the_end
    outcome, _ = run(aws, at_terminal=True)
    assert pressed and aws.clock.now < pressed[0] + WINDOW_SECONDS
    assert aws.stops == []
    assert outcome.status == "SUCCEEDED" and outcome.exit_code == 0 and not outcome.interrupted


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_at_once_even_at_a_terminal(signum: int, code: int) -> None:
    aws = FakeAws(Clock(), ends_at=100.0)
    signal_at(aws, {5: signum})
    outcome, events = run(aws, at_terminal=True)
    assert not any(isinstance(e, StopScheduled) for e in events)
    requested = [e for e in events if isinstance(e, StopRequested)]
    assert requested == [StopRequested(BUILD_ID, signal.Signals(signum).name, STOP_BUDGET_SECONDS)]
    assert outcome.status == "STOPPED" and outcome.exit_code == code
    assert outcome.signal == signum and outcome.interrupted and not outcome.detached


def test_a_stop_that_outlasts_the_budget_leaves_in_time_saying_so() -> None:
    aws = FakeAws(Clock(), ends_at=100.0, stop_takes=60.0)
    sent = signal_at(aws, {5: signal.SIGTERM})
    outcome, events = run(aws)
    assert aws.stops == [BUILD_ID]
    assert sent[0] + STOP_BUDGET_SECONDS <= aws.clock.now < sent[0] + STOP_BUDGET_SECONDS + 0.5
    detached = [e for e in events if isinstance(e, Detached)]
    assert detached == [Detached(BUILD_ID, True, stop_requested=True,
                                 waited=STOP_BUDGET_SECONDS)]
    assert outcome.exit_code == 143 and outcome.detached and outcome.status == "IN_PROGRESS"
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # handlers put back
        assert signal.getsignal(signum) is not None
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_after_the_stop_a_quiet_build_is_polled_without_backing_off() -> None:
    """The stop budget is short: STOPPED must be seen soon after CodeBuild reports it."""
    aws = FakeAws(Clock(), ends_at=1000.0, quiet=True)
    signal_at(aws, {30: signal.SIGTERM})
    outcome, _ = run(aws)
    assert aws.stopped_at is not None and outcome.status == "STOPPED"
    first_seen = min(t for t in aws.build_polls if t >= aws.stopped_at)
    assert first_seen - aws.stopped_at <= QUIET_CAP


def test_detach_option_starts_and_leaves() -> None:
    aws = FakeAws(Clock())
    outcome, events = run(aws, DeployOptions(detach=True))
    assert outcome.exit_code == 0 and outcome.detached
    assert [type(e).__name__ for e in events] == ["BuildStarted", "Detached"]
    assert aws.log_calls == 0


def test_the_cyclic_collector_is_paused_until_the_build_starts_then_resumed() -> None:
    """What a deploy makes before StartBuild (selection, trees, records) lives until then:
    the collector would walk it again and again. Following may take hours: it collects."""
    import gc

    enabled: list[tuple[str, bool]] = []
    assert gc.isenabled()
    gc.unfreeze()
    outcome, _ = run(FakeAws(Clock()), seen=lambda e: enabled.append(
        (type(e).__name__, gc.isenabled())))
    assert outcome.exit_code == 0 and gc.isenabled()
    assert gc.get_freeze_count() > 0  # what was made until then is not walked again
    gc.unfreeze()
    before = enabled[:next(i for i, (name, _) in enumerate(enabled) if name == "BuildStarted")]
    assert {name for name, _ in before} >= {"FilesSelected", "ArchiveBuilt", "UploadDone"}
    assert not any(on for _, on in before)
    assert all(on for _, on in enabled[len(before):])


def test_a_cold_deploys_workers_have_ended_before_the_build_is_followed(
    early_batches_made: list[Any],
) -> None:
    """A deploy without a package cache starts worker processes before the selection;
    once the archive is built they have nothing left to do while the build runs."""
    made = early_batches_made

    def at_start(event: object) -> None:
        if isinstance(event, BuildStarted):
            running.extend(p.popen.poll() is None for p in made[0].workers._processes)

    running: list[bool] = []
    outcome, _ = run(FakeAws(Clock()), seen=at_start)
    assert outcome.exit_code == 0 and len(made) == 1
    assert running and not any(running)


def test_start_is_retried_with_the_same_idempotency_token() -> None:
    aws = FakeAws(Clock(), ends_at=1.0)
    aws.start_failures = [AwsError("Rate exceeded", code="ThrottlingException"),
                          AwsError("Could not reach AWS")]
    outcome, _ = run(aws)
    assert outcome.exit_code == 0
    assert [r["idempotencyToken"] for r in aws.start_requests] == ["tok", "tok", "tok"]


def test_start_refusal_is_not_retried() -> None:
    aws = FakeAws(Clock())
    aws.start_failures = [AwsError("bad image", code="InvalidInputException")]
    with pytest.raises(AwsError, match="bad image"):
        run(aws)
    assert len(aws.start_requests) == 1


def test_a_follow_that_gives_up_says_the_outcome_is_unknown_and_how_to_re_attach() -> None:
    """Ten minutes without an answer: exit 3, status UNKNOWN, and the way back to the build."""
    aws = FakeAws(Clock(), ends_at=100_000.0)

    def fail(n: int) -> None:
        if n > 3:
            raise AwsError("Could not connect to the endpoint", "Check your network.")

    aws.on_log_call = fail
    outcome, events = run(aws)
    assert outcome.status == "UNKNOWN" and outcome.exit_code == 3
    assert any(isinstance(e, ContactLost) for e in events)
    message, hint = lost_message(outcome)
    assert "Could not connect to the endpoint" in message and BUILD_ID in message
    assert hint is not None
    assert f"cbdeploy logs {BUILD_ID} --follow --region eu-west-1" in hint
    assert aws.stops == []  # nobody asked to stop it
    assert 600.0 <= aws.clock.now <= 700.0


# ----------------------------------------------------------------------------- confirmation


class AccountOnlyAws:
    """Answers who the caller is; any other AWS call fails the test (nothing may be created)."""

    region = "eu-west-1"
    endpoint = AWS

    def __init__(self) -> None:
        self.calls: list[str] = []

    def account_id(self) -> str:
        self.calls.append("account_id")
        return "123456789012"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"AWS called before the answer: {name}")


def confirming_project(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "cbdeploy.toml").write_text(
        'name = "app"\n\n[pipeline]\ndeploy = ["echo hi"]\n\n[stages.dev]\nconfirm = true\n'
    )
    for i in range(3):
        (root / f"page{i}.html").write_text(f"<p>{i}</p>\n")
    return root


def service(root: Path, events: list[object], **kwargs: Any) -> DeployService:
    options = kwargs.pop("options", DeployOptions())
    return DeployService(TARGET, options, project_root=root, on_event=events.append, **kwargs)


def test_the_question_comes_after_packaging_shows_the_archive_and_no_leaves_aws_untouched(
    tmp_path: Path,
) -> None:
    from contextlib import nullcontext

    from cbdeploy.client.deploy.events import ArchiveBuilt, ConfirmationNeeded, DeployStarting

    aws = AccountOnlyAws()
    asked: list[str] = []
    events: list[object] = []

    def answer(question: str) -> bool:
        asked.append(question)
        return False

    deploy = service(confirming_project(tmp_path), events, confirm=answer, can_ask=lambda: True,
                     aws_factory=lambda target: nullcontext(aws))
    with pytest.raises(Cancelled, match="nothing was changed"):
        deploy.run()
    assert asked == ["Deploy app to stage dev in eu-west-1?"]
    assert aws.calls == ["account_id"]
    names = [type(e).__name__ for e in events]
    assert names[:2] == ["DeployStarting", "FilesSelected"]
    assert names[-2:] == ["ArchiveBuilt", "ConfirmationNeeded"]
    assert set(names[2:-2]) == {"PackagingProgress"}
    starting, built, question = events[0], events[-2], events[-1]
    assert isinstance(starting, DeployStarting) and starting.account == "123456789012"
    assert isinstance(built, ArchiveBuilt) and isinstance(question, ConfirmationNeeded)
    assert (question.stage, question.region, question.account) == ("dev", "eu-west-1",
                                                                    "123456789012")
    assert question.archive == built.archive and question.archive.file_count == 4


def test_no_at_the_question_says_cancelled_not_error_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user's own "n" is no error: one line on stderr, exit 2 (nothing deployed)."""
    import io
    from contextlib import nullcontext

    from rich.console import Console

    from cbdeploy.client.output.session import OutputSession

    session = OutputSession("deploy", report=True, environ={}, console=Console(file=io.StringIO()))
    deploy = service(confirming_project(tmp_path), [], confirm=lambda question: False,
                     can_ask=lambda: True, aws_factory=lambda target: nullcontext(AccountOnlyAws()))
    assert session.run(deploy.run) == 2
    assert capsys.readouterr().err == "Cancelled: nothing was changed\n"


def test_packaging_reports_bytes_done_of_all_bytes(tmp_path: Path) -> None:
    from contextlib import nullcontext

    from cbdeploy.client.deploy.events import PackagingProgress

    events: list[object] = []
    deploy = service(confirming_project(tmp_path), events, confirm=lambda q: False,
                     can_ask=lambda: True, aws_factory=lambda target: nullcontext(AccountOnlyAws()))
    with pytest.raises(Cancelled):
        deploy.run()
    progress = [(e.done, e.total) for e in events if isinstance(e, PackagingProgress)]
    done = [p[0] for p in progress]
    assert done == sorted(done) and len({p[1] for p in progress}) == 1
    # Bytes: the 4 files' and those of the manifest, plan and runner added to them.
    built = next(e for e in events if type(e).__name__ == "ArchiveBuilt")
    assert progress[-1][0] == progress[-1][1] > built.archive.raw_size  # type: ignore[attr-defined]


def test_without_a_terminal_a_confirming_stage_refuses_before_packaging_or_aws(
    tmp_path: Path,
) -> None:
    from cbdeploy.client.errors import UsageError

    def no_aws(target: Target) -> Any:
        raise AssertionError("AWS was called")

    root = confirming_project(tmp_path)
    events: list[object] = []
    deploy = service(root, events, confirm=lambda q: True, can_ask=lambda: False,
                     aws_factory=no_aws)
    with pytest.raises(UsageError) as refused:
        deploy.run()
    assert refused.value.exit_code == 2
    assert "no terminal" in refused.value.message
    assert "--yes" in (refused.value.hint or "")
    assert events == []
    assert not (root / ".cbdeploy").exists()  # not even the packaging cache


def test_yes_needs_no_terminal(tmp_path: Path) -> None:
    class Reached(Exception):
        pass

    def aws(target: Target) -> Any:
        raise Reached

    deploy = service(confirming_project(tmp_path), [], confirm=lambda q: False,
                     can_ask=lambda: False, aws_factory=aws, options=DeployOptions(yes=True))
    with pytest.raises(Reached):
        deploy.run()
