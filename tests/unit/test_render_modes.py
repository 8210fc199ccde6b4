"""A whole deploy rendered at width 80, compared as exact text in each output mode.

One scripted run of events (header, packaging, bootstrap, upload, the build's
phases, pipeline steps, remote output holding rich markup, summary) goes to a
console writing to a ``StringIO`` at width 80, made by ``client.output.console.make_console``
from the environment given (as the commands make theirs):

* plain (not a terminal): plain lines, no ANSI code at all;
* terminal, not interactive (``FORCE_COLOR`` in a CI log): the same lines in
  colour, and no progress bar;
* terminal and interactive (a real TTY): progress bars while packaging and
  uploading and a spinner while a phase is quiet, all gone afterwards: what
  is left on the screen is the same lines.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console

from cbdeploy.client.aws.results import Build, Phase
from cbdeploy.client.deploy import events as d
from cbdeploy.client.deploy.upload import UploadResult
from cbdeploy.client.infra.model import Infrastructure
from cbdeploy.client.output.console import make_console
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.terminal import Renderer
from cbdeploy.client.packaging import ArchiveResult, Selection
from cbdeploy.client.packaging.gitcmd import GitInfo
from cbdeploy.client.watch.events import BuildFinished, LogLine, MarkerEvent, PhaseChanged
from cbdeploy.client.watch.markers import Marker
from cbdeploy.client.watch.outcome import BuildOutcome
from tests.factories import make_build

BUILD_ID = "cbdeploy-my-api-dev:0b6f7b2e-5d1c-4f0e-9a55-2d1c6a7e9f10"
T0 = datetime(2026, 11, 28, 4, 0, 0, tzinfo=timezone.utc)
MARKUP = "[bold]x[/bold] [/] [link=y]"
CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def phase(name: str, start: float, end: float | None, status: str | None = "SUCCEEDED") -> Phase:
    return Phase(
        name, status if end is not None else None, T0 + timedelta(seconds=start),
        None if end is None else T0 + timedelta(seconds=end),
        None if end is None else int(end - start), (),
    )


PHASES = (
    phase("SUBMITTED", 0.0, 0.1),
    phase("QUEUED", 0.1, 1.1),
    phase("PROVISIONING", 1.1, 13.4),
    phase("DOWNLOAD_SOURCE", 13.4, 15.0),
    phase("INSTALL", 15.0, 16.2),
    phase("PRE_BUILD", 16.2, 16.2),
    phase("BUILD", 16.2, 41.9),
    phase("POST_BUILD", 41.9, 42.0),
    phase("UPLOAD_ARTIFACTS", 42.0, 42.1),
    phase("FINALIZING", 42.1, 44.0),
)


def build(status: str = "IN_PROGRESS", phases: tuple[Phase, ...] = ()) -> Build:
    ended = T0 + timedelta(seconds=47) if status != "IN_PROGRESS" else None
    return make_build(status, id=BUILD_ID, number=3, start=T0, end=ended, phases=phases,
                      log_group="/cbdeploy/my-api", log_stream="dev/0b6f")


def step(event: str, **data: object) -> MarkerEvent:
    return MarkerEvent(Marker(event, data))


def container(text: str) -> LogLine:
    return LogLine(0, f"[Container] 2026/11/28 04:00:16.200000 {text}")


def deploy_events(tmp_path: Path) -> list[d.Event]:
    b = build()
    by_name = {p.name: p for p in PHASES}

    def start(name: str) -> PhaseChanged:
        began = by_name[name].start
        assert began is not None
        return PhaseChanged(b, phase(name, (began - T0).total_seconds(), None))

    def end(name: str) -> PhaseChanged:
        return PhaseChanged(b, by_name[name])

    size = 1_234_567
    return [
        d.DeployStarting("my-api", "dev", "cbdeploy-my-api-dev", "inv-1", "123456789012"),
        d.FilesSelected(Selection(tmp_path, ())),
        d.PackagingProgress(1_500_000, 4_000_000),
        d.PackagingProgress(4_000_000, 4_000_000),
        d.ArchiveBuilt(ArchiveResult(tmp_path / "a.zip", "ab" * 32, size, 117, 4_000_000), 0.8,
                       None),
        d.BootstrapStep("Create CodeBuild project cbdeploy-my-api-dev"),
        d.BootstrapDone(Infrastructure("bucket", "role", "/cbdeploy/my-api",
                                       "cbdeploy-my-api-dev", ("project",))),
        d.UploadStarting("sources/my-api/abab.zip", size),
        d.UploadProgress(500_000, size),
        d.UploadProgress(size, size),
        d.UploadDone(UploadResult("bucket", "sources/my-api/abab.zip", False, size), size, 2.0),
        d.BuildStarted(b),
        *(end(name) for name in ("SUBMITTED", "QUEUED")),
        start("PROVISIONING"),  # (nothing of its own to show: no name line)
        end("PROVISIONING"),
        end("DOWNLOAD_SOURCE"),
        start("INSTALL"),
        container("Entering phase INSTALL"),
        LogLine(0, "cbdeploy: running the pipeline with Python 3.12.1 (/usr/bin/python3)"),
        end("INSTALL"),
        container("Phase complete: INSTALL State: SUCCEEDED"),
        start("PRE_BUILD"),
        end("PRE_BUILD"),
        start("BUILD"),
        container("Running command python3 -m runner"),
        step("step-start", step="build", index=1, total=2),
        LogLine(0, "$ ./make"),
        LogLine(0, MARKUP),
        LogLine(0, "  indented :smile: [red]"),
        step("step-end", step="build", status="ok", exitCode=0, duration=20.25),
        step("step-start", step="deploy", index=2, total=2),
        LogLine(0, "$ ./publish"),
        step("step-end", step="deploy", status="ok", exitCode=0, duration=4.5),
        step("outputs", outputs={"url": "https://api.example.test", "count": 2}),
        step("pipeline-end", status="ok", failedStep=None, exitCode=0),
        end("BUILD"),
        container("Phase complete: BUILD State: SUCCEEDED"),
        start("POST_BUILD"),
        end("POST_BUILD"),
        start("UPLOAD_ARTIFACTS"),
        end("UPLOAD_ARTIFACTS"),
        end("FINALIZING"),
        BuildFinished(build("SUCCEEDED", PHASES)),
    ]


OUTCOME = BuildOutcome(
    BUILD_ID, "SUCCEEDED", 0, duration=47.0, region="us-east-1", phases=PHASES,
    outputs={"url": "https://api.example.test", "count": 2},
)

EXPECTED = f"""\
cbdeploy: Deploy

  Stage:    dev
  Region:   us-east-1
  Account:  123456789012
  Project:  my-api (cbdeploy-my-api-dev)

✓ Packaged 117 files (4.0 MB, zip 1.2 MB) in 0.8s
  Create CodeBuild project cbdeploy-my-api-dev
✓ Infrastructure updated (1 change)
✓ Uploaded 1.2 MB in 2.0s (617.3 kB/s)
✓ Started build {BUILD_ID}
  Console: https://us-east-1.console.aws.amazon.com/codesuite/codebuild/projects/cbdeploy-my-api-dev/build/cbdeploy-my-api-dev%3A0b6f7b2e-5d1c-4f0e-9a55-2d1c6a7e9f10/?region=us-east-1
  Ctrl-C stops the build; press it twice to leave the build running.
✓ SUBMITTED          0.1s
✓ QUEUED             1.0s
✓ PROVISIONING        12s
✓ DOWNLOAD_SOURCE    1.6s
· INSTALL
cbdeploy: running the pipeline with Python 3.12.1 (/usr/bin/python3)
✓ INSTALL            1.2s
✓ PRE_BUILD          0.0s
· BUILD
▸ build (1/2)
$ ./make
{MARKUP}
  indented :smile: [red]
✓ build (20s)
▸ deploy (2/2)
$ ./publish
✓ deploy (4.5s)
✓ BUILD               26s
✓ POST_BUILD         0.1s
✓ UPLOAD_ARTIFACTS   0.1s
✓ FINALIZING         1.9s

Phases:
  SUBMITTED          0.1s
  QUEUED             1.0s
  PROVISIONING        12s
  DOWNLOAD_SOURCE    1.6s
  INSTALL            1.2s
  PRE_BUILD          0.0s
  BUILD               26s
  POST_BUILD         0.1s
  UPLOAD_ARTIFACTS   0.1s
  FINALIZING         1.9s

✓ Deploy succeeded in 47s

Outputs:
  url:   https://api.example.test
  count: 2
"""


def render(console: Console, events: list[d.Event], outcome: BuildOutcome) -> str:
    renderer = Renderer(console, place=Place("us-east-1"))
    for event in events:
        renderer.handle(event)
    renderer.outcome(outcome)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def console(environ: dict[str, str], *, tty: bool = False) -> Console:
    return make_console(file=FakeTerminal() if tty else io.StringIO(), environ=environ, width=80)


def strip_ansi(text: str) -> str:
    return CSI.sub("", text)


def screen(raw: str) -> str:
    """What a terminal shows after ``raw``: cursor moves and erasures applied, colours dropped."""
    lines, row, col = [""], 0, 0
    at = 0
    while at < len(raw):
        control = CSI.match(raw, at)
        if control is not None:
            args, command = control.groups()
            if command == "A":
                row = max(0, row - int(args or "1"))
            elif command == "K":
                lines[row] = ""
            elif command not in "mhl":  # colours, cursor shown/hidden
                raise AssertionError(f"unexpected control sequence {control.group()!r}")
            at = control.end()
            continue
        char = raw[at]
        if char == "\n":
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif char == "\r":
            col = 0
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + char + line[col + 1 :]
            col += 1
        at += 1
    return "\n".join(lines)


def test_plain_mode_is_plain_lines_and_markup_in_remote_lines_comes_out_unchanged(
    tmp_path: Path,
) -> None:
    out = render(console({"TERM": "xterm"}), deploy_events(tmp_path), OUTCOME)
    assert out == EXPECTED
    assert "\x1b" not in out


def test_terminal_mode_is_the_same_lines_in_colour_without_bars(tmp_path: Path) -> None:
    """A terminal that is not interactive (FORCE_COLOR in a CI log): colour, no redraws."""
    out = render(console({"FORCE_COLOR": "1"}), deploy_events(tmp_path), OUTCOME)
    assert "\x1b[32m✓ \x1b[0m" in out  # coloured ticks
    assert strip_ansi(out) == EXPECTED
    # The remote line is not styled at all: its characters come as they are.
    assert f"\n{MARKUP}\n" in out


def test_no_color_keeps_the_text_and_drops_the_colours(tmp_path: Path) -> None:
    out = render(console({"FORCE_COLOR": "1", "NO_COLOR": "1"}), deploy_events(tmp_path), OUTCOME)
    assert "\x1b[32m" not in out and "\x1b[31m" not in out
    assert strip_ansi(out) == EXPECTED


def test_interactive_terminal_shows_bars_while_working_and_leaves_the_same_lines(
    tmp_path: Path,
) -> None:
    raw = render(console({"TERM": "xterm"}, tty=True), deploy_events(tmp_path), OUTCOME)
    plain = strip_ansi(raw)
    assert re.search(r"Packaging .*[\d.]+/4\.0 MB", plain)  # bytes done / total, not files
    assert re.search(r"Uploading .*/1\.2 MB", plain)  # bytes, then rate and time left
    assert re.search(r"⠋ PROVISIONING \d+\.\ds", plain)  # a quiet phase: a spinner and its time
    assert screen(raw) == AT_A_TERMINAL


def without_phases_block(expected: str) -> str:
    head, rest = expected.split("\nPhases:\n", 1)
    return head + "\n" + rest.split("\n\n", 1)[1]


# At a live terminal the phases' lines are just above: no "Phases:" block repeats them.
AT_A_TERMINAL = without_phases_block(EXPECTED)


def test_at_a_terminal_the_summary_lists_only_phases_not_shown_above() -> None:
    """Each phase once on the screen; a phase the follow did not show is still listed."""
    c = console({"TERM": "xterm"}, tty=True)
    b = build()
    events: list[d.Event] = [PhaseChanged(b, p) for p in PHASES[:-1]]  # FINALIZING not seen
    out = screen(render(c, events, OUTCOME))
    assert out.count("PROVISIONING") == 1 and out.count("FINALIZING") == 1
    assert "Phases:\n  FINALIZING         1.9s\n" in out
    # A log keeps the whole block: its end is what a reader of a CI log looks at.
    plain = render(console({}), events, OUTCOME)
    assert plain.count("PROVISIONING") == 2 and "Phases:\n  SUBMITTED" in plain


FAILED_PHASES = (
    *PHASES[:6],
    phase("BUILD", 16.2, 19.7, "FAILED"),
    phase("POST_BUILD", 19.7, 19.8),
    phase("UPLOAD_ARTIFACTS", 19.8, 19.9),
    phase("FINALIZING", 19.9, 21.0),
)


def failing_events() -> list[object]:
    b = build()
    return [
        PhaseChanged(b, phase("BUILD", 16.2, None)),
        step("step-start", step="build", index=1, total=2),
        LogLine(0, "error: [/] missing"),
        step("step-end", step="build", status="failed", exitCode=3, duration=3.1),
        step("pipeline-end", status="failed", failedStep="build", exitCode=3),
        PhaseChanged(b, FAILED_PHASES[6]),
        *(PhaseChanged(b, p) for p in FAILED_PHASES[7:]),
        BuildFinished(build("FAILED", FAILED_PHASES)),
    ]


FAILED_OUTCOME = BuildOutcome(
    BUILD_ID, "FAILED", 1, duration=21.0, region="us-east-1", phases=FAILED_PHASES,
    failed_phase="BUILD", failed_phase_status="FAILED",
    failed_phase_message="Error while executing command: python3 -m runner. Reason: exit status 3",
    failed_step="build", failed_step_exit=3,
)

FAILED_EXPECTED = f"""\
· BUILD
▸ build (1/2)
error: [/] missing
✗ build failed (exit 3) after 3.1s
✗ BUILD              3.5s  FAILED
✓ POST_BUILD         0.1s
✓ UPLOAD_ARTIFACTS   0.1s
✓ FINALIZING         1.1s

Phases:
  SUBMITTED          0.1s
  QUEUED             1.0s
  PROVISIONING        12s
  DOWNLOAD_SOURCE    1.6s
  INSTALL            1.2s
  PRE_BUILD          0.0s
  BUILD              3.5s  FAILED
  POST_BUILD         0.1s
  UPLOAD_ARTIFACTS   0.1s
  FINALIZING         1.1s

✗ Deploy failed after 21s
  Step build failed (exit 3)
  Phase BUILD: FAILED
  full log: cbdeploy logs {BUILD_ID} --region us-east-1
"""


@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "terminal"])
def test_a_failed_build_in_both_modes(terminal: bool) -> None:
    out = render(console({"FORCE_COLOR": "1"} if terminal else {}), failing_events(),
                 FAILED_OUTCOME)
    assert strip_ansi(out) == FAILED_EXPECTED
    assert ("\x1b[31m" in out) is terminal


def test_confirmation_shows_what_is_about_to_happen(tmp_path: Path) -> None:
    c = console({})
    archive = ArchiveResult(tmp_path / "a.zip", "ab" * 32, 1_234_567, 117, 4_000_000)
    git = GitInfo("0123456789abcdef0123456789abcdef01234567", "main", dirty=True)
    Renderer(c).handle(
        d.ConfirmationNeeded("my-api", "production", "eu-west-1", "123456789012", archive, git)
    )
    assert c.file.getvalue() == (  # type: ignore[attr-defined]
        "\n"
        "Stage production asks before deploying. About to deploy:\n"
        "  Stage:    production\n"
        "  Region:   eu-west-1\n"
        "  Account:  123456789012\n"
        "  Archive:  1.2 MB (117 files)\n"
        "  Commit:   0123456789 on main, with uncommitted changes\n"
    )


@pytest.mark.parametrize(
    ("git", "shown"),
    [
        (None, "none (not a git work tree)"),
        (GitInfo(None, "main", dirty=True), "no commit yet on main, with uncommitted changes"),
        (GitInfo("feedc0ffee1234", None, dirty=False), "feedc0ffee"),
    ],
)
def test_confirmation_commit_line(tmp_path: Path, git: GitInfo | None, shown: str) -> None:
    c = console({})
    archive = ArchiveResult(tmp_path / "a.zip", "ab" * 32, 900, 1, 100)
    Renderer(c).handle(d.ConfirmationNeeded("a", "prod", "eu-west-1", "1", archive, git))
    lines = c.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[-1] == f"  Commit:   {shown}"
    assert lines[-2] == "  Archive:  900 bytes (1 file)"


def test_local_build_says_local_emulator_instead_of_a_console_link() -> None:
    c = console({})
    Renderer(c, place=Place("us-east-1", True)).handle(d.BuildStarted(build(), following=False))
    assert c.file.getvalue() == (  # type: ignore[attr-defined]
        f"✓ Started build {BUILD_ID}\n"
        "  Console: none, the build runs in the local emulator\n"
    )


@pytest.mark.parametrize("environ", [{"TERM": "dumb"}, {"TERM": "xterm", "GITHUB_ACTIONS": "true"}],
                         ids=["dumb", "github-actions"])
def test_a_tty_that_cannot_redraw_gets_no_bars(tmp_path: Path, environ: dict[str, str]) -> None:
    raw = render(console(environ, tty=True), deploy_events(tmp_path), OUTCOME)
    assert "Packaging" not in raw and "Uploading" not in raw and "⠋" not in raw
    assert strip_ansi(raw) == EXPECTED
