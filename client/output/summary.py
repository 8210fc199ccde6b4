"""The renderer's last lines: result, duration, and on failure what failed and why."""

from __future__ import annotations

import signal
from collections.abc import Collection

from rich.text import Text

from cbdeploy.client.output.lines import Lines
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.text import compact, field_text, format_duration, phase_row
from cbdeploy.client.watch.outcome import UNKNOWN, BuildOutcome, lost_message
from cbdeploy.client.watch.signals import signal_name


def outcome_lines(
    out: Lines, outcome: BuildOutcome, place: Place, *, noun: str, log_hint: bool,
    shown: Collection[str] = (),
) -> None:
    """Phases, the result line, what failed (or why the outcome is unknown), the outputs.

    ``shown``: phases whose line is already on the screen, not listed again.
    """
    out.close()
    if outcome.detached:
        return  # the Detached event said what to do
    took = format_duration(outcome.duration)
    ended = [p for p in outcome.phases if p.status is not None and p.name not in shown]
    if ended:
        out.print()
        out.print(Text("Phases:", style="bold"))
        for phase in ended:
            style = "" if phase.status == "SUCCEEDED" else "red"
            out.print(Text("  " + phase_row(phase), style=style))
    out.print()
    if outcome.status == UNKNOWN:
        message, hint = lost_message(outcome, place.flags)
        out.print(Text("? " + message, style="yellow bold"))
        if hint:
            out.note(hint)
    elif outcome.interrupted:
        by = interrupted_by(outcome.signal)
        out.warn(f"Interrupted{by}. Build {outcome.build_id} ended {outcome.status} after {took}.")
    elif outcome.succeeded:
        out.print(Text.assemble(("✓ ", "green bold"), (f"{noun} succeeded in {took}", "bold")))
    else:
        out.print(
            Text(f"✗ {noun} {(outcome.status or 'ended').lower()} after {took}", style="red bold")
        )
        failure_lines(out, outcome)
        if outcome.build_id and outcome.region and log_hint and not place.ends_with_us:
            # (With an in-process emulator the build is gone once this process ends.)
            out.note(f"full log: cbdeploy logs {outcome.build_id} --region {outcome.region}"
                     f"{place.flags}")
    if outcome.outputs:
        output_lines(out, outcome)


def failure_lines(out: Lines, outcome: BuildOutcome) -> None:
    """The failed step, the failed phase and CodeBuild's word on it, a hint."""
    if outcome.failed_step:
        code = outcome.failed_step_exit
        exit_part = f" (exit {code})" if code is not None else ""
        out.print(Text(f"  Step {field_text(outcome.failed_step)} failed{exit_part}", style="red"))
    if outcome.failed_phase:
        line = f"  Phase {outcome.failed_phase}: {outcome.failed_phase_status}"
        # With a failed step named, CodeBuild's context only quotes the
        # runner's command line; the step line above is the real reason.
        if outcome.failed_phase_message and not outcome.failed_step:
            line += f" - {field_text(outcome.failed_phase_message)}"
        out.print(Text(line, style="red"))
    if outcome.hint:
        out.note(outcome.hint)


def output_lines(out: Lines, outcome: BuildOutcome) -> None:
    out.print()
    out.print(Text("Outputs:", style="bold"))
    width = max(len(str(k)) for k in outcome.outputs) + 1
    for key, value in outcome.outputs.items():
        shown = field_text(value if isinstance(value, str) else compact(value))
        label = field_text(str(key)) + ":"
        out.print(Text.assemble(f"  {label:<{width}} ", (shown, "cyan")))


def interrupted_by(signum: int | None) -> str:
    """`` by SIGTERM`` after "Interrupted" for a signal that is not a Ctrl-C; else ``""``."""
    if signum is None or signum == signal.SIGINT:
        return ""
    return f" by {signal_name(signum)}"
