"""The terminal layer rendered into a StringIO console: what the user reads."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console

from cbdeploy.client.aws.results import Build, Phase
from cbdeploy.client.deploy.events import ArchiveBuilt, DeployStarting, FilesSelected
from cbdeploy.client.errors import UsageError
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.terminal import Renderer, confirm
from cbdeploy.client.output.text import clock_time, format_duration
from cbdeploy.client.packaging import ArchiveResult, Selection
from cbdeploy.client.watch.events import Attached, Detached, LogLine, MarkerEvent, PhaseChanged
from cbdeploy.client.watch.markers import Marker
from cbdeploy.client.watch.outcome import BuildOutcome
from tests.factories import make_build


def console() -> Console:
    return Console(file=io.StringIO(), width=80)


def text(c: Console) -> str:
    file = c.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def build(status: str = "IN_PROGRESS", *phases: Phase) -> Build:
    return make_build(status, id="cbdeploy-app-dev:42", phases=phases, log_group=None,
                      log_stream=None)


def test_remote_lines_are_printed_verbatim_even_with_markup_in_them() -> None:
    c = console()
    r = Renderer(c)
    lines = ["closing tag [/x] here", "[bold]not bold[/bold]", "[red]x", "emoji :smile: stays", "a" * 200]
    for line in lines:
        r.handle(LogLine(1, line))
    assert text(c).splitlines() == lines


ATTACKS = [
    "\x1b]52;c;ZWNobyBwd25lZA==\x07",  # OSC 52: write the clipboard
    "\x1b]0;innocent title\x1b\\",  # OSC 0: the window title
    "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",  # OSC 8: a hyperlink
    "\x1b[2J\x1b[H",  # clear the screen, cursor home
    "\x1b[1A\x1b[2K",  # up a line and erase it: rewrite what was printed
    "\x1bP+q544e\x1b\\",  # DCS: ask the terminal something
    "\x1b[6n",  # report the cursor position (into the input)
    "\x9b2J",  # 8-bit CSI
    "\x1b]52;c;unterminated",  # runs to the end of the line
    "\x1bc",  # reset the terminal
    "bell\x07back\x08space",
]


def test_plain_output_has_no_control_sequence_but_keeps_carriage_returns_and_tabs() -> None:
    """A pipe, a file, --json's stderr: the build's text, no escape sequence, \\r kept."""
    c = Console(file=io.StringIO(), width=80, force_terminal=False)
    renderer = Renderer(c)
    for number, line in enumerate(["\x1b[31mred\x1b[0m", "10%\r50%\r100%", "a\tb", *ATTACKS]):
        renderer.handle(LogLine(number, line))
    out = text(c)
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out and "\x08" not in out
    lines = out.split("\n")
    assert lines[:3] == ["red", "10%\r50%\r100%", "a\tb"]
    assert "link" in out and "bellbackspace" in out
    assert "ZWNobyBwd25lZA" not in out and "innocent title" not in out


def test_a_terminal_gets_colours_only_and_each_carriage_return_starts_a_line() -> None:
    """At a terminal SGR colours stay (reset at the line's end); every other sequence goes."""
    c = Console(file=io.StringIO(), width=80, force_terminal=True)
    renderer = Renderer(c)
    renderer.handle(LogLine(1, "\x1b[1;31mred\x1b[0m and \x1b[8mhidden\x1b[0m"))
    renderer.handle(LogLine(2, "error: tests failed\r\x1b[32m✓ Deploy succeeded\x1b[0m"))
    for number, line in enumerate(ATTACKS):
        renderer.handle(LogLine(10 + number, line))
    out = text(c)
    lines = out.split("\n")
    assert lines[0] == "\x1b[1;31mred\x1b[0m and hidden\x1b[0m\x1b[0m"  # no conceal
    # Nothing written over: what a carriage return would hide is on a line of its own.
    assert lines[1:3] == ["error: tests failed", "\x1b[32m✓ Deploy succeeded\x1b[0m\x1b[0m"]
    rest = "\n".join(lines[3:])
    assert "\x1b" not in rest and "\x9b" not in rest and "\x07" not in rest
    assert "ZWNobyBwd25lZA" not in rest and "innocent title" not in rest
    assert "\r" not in out


def test_remote_text_in_cbdeploy_s_own_lines_is_one_plain_line() -> None:
    c = Console(file=io.StringIO(), width=200, force_terminal=True)
    renderer = Renderer(c)
    renderer.handle(MarkerEvent(Marker("step-start", {"step": "evil\x1b]0;t\x07\x1b[2J\rname"})))
    outcome = BuildOutcome(
        "cbdeploy-app-dev:42", "FAILED", 1, outputs={"url\x1b[2J": "http://x\x1b]52;c;Zm9v\x07\ny"},
        failed_step="evil\x1b[1Astep",
    )
    renderer.outcome(outcome)
    out = text(c)
    for sequence in ("\x1b]", "\x1b[2J", "\x1b[1A", "\x07", "\r"):
        assert sequence not in out
    assert "evil name" in out and "http://x y" in out and "evilstep" in out


def test_container_lines_hidden_unless_debug_but_errors_stay_without_the_runner() -> None:
    events = [
        LogLine(1, "[Container] 2026/11/28 02:40:00.1 Running command npm ci"),
        LogLine(2, "[Container] 2026/11/28 02:40:03.1 Command did not exit successfully npm ci exit status 1"),
        LogLine(3, "npm ERR! missing script"),
    ]
    c = console()
    r = Renderer(c)
    for e in events:
        r.handle(e)
    assert "Running command" not in text(c)
    assert "did not exit successfully" in text(c)
    assert "npm ERR! missing script" in text(c)
    # With the runner's markers, its step lines say what failed; CodeBuild's go quiet.
    c = console()
    r = Renderer(c)
    r.handle(MarkerEvent(Marker("step-start", {"step": "build", "index": 1, "total": 1})))
    for e in events:
        r.handle(e)
    assert "did not exit successfully" not in text(c)
    assert "npm ERR! missing script" in text(c)
    c = console()
    r = Renderer(c, debug=True)
    for e in events:
        r.handle(e)
    assert "Running command npm ci" in text(c)


def test_markers_become_progress_lines() -> None:
    c = console()
    r = Renderer(c)
    r.handle(MarkerEvent(Marker("step-start", {"step": "build", "index": 2, "total": 5})))
    r.handle(MarkerEvent(Marker("step-end", {"step": "build", "status": "ok", "exitCode": 0, "duration": 12.34})))
    r.handle(MarkerEvent(Marker("step-end", {"step": "beforeDeploy:check", "status": "failed", "exitCode": 3, "duration": 0.5})))
    assert text(c).splitlines() == [
        "▸ build (2/5)",
        "✓ build (12s)",
        "✗ beforeDeploy:check failed (exit 3) after 0.5s",
    ]
    assert "::cbdeploy::" not in text(c)


def test_failed_phase_is_shown_with_its_context() -> None:
    c = console()
    r = Renderer(c)
    failed = Phase("BUILD", "FAILED", None, None, 3, (("COMMAND_EXECUTION_ERROR", "exit status 3"),))
    r.handle(PhaseChanged(build("FAILED", failed), failed))
    assert text(c) == "✗ BUILD              3.0s  FAILED\n"


def test_failure_outcome_names_phase_step_and_where_the_log_is() -> None:
    c = console()
    Renderer(c).outcome(BuildOutcome(
        "cbdeploy-app-dev:42", "FAILED", 1, duration=75.0, failed_phase="BUILD",
        failed_phase_status="FAILED", failed_phase_message="Error while executing command: exit status 3",
        failed_step="beforeDeploy:check", failed_step_exit=3, region="eu-west-1",
    ))
    out = text(c)
    assert "✗ Deploy failed after 1m 15s" in out
    # The step is the reason; CodeBuild's context would only quote the runner's command.
    assert "Step beforeDeploy:check failed (exit 3)" in out
    assert "  Phase BUILD: FAILED\n" in out
    assert "Error while executing command" not in out
    assert "cbdeploy logs cbdeploy-app-dev:42 --region eu-west-1" in out


def test_local_failure_offers_no_logs_command_for_a_build_that_ends_with_the_process() -> None:
    c = console()
    r = Renderer(c, place=Place("eu-west-1", True))
    r.handle(DeployStarting("app", "dev", "cbdeploy-app-dev", "id"))
    r.outcome(BuildOutcome("cbdeploy-app-dev:42", "FAILED", 1, duration=3.0, region="eu-west-1"))
    assert "✗ Deploy failed after 3.0s" in text(c)
    assert "cbdeploy logs" not in text(c)


def test_logs_does_not_point_at_itself() -> None:
    c = console()
    Renderer(c, noun="Build", log_hint=False).outcome(
        BuildOutcome("cbdeploy-app-dev:42", "FAILED", 1, duration=3.0, region="eu-west-1")
    )
    assert "✗ Build failed after 3.0s" in text(c) and "cbdeploy logs" not in text(c)


def test_failure_outcome_without_a_step_gives_the_phase_context() -> None:
    """A custom buildspec (no runner): CodeBuild's context message is all there is."""
    c = console()
    Renderer(c).outcome(BuildOutcome(
        "cbdeploy-app-dev:42", "FAILED", 1, duration=3.0, failed_phase="INSTALL",
        failed_phase_status="FAILED", failed_phase_message="Error while executing command: make. Reason: exit status 2",
        region="eu-west-1",
    ))
    assert "  Phase INSTALL: FAILED - Error while executing command: make. Reason: exit status 2\n" in text(c)


def test_a_phase_is_named_above_its_lines_only_when_it_has_some() -> None:
    c = console()
    r = Renderer(c)
    r.handle(PhaseChanged(build(), Phase("BUILD", None, None, None, None, ())))
    r.handle(MarkerEvent(Marker("pipeline-end", {"status": "ok"})))
    r.handle(PhaseChanged(build(), Phase("BUILD", "SUCCEEDED", None, None, 12, ())))
    for name in ("POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING"):
        r.handle(PhaseChanged(build(), Phase(name, None, None, None, None, ())))
    r.handle(LogLine(3, "[Container] 2026/11/28 02:40:03.1 Running command x"))  # hidden
    failed = Phase("POST_BUILD", "FAILED", None, None, 1, (("X", "y"),))
    r.handle(PhaseChanged(build("FAILED", failed), failed))
    r.handle(PhaseChanged(build(), Phase("UPLOAD_ARTIFACTS", None, None, None, None, ())))
    r.handle(LogLine(4, "uploading"))
    assert text(c).splitlines() == [
        "✓ BUILD               12s",
        "✗ POST_BUILD         1.0s  FAILED",
        "· UPLOAD_ARTIFACTS",
        "uploading",
    ]


def test_success_outcome_lists_outputs() -> None:
    c = console()
    Renderer(c).outcome(BuildOutcome(
        "b:1", "SUCCEEDED", 0, duration=47.0, outputs={"url": "https://x.example", "n": 3},
    ))
    lines = text(c).splitlines()
    assert "✓ Deploy succeeded in 47s" in lines
    assert lines[-3:] == ["Outputs:", "  url: https://x.example", "  n:   3"]


def test_detach_prints_how_to_reattach_and_stop() -> None:
    c = console()
    Renderer(c, place=Place("eu-west-1")).handle(Detached("cbdeploy-app-dev:42", interrupted=True))
    out = text(c)
    assert "cbdeploy logs cbdeploy-app-dev:42 --follow --region eu-west-1" in out
    assert "cbdeploy stop cbdeploy-app-dev:42 --region eu-west-1" in out


def test_header_and_packaging_with_secret_warning(tmp_path: Path) -> None:
    c = console()
    r = Renderer(c, place=Place("us-east-1"))
    r.handle(DeployStarting("my-api", "dev", "cbdeploy-my-api-dev", "id"))
    r.handle(FilesSelected(Selection(tmp_path, (), skipped_repos=("vendor/lib",), secrets=(".env",))))
    r.handle(ArchiveBuilt(ArchiveResult(tmp_path / "a.zip", "ab" * 32, 1200, 3, 4000), 0.25, None))
    out = text(c)
    assert out.startswith("cbdeploy: Deploy\n")
    assert "Stage:    dev" in out and "Region:   us-east-1" in out
    assert "1 file looks like a secret and will be uploaded: .env" in out
    assert "vendor/lib" in out
    assert "Packaged 3 files (4.0 kB, zip 1.2 kB)" in out


def test_confirm_without_a_terminal_refuses_with_a_hint() -> None:
    with pytest.raises(UsageError) as caught:
        confirm(console(), "Deploy?", stdin=io.StringIO("y\n"))
    assert "--yes" in (caught.value.hint or "")


@pytest.mark.parametrize(("seconds", "shown"), [(0.25, "0.2s"), (12.3, "12s"), (75, "1m 15s"), (3725, "1h 02m")])
def test_durations(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "expected"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_confirm_on_a_terminal_asks(answer: str, expected: bool) -> None:
    c = console()
    assert confirm(c, "Deploy app to stage production?", stdin=FakeTerminal(answer)) is expected
    assert "Deploy app to stage production?" in text(c)


def test_upload_bar_on_a_terminal_then_one_summary_line() -> None:
    from cbdeploy.client.deploy.events import UploadDone, UploadProgress, UploadStarting
    from cbdeploy.client.deploy.upload import UploadResult

    c = Console(file=io.StringIO(), width=100, force_terminal=True)
    r = Renderer(c)
    r.handle(UploadStarting("sources/app/x.zip", 30_000_000))
    r.handle(UploadProgress(15_000_000, 30_000_000))
    r.handle(UploadDone(UploadResult("b", "sources/app/x.zip", False, 30_000_000), 30_000_000, 2.0))
    out = text(c)
    assert "Uploading" in out and "/30.0 MB" in out  # the bar showed bytes
    assert out.rstrip().endswith("Uploaded 30.0 MB in 2.0s (15.0 MB/s)")


def test_an_upload_over_in_a_blink_has_no_rate() -> None:
    from cbdeploy.client.deploy.events import UploadDone
    from cbdeploy.client.deploy.upload import UploadResult

    c = console()
    Renderer(c).handle(UploadDone(UploadResult("b", "k", False, 10_800), 10_800, 0.02))
    assert text(c) == "✓ Uploaded 10.8 kB in 0.0s\n"


def test_a_resumed_upload_says_what_it_kept() -> None:
    from cbdeploy.client.deploy.events import UploadDone
    from cbdeploy.client.deploy.upload import UploadResult

    c = console()
    result = UploadResult("b", "sources/app/x.zip", False, sent_bytes=10_000_000, reused_parts=2)
    Renderer(c).handle(UploadDone(result, 30_000_000, 2.0))
    assert text(c) == "✓ Uploaded 30.0 MB in 2.0s (5.0 MB/s), resumed: 2 parts were already there\n"


def test_already_uploaded_archive_is_skipped_with_a_line() -> None:
    from cbdeploy.client.deploy.events import UploadDone, UploadStarting
    from cbdeploy.client.deploy.upload import UploadResult

    c = console()
    r = Renderer(c)
    r.handle(UploadStarting("sources/app/x.zip", 10))
    r.handle(UploadDone(UploadResult("b", "sources/app/x.zip", True), 10, 0.01))
    assert text(c) == "✓ Archive already uploaded, skipping (sources/app/x.zip)\n"


def test_a_step_killed_by_our_stop_reads_as_stopped_not_failed() -> None:
    from cbdeploy.client.watch.events import StopRequested

    c = console()
    r = Renderer(c)
    r.handle(StopRequested("b:1"))
    r.handle(MarkerEvent(Marker("step-end", {"step": "deploy", "status": "failed", "exitCode": 143, "duration": 2.0})))
    assert text(c).splitlines()[-1] == "■ deploy stopped after 2.0s"


def test_custom_buildspec_failure_shows_the_phase_end_in_place_once() -> None:
    """Without the runner, CodeBuild's own lines say what failed; each is said once."""
    c = console()
    r = Renderer(c)
    for line in (
        "building",
        "[Container] 2026/11/28 03:58:52.133035 Command did not exit successfully exit 4 exit status 4",
        "[Container] 2026/11/28 03:58:52.133208 Phase complete: BUILD State: FAILED",
        "[Container] 2026/11/28 03:58:52.133245 Phase context status code: COMMAND_EXECUTION_ERROR "
        "Message: Error while executing command: exit 4. Reason: exit status 4",
        "[Container] 2026/11/28 03:58:52.140000 Phase complete: POST_BUILD State: SUCCEEDED",
        "post",
    ):
        if "Phase complete: BUILD" in line:  # the follower's event from this line, first
            r.handle(PhaseChanged(build(), Phase("BUILD", "FAILED", None, None, 1, ())))
        r.handle(LogLine(0, line))
    failed = Phase("BUILD", "FAILED", None, None, 1, (("COMMAND_EXECUTION_ERROR", "exit 4"),))
    r.handle(PhaseChanged(build("FAILED", failed), failed))  # BatchGetBuilds, later
    assert text(c).splitlines() == [
        "building",
        "[Container] 2026/11/28 03:58:52.133035 Command did not exit successfully exit 4 exit status 4",
        "✗ BUILD              1.0s  FAILED",
        "post",
    ]


def test_a_live_bar_leaves_stdout_and_stderr_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """With --json the console is stderr and stdout is the JSON's alone, bar or no bar."""
    import sys

    from cbdeploy.client.deploy.events import UploadDone, UploadStarting
    from cbdeploy.client.deploy.upload import UploadResult

    c = Console(file=io.StringIO(), width=80, force_terminal=True, force_interactive=True)
    r = Renderer(c)
    r.handle(UploadStarting("k", 100))
    print('{"buildId": null}')
    print("a log record", file=sys.stderr)
    r.handle(UploadDone(UploadResult("b", "k", False, 100), 100, 0.1))
    captured = capsys.readouterr()
    assert captured.out == '{"buildId": null}\n'
    assert captured.err == "a log record\n"
    assert "buildId" not in text(c) and "log record" not in text(c)


def test_logs_header_names_the_build_its_state_commit_and_console() -> None:
    began = datetime(2026, 11, 28, 5, 0, 0, tzinfo=timezone.utc)
    running = replace(
        build(), start=began, environment=(("CBDEPLOY_GIT_COMMIT", "0123456789abcdef"),
                                           ("CBDEPLOY_GIT_DIRTY", "true")),
    )
    c = console()
    renderer = Renderer(c, noun="Build", log_hint=False,
                        now=lambda: began + timedelta(minutes=2, seconds=10),
                        place=Place("eu-west-1"))
    renderer.handle(Attached(running, following=True))
    started = clock_time(began)
    assert text(c) == (
        "cbdeploy: Build cbdeploy-app-dev:42\n"
        "\n"
        "  Project:  cbdeploy-app-dev\n"
        "  Region:   eu-west-1\n"
        f"  Status:   IN_PROGRESS, started {started} (2m 10s ago)\n"
        "  Commit:   0123456789, with uncommitted changes\n"
        "  Console:  https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/projects/"
        "cbdeploy-app-dev/build/cbdeploy-app-dev%3A42/?region=eu-west-1\n"
        "  Ctrl-C leaves the build running.\n"
        "\n"
    )


def test_logs_header_of_an_ended_local_build_says_how_long_it_took() -> None:
    began = datetime(2026, 11, 28, 5, 0, 0, tzinfo=timezone.utc)
    ended = replace(build("FAILED"), start=began, end=began + timedelta(seconds=75))
    c = console()
    Renderer(c, noun="Build", place=Place("us-east-1", True)).handle(
        Attached(ended, following=False))
    started = clock_time(began)
    assert text(c).splitlines()[2:6] == [
        "  Project:  cbdeploy-app-dev",
        "  Region:   us-east-1",
        f"  Status:   FAILED, started {started}, took 1m 15s",
        "  Endpoint: local emulator (--local)",
    ]


def test_a_step_the_runner_reports_stopped_reads_as_stopped_without_our_stop() -> None:
    """A stop from elsewhere (the console, 'cbdeploy stop'): the runner's word is enough."""
    c = console()
    Renderer(c).handle(MarkerEvent(Marker(
        "step-end", {"step": "deploy", "status": "stopped", "exitCode": 143, "duration": 2.0})))
    assert text(c).splitlines() == ["■ deploy stopped after 2.0s"]


def test_signals_say_what_happens_to_the_build() -> None:
    from cbdeploy.client.watch.events import StopRequested, StopScheduled

    c = console()
    r = Renderer(c, place=Place("eu-west-1"))
    r.handle(StopScheduled("b:1", 3.0))
    r.handle(StopRequested("b:1", "SIGTERM", 6.0))
    r.handle(Detached("b:1", True, stop_requested=True, waited=6.0))
    lines = text(c).splitlines()
    assert lines[:3] == [
        "",
        "! Build b:1 will be stopped in 3 seconds. Press Ctrl-C again to leave it running.",
        "! SIGTERM: stopping build b:1, waiting up to 6.0s for it to end…",
    ]
    assert lines[3] == "! Build b:1 was asked to stop and had not ended after 6.0s; it may still be running."
    assert "cbdeploy logs b:1 --follow --region eu-west-1" in text(c)


def test_an_outcome_interrupted_by_sigterm_names_it() -> None:
    import signal

    c = console()
    Renderer(c).outcome(BuildOutcome("b:1", "STOPPED", 143, duration=4.0, interrupted=True,
                                     signal=signal.SIGTERM))
    assert "! Interrupted by SIGTERM. Build b:1 ended STOPPED after 4.0s." in text(c).splitlines()


def test_detach_hints_follow_the_endpoint() -> None:
    """A standing emulator: the hints carry --local. One in this process: no hint could work."""
    from cbdeploy.client.aws.endpoint import Endpoint
    from cbdeploy.client.deploy.events import BuildStarted

    standing = Endpoint("http://127.0.0.1:4566", "standing")
    c = console()
    r = Renderer(c, place=Place("eu-west-1", True, standing))
    r.handle(DeployStarting("app", "dev", "p", "id"))
    r.handle(BuildStarted(build(), following=False))
    r.handle(Detached("p:42", interrupted=False))
    out = text(c)
    assert "Endpoint: http://127.0.0.1:4566 (cbdeploy emulator, --local)" in out
    assert "cbdeploy logs p:42 --follow --region eu-west-1 --local" in out
    assert "cbdeploy stop p:42 --region eu-west-1 --local" in out
    assert "console.aws" not in out

    c = console()
    r = Renderer(c, place=Place("eu-west-1", True, Endpoint("http://127.0.0.1:5", "in-process")))
    r.handle(DeployStarting("app", "dev", "p", "id"))
    r.handle(Detached("p:42", interrupted=True))
    out = text(c)
    assert "cbdeploy logs" not in out and "ends with it" in out and "cbdeploy emulator" in out


def test_a_custom_endpoint_is_shown_and_gets_no_console_link() -> None:
    from cbdeploy.client.aws.endpoint import Endpoint
    from cbdeploy.client.deploy.events import BuildStarted

    c = console()
    custom = Endpoint("http://10.0.0.5:4566", "custom")
    r = Renderer(c, place=Place("eu-west-1", False, custom))
    r.handle(DeployStarting("app", "dev", "p", "id"))
    r.handle(BuildStarted(build()))
    r.outcome(BuildOutcome("p:42", "FAILED", 1, region="eu-west-1"))
    out = text(c)
    assert "Endpoint: http://10.0.0.5:4566" in out
    assert "console.aws" not in out and "runs at http://10.0.0.5:4566" in out
    assert "full log: cbdeploy logs p:42 --region eu-west-1\n" in out


def test_a_lost_build_of_a_standing_emulator_is_re_attached_with_local() -> None:
    from cbdeploy.client.aws.endpoint import Endpoint
    from cbdeploy.client.watch.outcome import UNKNOWN

    c = console()
    r = Renderer(c, place=Place("eu-west-1", True, Endpoint("http://127.0.0.1:4566", "standing")))
    r.handle(DeployStarting("app", "dev", "p", "id"))
    r.outcome(BuildOutcome("p:42", UNKNOWN, 3, region="eu-west-1", lost="connection refused"))
    assert "cbdeploy logs p:42 --follow --region eu-west-1 --local" in text(c)
