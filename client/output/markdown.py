"""The ``--json`` object as Markdown, for a CI's step summary (``$GITHUB_STEP_SUMMARY``).

Every text the build or the user wrote goes through :func:`md`, so a remote
string cannot open a link, a table or HTML in the summary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cbdeploy.client.output.text import compact
from cbdeploy.client.output.text import format_duration as duration

# Marks that start inline Markdown (emphasis, code, links, images, tables, HTML,
# strikethrough); a backslash makes each literal. "#", "-", "+" and "1." only
# matter at the start of a line.
_MD_INLINE = frozenset("\\`*_[]|!~")
_MD_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_MD_LINE_START = re.compile(r"^(\d*)([#+=.)-])")


def md(value: Any) -> str:
    """Untrusted text as literal Markdown on one line (outputs, messages, step names)."""
    text = value if isinstance(value, str) else compact(value)
    text = " ".join(text.splitlines())
    escaped = "".join(
        _MD_HTML.get(char) or ("\\" + char if char in _MD_INLINE else char) for char in text
    )
    return _MD_LINE_START.sub(r"\1\\\2", escaped, count=1)


def _status_icon(status: str | None) -> str:
    """What a build's, a phase's or a step's status shows: a stop is no failure."""
    if status in ("SUCCEEDED", "ok"):
        return "✅ "
    if status is None or status in ("IN_PROGRESS", "running"):
        return "⏳ "
    if status in ("STOPPED", "stopped"):
        return "⏹️ "
    return "❌ "


def markdown_summary(report: Mapping[str, Any], *, command: str = "deploy") -> str:
    """The object as Markdown, for a CI's step summary: headline, build, phases, steps, outputs.

    ``report`` is :meth:`ReportCollector.report`'s; every text the build or the
    user wrote goes through :func:`md`.
    """
    lines = _headline(report, command)
    for part in (_about(report), _failed(report)):
        if part:
            lines += ["", part]
    lines += _tables(report)
    return "\n".join(lines) + "\n\n"


def _headline(report: Mapping[str, Any], command: str) -> list[str]:
    status = report.get("status")
    if report.get("error") and not status:
        lines = [f"### ❌ cbdeploy {command}: error", "", md(report["error"])]
        if report.get("hint"):
            lines += ["", md(report["hint"])]
        return lines
    if report.get("selection") == [] and not status:  # --affected: no service changed
        return [f"### ✅ cbdeploy {command}: nothing to deploy, no service changed"]
    took = duration(report.get("durationSeconds"))
    headline = (status or "ended").lower().replace("_", " ")
    icon = _status_icon(status).strip()
    return [f"### {icon} cbdeploy {command} {headline} ({took})"]


def _about(report: Mapping[str, Any]) -> str:
    """The build (linked to its console page on AWS), the stage and the region."""
    about = []
    if report.get("batchId"):
        about.append(f"Batch {md(report['batchId'])}")
    if report.get("buildId"):
        build = md(report["buildId"])
        if report.get("consoleUrl"):
            about.append(f"Build [{build}]({report['consoleUrl']})")
        elif report.get("local"):
            about.append(f"Build {build} (local emulator)")
        elif report.get("endpoint"):
            about.append(f"Build {build} (endpoint {md(report['endpoint'])})")
        else:
            about.append(f"Build {build}")
    for key in ("stage", "region"):
        if report.get(key):
            about.append(f"{key} {md(report[key])}")
    return " · ".join(about)


def _failed(report: Mapping[str, Any]) -> str:
    if report.get("firstFailedService"):
        return f"First to fail: service {md(report['firstFailedService'])}"
    if not (report.get("failedStep") or report.get("failedPhase")):
        return ""
    what = []
    if report.get("failedPhase"):
        what.append(f"phase {md(report['failedPhase'])}")
    if report.get("failedStep"):
        code = report.get("failedStepExitCode")
        what.append(f"step {md(report['failedStep'])}"
                    + (f" (exit {code})" if code is not None else ""))
    failed = "Failed in " + ", ".join(what)
    if report.get("failedPhaseMessage") and not report.get("failedStep"):
        failed += ": " + md(report["failedPhaseMessage"])
    return failed


def _tables(report: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    if report.get("services"):
        lines += ["", "| Service | Status | Duration | Outputs |", "| --- | --- | --- | --- |"]
        for name, service in report["services"].items():
            status = service["status"] or "not started"
            if service.get("stoppedBy"):
                status += f" ({service['stoppedBy']})"
            outputs = ", ".join(f"{k}={v}" for k, v in (service.get("outputs") or {}).items())
            lines.append(f"| {md(name)} | {_status_icon(service['status'])}{md(status)} | "
                         f"{duration(service['durationSeconds'])} | {md(outputs)} |")
    if report.get("phases"):
        lines += ["", "| Phase | Status | Duration |", "| --- | --- | --- |"]
        for phase in report["phases"]:
            if phase["name"] == "COMPLETED":
                continue  # the build's end, not a phase with a duration
            lines.append(
                f"| {md(phase['name'])} | {_status_icon(phase['status'])}"
                f"{md(phase['status'] or 'IN_PROGRESS')} | "
                f"{duration(phase['durationSeconds'])} |"
            )
    if report.get("steps"):
        lines += ["", "| Step | Status | Duration | Exit code |", "| --- | --- | --- | --- |"]
        for step in report["steps"]:
            code = step["exitCode"]
            lines.append(
                f"| {md(step['name'])} | {_status_icon(step['status'])}{md(step['status'])} | "
                f"{duration(step['durationSeconds'])} | "
                f"{'' if code is None else code} |"
            )
    if report.get("outputs"):
        lines += ["", "| Output | Value |", "| --- | --- |"]
        for key, value in report["outputs"].items():
            lines.append(f"| {md(str(key))} | {md(value)} |")
    return lines
