"""GitHub Actions output: groups, the error annotation, the step summary, and remote text
kept from becoming workflow commands. Rendered into ``Console(file=StringIO(), width=80)``.

Most tests wrap a small stand-in renderer whose lines are fixed here, so the
expected text is exact and this wrapper's own lines are what is tested; one
test wraps the real ``client.output.terminal.Renderer``.
"""

from __future__ import annotations

import io
import signal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cbdeploy.client.aws.results import Build, Phase
from cbdeploy.client.errors import ConfigError
from cbdeploy.client.output.github import GithubRenderer, escape_data, escape_property
from cbdeploy.client.output.markdown import duration, markdown_summary, md
from cbdeploy.client.output.report import ReportCollector
from cbdeploy.client.output.session import OutputSession
from cbdeploy.client.output.terminal import Renderer
from cbdeploy.client.watch.events import BuildFinished, LogLine, MarkerEvent, PhaseChanged
from cbdeploy.client.watch.markers import Marker
from cbdeploy.client.watch.outcome import BuildOutcome, StepResult
from tests.factories import make_build, make_phase
from tests.github_runner import workflow_commands

TOKEN = "T0K3N"
BUILD_ID = "cbdeploy-site-dev:0f6c2a4e"


def console() -> Console:
    return Console(file=io.StringIO(), width=80)


def text(c: Console) -> str:
    file = c.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


class Inner:
    """Stands in for client.output.terminal.Renderer: one fixed line per call."""

    def __init__(self, c: Console) -> None:
        self.console = c

    def locate(self, place: object) -> None:
        pass

    def handle(self, event: object) -> None:
        if isinstance(event, LogLine):
            self.console.out(event.message, highlight=False)
        elif isinstance(event, PhaseChanged):
            self.console.out(f"(phase {event.phase.name} {event.phase.status})", highlight=False)
        else:
            self.console.out(f"({type(event).__name__})", highlight=False)

    def close(self) -> None:
        self.console.out("(close)")

    def outcome(self, outcome: BuildOutcome) -> None:
        self.console.out(f"(outcome {outcome.status})", highlight=False)

    def still_running(self, outcome: BuildOutcome) -> None:
        self.console.out("(still running)")

    def interrupted_before_start(self) -> None:
        self.console.out("(interrupted)")


def build(status: str = "IN_PROGRESS") -> Build:
    return make_build(status, id=BUILD_ID, log_group=None, log_stream=None)


def phase(name: str, status: str | None = None, duration: int | None = None) -> PhaseChanged:
    return PhaseChanged(build(), make_phase(name, status, duration=duration))


FAILED = BuildOutcome(
    build_id=BUILD_ID, status="FAILED", exit_code=1, duration=12.5,
    failed_phase="BUILD", failed_phase_status="FAILED",
    failed_phase_message="Error while executing command: runner. Reason: exit status 3",
    failed_step="build", failed_step_exit=3, region="us-east-1",
    phases=(
        Phase("SUBMITTED", "SUCCEEDED", None, None, 0, ()),
        Phase("INSTALL", "SUCCEEDED", None, None, 2, ()),
        Phase("BUILD", "FAILED", None, None, 9, ()),
        Phase("COMPLETED", None, None, None, None, ()),
    ),
    steps=(StepResult("test", "ok", 1.25, 0, 1, 2), StepResult("build", "failed", 7.5, 3, 2, 2)),
)

# A build's events as the follower yields them: a phase with no lines, starts
# from the log, late ends from BatchGetBuilds, a late start.
EVENTS: list[object] = [
    phase("PROVISIONING"),
    phase("PROVISIONING", "SUCCEEDED", 0),  # nothing to show: no empty group
    phase("DOWNLOAD_SOURCE"),
    LogLine(1, "source line"),
    phase("INSTALL"),
    LogLine(2, "::add-mask::not-a-secret"),
    LogLine(3, "progress ##[set-output name=x;]y"),
    phase("INSTALL", "SUCCEEDED", 2),
    phase("DOWNLOAD_SOURCE", "SUCCEEDED", 0),
    phase("BUILD"),
    phase("PRE_BUILD"),  # late: must not take BUILD's lines into its group
    LogLine(4, "::error::forged by the build"),
    phase("BUILD", "FAILED", 9),
    phase("COMPLETED"),
    BuildFinished(build("FAILED")),
]


def test_phases_become_groups_and_remote_lines_cannot_issue_commands() -> None:
    c = console()
    view = GithubRenderer(Inner(c), c, token=TOKEN)
    view.stop_commands()
    for event in EVENTS:
        view.handle(event)
    view.outcome(FAILED)
    view.finish()
    assert text(c) == (
        "::stop-commands::T0K3N\n"
        "(phase PROVISIONING None)\n"
        "(phase PROVISIONING SUCCEEDED)\n"
        "(phase DOWNLOAD_SOURCE None)\n"
        "::T0K3N::\n"
        "::group::DOWNLOAD_SOURCE\n"  # opened by the phase's first line
        "::stop-commands::T0K3N\n"
        "source line\n"
        "::T0K3N::\n"
        "::endgroup::\n"
        "::stop-commands::T0K3N\n"
        "(phase INSTALL None)\n"
        "::T0K3N::\n"
        "::group::INSTALL\n"
        "::stop-commands::T0K3N\n"
        "::add-mask::not-a-secret\n"
        "progress ##[set-output name=x;]y\n"
        "::T0K3N::\n"
        "::endgroup::\n"  # closed before the phase's end line, which stays in sight
        "::stop-commands::T0K3N\n"
        "(phase INSTALL SUCCEEDED)\n"
        "(phase DOWNLOAD_SOURCE SUCCEEDED)\n"
        "(phase BUILD None)\n"
        "(phase PRE_BUILD None)\n"
        "::T0K3N::\n"
        "::group::BUILD\n"
        "::stop-commands::T0K3N\n"
        "::error::forged by the build\n"
        "::T0K3N::\n"
        "::endgroup::\n"
        "::stop-commands::T0K3N\n"
        "(phase BUILD FAILED)\n"
        "(phase COMPLETED None)\n"
        "(BuildFinished)\n"
        "(outcome FAILED)\n"
        "::T0K3N::\n"
        "::error title=Deploy failed in phase BUILD%2C step build::Step build failed (exit 3)."
        "%0APhase BUILD: FAILED%0ABuild cbdeploy-site-dev:0f6c2a4e FAILED.\n"
        "::stop-commands::T0K3N\n"
        "::T0K3N::\n"
    )
    assert workflow_commands(text(c)) == [
        "::group::DOWNLOAD_SOURCE", "::endgroup::", "::group::INSTALL", "::endgroup::",
        "::group::BUILD", "::endgroup::",
        "::error title=Deploy failed in phase BUILD%2C step build::Step build failed (exit 3)."
        "%0APhase BUILD: FAILED%0ABuild cbdeploy-site-dev:0f6c2a4e FAILED.",
    ]


def test_the_real_renderer_inside_keeps_remote_markup_and_commands_inert() -> None:
    c = console()
    view = GithubRenderer(Renderer(c), c, token=TOKEN)
    view.stop_commands()
    lines = ["::set-env name=PATH::/evil", "[bold]x[/bold] [/] [link=y]", "  ::warning::spaced"]
    view.handle(phase("BUILD"))
    view.handle(MarkerEvent(Marker("step-start", {"step": "build", "index": 1, "total": 1})))
    for number, line in enumerate(lines):
        view.handle(LogLine(number, line))
    view.handle(phase("BUILD", "SUCCEEDED", 1))
    view.outcome(BuildOutcome(BUILD_ID, "SUCCEEDED", 0, region="us-east-1"))
    view.finish()
    out = text(c)
    for line in lines:
        assert line in out.splitlines()  # verbatim, markup and all
    assert workflow_commands(out) == ["::group::BUILD", "::endgroup::"]
    assert out.endswith(f"::{TOKEN}::\n")  # the runner gets its commands back


def test_an_outcome_without_failure_or_a_detached_one_is_not_annotated() -> None:
    for outcome in (
        BuildOutcome(BUILD_ID, "SUCCEEDED", 0),
        BuildOutcome(BUILD_ID, "IN_PROGRESS", 0, detached=True),
    ):
        c = console()
        view = GithubRenderer(Inner(c), c, token=TOKEN)
        view.outcome(outcome)
        assert "::error" not in text(c)
    c = console()
    view = GithubRenderer(Inner(c), c, token=TOKEN, annotate_failure=False, command="logs")
    view.outcome(FAILED)
    assert text(c) == "(outcome FAILED)\n"
    view.error(ConfigError("No build 'x' in us-east-1."))  # the command's own error: said
    assert text(c) == "(outcome FAILED)\n::error title=cbdeploy logs failed::No build 'x' in us-east-1.\n"


def test_command_lines_are_never_wrapped_nor_coloured() -> None:
    c = Console(file=io.StringIO(), width=20, force_terminal=True, color_system="truecolor")
    view = GithubRenderer(Inner(c), c, token=TOKEN)
    view.stop_commands()
    view.handle(phase("BUILD_" + "X" * 40))
    view.handle(LogLine(1, "x"))
    view.annotation("title", "m" * 50)
    view.finish()
    assert text(c) == (
        "::stop-commands::T0K3N\n(phase BUILD_" + "X" * 40 + " None)\n"
        "::T0K3N::\n::group::BUILD_" + "X" * 40 + "\n"
        "::stop-commands::T0K3N\nx\n::T0K3N::\n::endgroup::\n"
        "::error title=title::" + "m" * 50 + "\n::stop-commands::T0K3N\n::T0K3N::\n"
    )


def test_a_stopped_build_annotation_says_so_without_a_phase() -> None:
    c = console()
    view = GithubRenderer(Inner(c), c, token=TOKEN, noun="Build")
    view.outcome(BuildOutcome(BUILD_ID, "STOPPED", 130, interrupted=True))
    assert text(c) == (
        "(outcome STOPPED)\n"
        "::error title=Build stopped::Interrupted with Ctrl-C.%0A"
        "Build cbdeploy-site-dev:0f6c2a4e STOPPED.\n"
    )


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("100% done", "100%25 done", "100%25 done"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("phase: BUILD, step", "phase: BUILD, step", "phase%3A BUILD%2C step"),
        ("%0A stays literal", "%250A stays literal", "%250A stays literal"),
    ],
)
def test_command_data_and_properties_are_escaped_as_the_runner_unescapes(
    raw: str, data: str, prop: str
) -> None:
    assert (escape_data(raw), escape_property(raw)) == (data, prop)


def test_an_annotation_message_cannot_end_the_command_line() -> None:
    c = console()
    view = GithubRenderer(Inner(c), c, token=TOKEN)
    view.annotation("t: 1, 2", "line one\n::error::second\n100%")
    assert text(c) == "::error title=t%3A 1%2C 2::line one%0A::error::second%0A100%25\n"


# ---------------------------------------------------------------------- step summary


def report_of(outcome: BuildOutcome, **context: Any) -> dict[str, Any]:
    collector = ReportCollector(clock=lambda: 0.0)
    collector.context(**context)
    collector.finish(outcome)
    return collector.report()


def test_summary_of_a_failed_build_lists_phases_steps_and_links_the_build() -> None:
    assert markdown_summary(report_of(FAILED, stage="dev", region="us-east-1")) == (
        "### ❌ cbdeploy deploy failed (12s)\n"
        "\n"
        "Build [cbdeploy-site-dev:0f6c2a4e](https://us-east-1.console.aws.amazon.com/"
        "codesuite/codebuild/projects/cbdeploy-site-dev/build/cbdeploy-site-dev%3A0f6c2a4e/"
        "?region=us-east-1) · stage dev · region us-east-1\n"
        "\n"
        "Failed in phase BUILD, step build (exit 3)\n"
        "\n"
        "| Phase | Status | Duration |\n"
        "| --- | --- | --- |\n"
        "| SUBMITTED | ✅ SUCCEEDED | 0.0s |\n"
        "| INSTALL | ✅ SUCCEEDED | 2.0s |\n"
        "| BUILD | ❌ FAILED | 9.0s |\n"
        "\n"
        "| Step | Status | Duration | Exit code |\n"
        "| --- | --- | --- | --- |\n"
        "| test | ✅ ok | 1.2s | 0 |\n"
        "| build | ❌ failed | 7.5s | 3 |\n"
        "\n"
    )


def test_summary_of_a_stopped_build_marks_the_stop_apart_from_a_failure() -> None:
    """A Ctrl-C or a CI cancel stopped the build: its step was stopped, nothing failed."""
    stopped = BuildOutcome(
        build_id=BUILD_ID, status="STOPPED", exit_code=143, duration=8.0, region="us-east-1",
        interrupted=True, signal=signal.SIGTERM,
        phases=(
            Phase("INSTALL", "SUCCEEDED", None, None, 2, ()),
            Phase("BUILD", "STOPPED", None, None, 5, ()),
        ),
        steps=(StepResult("test", "ok", 1.25, 0, 1, 2), StepResult("build", "stopped", 4.0, 143, 2, 2)),
    )
    summary = markdown_summary(report_of(stopped))
    assert summary.startswith("### ⏹️ cbdeploy deploy stopped (8.0s)\n")
    assert "| BUILD | ⏹️ STOPPED | 5.0s |\n" in summary
    assert "| build | ⏹️ stopped | 4.0s | 143 |\n" in summary
    assert "| test | ✅ ok | 1.2s | 0 |\n" in summary
    assert "❌" not in summary


def test_summary_outputs_are_literal_whatever_the_build_wrote() -> None:
    outcome = BuildOutcome(
        BUILD_ID, "SUCCEEDED", 0, duration=65.0, region="us-east-1",
        outputs={"url": "https://site.test/a_b", "evil": "| x | <img src=y> [a](b) *c*",
                 "nested": {"k": [1, 2]}, "list": "- item"},
    )
    collector = ReportCollector(clock=lambda: 0.0)
    collector.context(stage="dev", region="us-east-1", local=True)
    collector.finish(outcome)
    assert markdown_summary(collector.report()) == (
        "### ✅ cbdeploy deploy succeeded (1m 05s)\n"
        "\n"
        "Build cbdeploy-site-dev:0f6c2a4e (local emulator) · stage dev · region us-east-1\n"
        "\n"
        "| Output | Value |\n"
        "| --- | --- |\n"
        "| url | https://site.test/a\\_b |\n"
        "| evil | \\| x \\| &lt;img src=y&gt; \\[a\\](b) \\*c\\* |\n"
        '| nested | {"k":\\[1,2\\]} |\n'
        "| list | \\- item |\n"
        "\n"
    )


def test_summary_of_an_error_before_the_build_says_what_and_what_next() -> None:
    collector = ReportCollector(clock=lambda: 0.0)
    collector.context(stage="dev", region="us-east-1")
    collector.fail(ConfigError("Unknown key 'pipline' (cbdeploy.toml, line 3).", "Use [pipeline]."))
    assert markdown_summary(collector.report()) == (
        "### ❌ cbdeploy deploy: error\n"
        "\n"
        "Unknown key 'pipline' (cbdeploy.toml, line 3).\n"
        "\n"
        "Use \\[pipeline\\].\n"
        "\n"
        "stage dev · region us-east-1\n"
        "\n"
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0, "0.0s"), (9.94, "9.9s"), (12.4, "12s"), (65, "1m 05s"), (3725, "1h 02m")],
)
def test_summary_durations(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_md_escapes_what_would_start_a_block() -> None:
    assert [md(t) for t in ("# h", "1. x", "+ y", "a # b", "two\nlines")] == [
        "\\# h", "1\\. x", "\\+ y", "a # b", "two lines",
    ]


# ---------------------------------------------------------------------- the output session


def session(c: Console, env: dict[str, str]) -> OutputSession:
    return OutputSession("deploy", report=True, console=c, renderer=Inner(c), environ=env,
                         token=TOKEN, clock=lambda: 0.0)


def test_outside_actions_the_renderer_is_used_as_it_is(tmp_path: Path) -> None:
    c = console()
    outside = session(c, {})
    assert outside.view is outside.renderer
    assert outside.run(lambda: None) == 0
    assert text(c) == ""


def test_in_actions_an_error_is_annotated_and_the_summary_appended(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    c = console()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    actions = session(c, env)

    def body() -> None:
        actions.emit(phase("BUILD"))
        actions.emit(LogLine(1, "building"))
        raise ConfigError("Bad value", "Fix it")

    assert actions.run(body) == 2
    assert text(c) == (
        "::stop-commands::T0K3N\n"
        "(phase BUILD None)\n"
        "::T0K3N::\n"
        "::group::BUILD\n"
        "::stop-commands::T0K3N\n"
        "building\n"
        "(close)\n"  # (the session takes a live display down before the error)
        "::T0K3N::\n"
        "::endgroup::\n"
        "::error title=cbdeploy deploy failed::Bad value%0AFix it\n"
        "::stop-commands::T0K3N\n"
        "::T0K3N::\n"
    )
    assert summary.read_text() == (
        "earlier step\n### ❌ cbdeploy deploy: error\n\nBad value\n\nFix it\n\n"
    )


def test_an_unwritable_summary_is_said_and_changes_nothing_else(tmp_path: Path) -> None:
    c = console()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "such.md")}
    assert session(c, env).run(lambda: None) == 0
    assert text(c).splitlines() == [
        "::stop-commands::T0K3N",
        "::T0K3N::",
        f"! Could not write the step summary to {tmp_path / 'no' / 'such.md'}: "
        "No such file or directory",
    ]


def test_an_option_error_before_the_command_body_is_annotated_too(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cbdeploy.client.cli.main import main

    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary),
           "XDG_CONFIG_HOME": str(tmp_path)}
    for extra, stream in (([], "stdout"), (["--json"], "stderr")):
        result = CliRunner().invoke(main, ["deploy", "--region", "us-east-1", *extra], env=env)
        assert result.exit_code == 2
        annotations = [line for line in getattr(result, stream).splitlines()
                       if line.startswith("::error")]
        assert len(annotations) == 1  # (the hint after %0A is the options' own)
        assert annotations[0].startswith("::error title=cbdeploy deploy failed::No stage given.%0A")
    assert summary.read_text().count("### ❌ cbdeploy deploy: error\n\nNo stage given.\n") == 2
