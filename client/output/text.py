"""Text pieces of the terminal layer: durations, phase rows, commits, commands to copy,
and remote text made safe to show (:func:`terminal_text`, :func:`plain_text`,
:func:`field_text`)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from rich.text import Text

from cbdeploy.client.aws.results import Phase
from cbdeploy.client.packaging.gitcmd import GitInfo
from cbdeploy.client.watch.phases import phase_seconds

PHASE_WIDTH = len("UPLOAD_ARTIFACTS")  # the longest phase name: durations line up


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def clock_time(moment: datetime) -> str:
    """``2026-12-06 08:40:12 +01:00`` in the local zone (``... UTC`` where that is UTC).

    A time without its zone is ambiguous between a laptop and a CI runner.
    """
    local = moment.astimezone()
    offset = local.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        zone = "UTC"
    else:
        sign, rest = ("-", -offset) if offset < timedelta(0) else ("+", offset)
        hours, seconds = divmod(int(rest.total_seconds()), 3600)
        zone = f"{sign}{hours:02d}:{seconds // 60:02d}"
    return f"{local:%Y-%m-%d %H:%M:%S} {zone}"


def reattach_commands(build_id: str, region: str, flags: str = "") -> list[tuple[str, str]]:
    """The commands that find the build again; ``flags`` such as `` --local`` (a standing emulator)."""
    return [
        ("Re-attach", f"cbdeploy logs {build_id} --follow --region {region}{flags}"),
        ("Stop it", f"cbdeploy stop {build_id} --region {region}{flags}"),
    ]


def phase_row(phase: Phase) -> str:
    """``BUILD              25s`` (and the status when it did not succeed)."""
    row = f"{phase.name:<{PHASE_WIDTH}} {format_duration(phase_seconds(phase)):>6}"
    return row if phase.status == "SUCCEEDED" else f"{row}  {phase.status}"


def commit_text(git: GitInfo | None) -> Text:
    if git is None:
        return Text("none (not a git work tree)", style="yellow")
    if git.commit is None:
        shown = Text("no commit yet", style="yellow")
    else:
        shown = Text(git.commit[:10], style="cyan")
    if git.branch:
        shown.append(f" on {git.branch}", style="cyan")
    if git.dirty:
        shown.append(", with uncommitted changes", style="yellow bold")
    return shown


def compact(value: Any) -> str:
    """An output value that is not a string, as compact JSON."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def status_style(status: str | None) -> str:
    """The colour of a build status: green succeeded, cyan running, red anything else."""
    return {"SUCCEEDED": "green", "IN_PROGRESS": "cyan"}.get(status or "", "red")


# ---------------------------------------------------------------------- remote text
#
# Build output is untrusted and may attack the terminal: OSC 52 writes the
# clipboard, OSC 0 the window title, CSI sequences clear the screen or move the
# cursor over lines already printed (to forge a result), DCS talks to the
# terminal itself. At a terminal only SGR colours survive (never "conceal",
# which would hide text), and a line that set colours ends with a reset; in
# plain output (a pipe, a file, a CI log) no sequence survives. ECMA-48 is the
# grammar terminals parse these with; an OSC, DCS, SOS, PM or APC string with
# no terminator runs to the end of the line, as a terminal would swallow it.

_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI (SGR is CSI ... m)
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"  # OSC DCS SOS PM APC
    r"|\x1b[ -/]*[0-~]?",  # every other escape, and a lone ESC
    re.DOTALL,
)
_SGR = re.compile(r"(?:\x1b\[|\x9b)([0-9;:]*)m")
# C0 controls but tab (carriage return and ESC are handled apart), DEL, C1 controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_COLOUR_PARAMS = {"38", "48", "58"}  # followed by 5;n or 2;r;g;b
CONCEAL = "8"  # SGR 8: the text is there but not shown
RESET = "\x1b[0m"


def _safe_sgr(params: str) -> str:
    """An SGR sequence without "conceal"; empty when nothing is left."""
    given = params.split(";") if params else ["0"]
    kept: list[str] = []
    i = 0
    while i < len(given):
        param = given[i]
        if param in _COLOUR_PARAMS and i + 1 < len(given):
            width = {"5": 3, "2": 5}.get(given[i + 1], 2)
            kept.extend(given[i : i + width])
            i += width
            continue
        if param.lstrip("0") != CONCEAL:
            kept.append(param)
        i += 1
    return f"\x1b[{';'.join(kept)}m" if kept else ""


def _strip(text: str, *, colours: bool) -> tuple[str, bool]:
    coloured = False

    def keep(match: re.Match[str]) -> str:
        nonlocal coloured
        sgr = _SGR.fullmatch(match.group(0)) if colours else None
        if sgr is None:
            return ""
        safe = _safe_sgr(sgr.group(1))
        coloured = coloured or bool(safe)
        return safe

    if "\x1b" in text or _CONTROLS.search(text):
        text = _CONTROLS.sub("", _SEQUENCE.sub(keep, text))
    return text, coloured


def terminal_text(message: str, *, colours: bool = True) -> str:
    """A remote line as a terminal may show it: SGR colours only (if ``colours``), tabs kept.

    A carriage return would let the line write over itself, so what comes after
    one could hide what came before (a progress meter, or a forged "succeeded"
    over an error): each ``\\r`` starts a new line instead, and nothing is hidden.
    """
    segments = [s for s in message.split("\r") if s] or [""]
    shown = []
    for segment in segments:
        text, coloured = _strip(segment, colours=colours)
        shown.append(text + RESET if coloured else text)
    return "\n".join(shown)


def plain_text(message: str) -> str:
    """A remote line for plain output (pipe, file, CI log): no control sequence, ``\\r`` kept."""
    return "\r".join(_strip(part, colours=False)[0] for part in message.split("\r"))


def field_text(value: str) -> str:
    """Remote text shown inside cbdeploy's own lines (a step name, an output): one plain line."""
    return _strip(value.replace("\r", " ").replace("\n", " "), colours=False)[0]
