"""The ``--json`` object: what the collector makes of a run's events, compared whole.

The output session's ``--json`` tests drive real click commands (the
factory's ``command``) through CliRunner; the ``deploy`` one stops at option
validation, before any AWS call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from cbdeploy.client.aws.results import Build, Phase
from cbdeploy.client.cli.factory import command as cbdeploy_command
from cbdeploy.client.deploy.events import (
    ArchiveBuilt,
    BuildStarted,
    DeployStarting,
    Event,
    UploadDone,
)
from cbdeploy.client.deploy.upload import UploadResult
from cbdeploy.client.errors import BuildConflictError, ConfigError
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.report import ReportCollector
from cbdeploy.client.output.session import OutputSession
from cbdeploy.client.packaging import ArchiveResult
from cbdeploy.client.watch.events import MarkerEvent
from cbdeploy.client.watch.markers import Marker
from cbdeploy.client.watch.outcome import BuildOutcome, StepResult
from tests.factories import make_build

BUILD_ID = "cbdeploy-site-dev:0f6c2a4e"
CONSOLE_URL = (
    "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/projects/cbdeploy-site-dev"
    "/build/cbdeploy-site-dev%3A0f6c2a4e/?region=us-east-1"
)
SHA = "ab" * 32


def clock(*times: float) -> Any:
    ticks: Iterator[float] = iter(times)
    return lambda: next(ticks)


def build(status: str = "IN_PROGRESS") -> Build:
    return make_build(status, id=BUILD_ID, start=datetime(2026, 1, 1, tzinfo=timezone.utc),
                      log_group="/cbdeploy/site", log_stream="dev/0f6c2a4e")


def located(report: ReportCollector, *, local: bool = False) -> ReportCollector:
    """``report`` told where the build runs, as the output session tells it."""
    report.locate(Place("us-east-1", local))
    return report


def deploy_events(*, skipped: bool = False) -> list[Event]:
    archive = ArchiveResult(Path("/tmp/a.zip"), SHA, 8413, 4, 983)
    key = f"sources/site/{SHA}.zip"
    return [
        DeployStarting("site", "dev", "cbdeploy-site-dev", "inv-1", account="123456789012",
                       config="/work/site/cbdeploy.toml"),
        ArchiveBuilt(archive, 0.1234, None),
        UploadDone(UploadResult("cbdeploy-123456789012-us-east-1", key, skipped), 8413, 0.5),
        BuildStarted(build()),
        MarkerEvent(Marker("step-start", {"step": "build"})),  # (the outcome says it)
    ]


FAILED = BuildOutcome(
    build_id=BUILD_ID, status="FAILED", exit_code=1, duration=12.5,
    failed_phase="BUILD", failed_phase_status="FAILED",
    failed_phase_message="Error while executing command: runner. Reason: exit status 3",
    failed_step="build", failed_step_exit=3, region="us-east-1",
    log_group="/cbdeploy/site", log_stream="dev/0f6c2a4e",
    phases=(
        Phase("SUBMITTED", "SUCCEEDED", None, None, 0, ()),
        Phase("BUILD", "FAILED", None, None, 9, (("COMMAND_EXECUTION_ERROR", "exit status 3"),)),
        Phase("COMPLETED", None, None, None, None, ()),
    ),
    steps=(StepResult("test", "ok", 1.25, 0, 1, 2), StepResult("build", "failed", 7.5, 3, 2, 2)),
)


def test_a_failed_deploy_reports_phases_steps_archive_upload_and_timings() -> None:
    report = located(ReportCollector(clock=clock(100.0, 115.25)))
    for event in deploy_events():
        report.handle(event)
    report.finish(FAILED)
    assert report.report() == {
        "buildId": BUILD_ID,
        "status": "FAILED",
        "exitCode": 1,
        "durationSeconds": 12.5,
        "outputs": {},
        "failedPhase": "BUILD",
        "failedPhaseStatus": "FAILED",
        "failedPhaseMessage": "Error while executing command: runner. Reason: exit status 3",
        "failedStep": "build",
        "failedStepExitCode": 3,
        "interrupted": False,
        "signal": None,
        "detached": False,
        "region": "us-east-1",
        "logGroup": "/cbdeploy/site",
        "logStream": "dev/0f6c2a4e",
        "phases": [
            {"name": "SUBMITTED", "status": "SUCCEEDED", "durationSeconds": 0},
            {"name": "BUILD", "status": "FAILED", "durationSeconds": 9},
            {"name": "COMPLETED", "status": None, "durationSeconds": None},
        ],
        "steps": [
            {"name": "test", "status": "ok", "durationSeconds": 1.25, "exitCode": 0},
            {"name": "build", "status": "failed", "durationSeconds": 7.5, "exitCode": 3},
        ],
        "consoleUrl": CONSOLE_URL,
        "local": False,
        "endpoint": None,
        "stage": "dev",
        "app": "site",
        "project": "cbdeploy-site-dev",
        "account": "123456789012",
        "config": "/work/site/cbdeploy.toml",
        "selection": None,
        "changesSince": None,
        "archive": {"sizeBytes": 8413, "sha256": SHA, "fileCount": 4},
        "upload": {
            "skipped": False,
            "bucket": "cbdeploy-123456789012-us-east-1",
            "key": f"sources/site/{SHA}.zip",
            "seconds": 0.5,
            "kind": "base",
            "bytes": 8413,
            "baseKey": None,
        },
        "timings": {"packagingSeconds": 0.123, "uploadSeconds": 0.5, "totalSeconds": 15.25},
        "error": None,
        "hint": None,
    }


def test_a_local_deploy_has_no_console_link_and_says_the_upload_was_skipped() -> None:
    report = located(ReportCollector(clock=clock(0.0, 1.0)), local=True)
    for event in deploy_events(skipped=True):
        report.handle(event)
    report.finish(BuildOutcome(BUILD_ID, "SUCCEEDED", 0, outputs={"url": "https://x.test"},
                               region="us-east-1"))
    data = report.report()
    assert (data["consoleUrl"], data["local"]) == (None, True)
    assert data["upload"]["skipped"] is True
    assert data["outputs"] == {"url": "https://x.test"}
    assert (data["status"], data["exitCode"], data["error"]) == ("SUCCEEDED", 0, None)


def test_an_error_before_anything_started_keeps_every_key_unknown_but_the_error() -> None:
    report = ReportCollector(clock=clock(0.0, 0.5))
    report.context(stage="dev", region="eu-west-1")
    report.fail(ConfigError("Unknown key 'pipline' in cbdeploy.toml line 3.", "Did you mean 'pipeline'?"))
    assert report.report() == {
        "buildId": None, "status": None, "exitCode": 2, "durationSeconds": None,
        "outputs": {}, "failedPhase": None, "failedPhaseStatus": None,
        "failedPhaseMessage": None, "failedStep": None, "failedStepExitCode": None,
        "interrupted": False, "signal": None, "detached": False, "region": "eu-west-1", "logGroup": None,
        "logStream": None, "phases": [], "steps": [], "consoleUrl": None, "local": False,
        "endpoint": None, "stage": "dev", "app": None, "project": None, "account": None, "config": None,
        "selection": None, "changesSince": None, "archive": None,
        "upload": None,
        "timings": {"packagingSeconds": None, "uploadSeconds": None, "totalSeconds": 0.5},
        "error": "Unknown key 'pipline' in cbdeploy.toml line 3.",
        "hint": "Did you mean 'pipeline'?",
    }


def test_ctrl_c_before_the_build_started_is_exit_130_with_what_was_built() -> None:
    report = located(ReportCollector(clock=clock(0.0, 3.0)))
    for event in deploy_events()[:2]:  # packaged, then interrupted
        report.handle(event)
    report.fail(KeyboardInterrupt())
    data = report.report()
    assert data["exitCode"] == 130 and data["interrupted"] is True
    assert data["error"] == "Interrupted before the build started; nothing was deployed."
    assert data["archive"] == {"sizeBytes": 8413, "sha256": SHA, "fileCount": 4}
    assert data["upload"] is None and data["buildId"] is None


def test_a_deploy_refused_for_a_running_build_names_that_build() -> None:
    report = ReportCollector(clock=clock(0.0, 1.0))
    report.fail(BuildConflictError("Stage dev is already running: b:1", "Wait.", "b:1"))
    report.fail(RuntimeError("later"))  # the first error is the one that ended the command
    data = report.report()
    assert (data["error"], data["runningBuildId"], data["exitCode"]) == (
        "Stage dev is already running: b:1", "b:1", 2)


def test_a_build_lost_after_it_started_still_names_it() -> None:
    report = located(ReportCollector(clock=clock(0.0, 1.0)))
    for event in deploy_events():
        report.handle(event)
    report.fail(RuntimeError("boom"))
    data = report.report()
    assert data["buildId"] == BUILD_ID and data["consoleUrl"] == CONSOLE_URL
    assert (data["error"], data["exitCode"]) == ("internal error: RuntimeError: boom", 1)


def test_logs_report_has_no_deploy_only_keys() -> None:
    report = ReportCollector(deploy=False, clock=clock(0.0, 1.0, 2.0))
    report.context(region="us-east-1", build_id=BUILD_ID)
    assert report.report()["buildId"] == BUILD_ID  # (an unknown build's error names it too)
    report.finish(FAILED)
    data = report.report()
    assert not {"archive", "upload", "stage", "app", "project", "account", "config"} & set(data)
    assert data["timings"] == {"totalSeconds": 2.0}
    assert data["consoleUrl"] == CONSOLE_URL


# ---------------------------------------------------------------------- the session's --json


def command(body: Any) -> click.Command:
    @cbdeploy_command("deploy")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def run(ctx: click.Context, as_json: bool, session: OutputSession) -> None:
        body(ctx, session.report)

    return run


def succeeded(ctx: click.Context, report: ReportCollector) -> None:
    report.finish(BuildOutcome("b:1", "SUCCEEDED", 0))
    ctx.exit(0)


def failed(ctx: click.Context, report: ReportCollector) -> None:
    report.finish(BuildOutcome("b:1", "FAILED", 1))
    ctx.exit(1)


def config_error(ctx: click.Context, report: ReportCollector) -> None:
    raise ConfigError("bad config", "fix it")


def bug(ctx: click.Context, report: ReportCollector) -> None:
    raise ValueError("oops")


@pytest.mark.parametrize(
    ("body", "code", "error"),
    [
        (succeeded, 0, None),
        (failed, 1, None),
        (config_error, 2, "bad config"),
        (bug, 1, "internal error: ValueError: oops"),
    ],
    ids=["succeeded", "failed", "error", "bug"],
)
def test_json_gives_exactly_one_object_on_stdout_however_the_command_ends(
    body: Any, code: int, error: str | None
) -> None:
    result = CliRunner().invoke(command(body), ["--json"])
    data = json.loads(result.stdout)  # the whole of stdout is one object
    assert (data["exitCode"], data["error"]) == (code, error)
    if error is None:
        assert result.exit_code == code
    else:  # (the session prints it and sets the status)
        assert result.exit_code == code


def looked_at_a_failed_build(ctx: click.Context, report: ReportCollector) -> None:
    report.finish(BuildOutcome("b:1", "FAILED", 1))  # (logs without --follow exits 0)


def test_json_exit_code_is_the_process_status() -> None:
    result = CliRunner().invoke(command(looked_at_a_failed_build), ["--json"])
    data = json.loads(result.stdout)
    assert (result.exit_code, data["exitCode"], data["status"]) == (0, 0, "FAILED")


def test_without_json_nothing_is_added_to_stdout() -> None:
    result = CliRunner().invoke(command(lambda ctx, report: click.echo("human")), [])
    assert (result.exit_code, result.stdout) == (0, "human\n")


def test_deploy_without_a_stage_still_ends_in_one_object(tmp_path: Path) -> None:
    from cbdeploy.client.cli.main import main

    result = CliRunner().invoke(
        main, ["deploy", "--region", "us-east-1", "--json"],
        # (Not as a GitHub Actions step, even when these tests run in one.)
        env={"XDG_CONFIG_HOME": str(tmp_path), "GITHUB_ACTIONS": None, "GITHUB_STEP_SUMMARY": None},
    )
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert (data["error"], data["exitCode"], data["buildId"]) == ("No stage given.", 2, None)
    assert "Error: No stage given." in result.stderr


def test_phase_durations_come_from_start_and_end_where_known() -> None:
    start = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    end = datetime(2026, 1, 1, 12, 0, 1, 250000, tzinfo=timezone.utc)
    report = ReportCollector(clock=clock(0.0, 1.0))
    report.finish(BuildOutcome(BUILD_ID, "SUCCEEDED", 0, phases=(
        Phase("INSTALL", "SUCCEEDED", start, end, 1, ()),  # CodeBuild rounds to whole seconds
        Phase("BUILD", None, start, None, None, ()),
    )))
    assert report.report()["phases"] == [
        {"name": "INSTALL", "status": "SUCCEEDED", "durationSeconds": 1.25},
        {"name": "BUILD", "status": None, "durationSeconds": None},
    ]


def test_a_build_stopped_by_sigterm_reports_its_steps_stopped_and_the_signal() -> None:
    import signal

    from cbdeploy.client.watch.events import BuildFinished
    from cbdeploy.client.watch.outcome import OutcomeTracker

    tracker = OutcomeTracker(build(), "us-east-1")
    for marker in (
        Marker("step-start", {"step": "test", "index": 1, "total": 3}),
        Marker("step-end", {"step": "test", "status": "stopped", "exitCode": 143,
                            "duration": 1.5}),
        Marker("pipeline-end", {"status": "stopped", "stoppedStep": "test", "exitCode": 143}),
    ):
        tracker.add(MarkerEvent(marker))
    tracker.add(BuildFinished(build("STOPPED")))
    report = ReportCollector()
    report.finish(tracker.outcome(interrupted=True, signum=signal.SIGTERM))
    data = report.report()
    assert data["exitCode"] == 143 and data["status"] == "STOPPED"
    assert data["interrupted"] is True and data["signal"] == "SIGTERM"
    assert data["failedStep"] is None and data["failedStepExitCode"] is None
    assert data["steps"] == [
        {"name": "test", "status": "stopped", "durationSeconds": 1.5, "exitCode": 143}
    ]


def test_a_step_a_stopped_build_cut_off_without_a_word_is_stopped() -> None:
    """CodeBuild may stop the container before the runner says anything about its step."""
    from cbdeploy.client.watch.events import BuildFinished
    from cbdeploy.client.watch.outcome import OutcomeTracker

    tracker = OutcomeTracker(build(), "us-east-1")
    tracker.add(MarkerEvent(Marker("step-start", {"step": "deploy", "index": 1, "total": 1})))
    tracker.add(BuildFinished(build("STOPPED")))
    assert [(s.name, s.status) for s in tracker.outcome().steps] == [("deploy", "stopped")]


def test_a_signal_before_the_build_started_gives_its_exit_status() -> None:
    import signal

    from cbdeploy.client.watch.signals import Interrupted

    report = ReportCollector()
    report.context(stage="dev", region="eu-west-1")
    report.fail(Interrupted(signal.SIGHUP))
    data = report.report()
    assert data["exitCode"] == 129 and data["interrupted"] is True and data["signal"] == "SIGHUP"
    assert data["error"] == "Interrupted before the build started; nothing was deployed."


def test_a_custom_endpoint_is_in_the_object_and_the_summary_instead_of_a_console_link() -> None:
    from cbdeploy.client.aws.endpoint import Endpoint
    from cbdeploy.client.output.markdown import markdown_summary
    from cbdeploy.client.watch.events import Attached

    custom = Endpoint("http://127.0.0.1:4566", "custom")
    report = ReportCollector(clock=clock(0.0, 1.0))
    report.locate(Place("us-east-1", False, custom))
    for event in deploy_events():
        report.handle(event)
    report.finish(BuildOutcome(BUILD_ID, "SUCCEEDED", 0, region="us-east-1"))
    data = report.report()
    assert (data["endpoint"], data["consoleUrl"], data["local"]) == (custom.url, None, False)
    assert f"(endpoint {custom.url})" in markdown_summary(data)

    followed = ReportCollector(deploy=False, clock=clock(0.0, 1.0))
    followed.locate(Place("us-east-1", False, custom))
    followed.handle(Attached(build(), following=False))
    followed.finish(BuildOutcome(BUILD_ID, "SUCCEEDED", 0, region="us-east-1"))
    data = followed.report()
    assert (data["endpoint"], data["consoleUrl"]) == (custom.url, None)
