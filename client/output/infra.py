"""Terminal output of ``cbdeploy bootstrap`` and ``cbdeploy destroy`` (rich).

Names and ARNs are printed whole (soft wrap, never cropped), so they can be
copied from a narrow terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.text import Text

from cbdeploy.client.infra.calls import Call
from cbdeploy.client.infra.model import Infrastructure


def _line(console: Console, text: str) -> None:
    console.print(Text(text), soft_wrap=True)


def progress(console: Console) -> Callable[[Call], None]:
    """An ``on_event`` callback printing each change as it is made."""

    def show(call: Call) -> None:
        _line(console, f"  • {call.what}")

    return show


def infrastructure(console: Console, infra: Infrastructure) -> None:
    if not infra.changes:
        _line(console, "Infrastructure is up to date; nothing changed.")
    else:
        count = len(infra.changes)
        _line(console, f"Infrastructure ready ({count} change{'s' if count != 1 else ''}).")
    for label, value in (
        ("Bucket", infra.bucket),
        ("Service role", infra.role_arn),
        ("Log group", infra.log_group),
        ("CodeBuild project", infra.project),
    ):
        _line(console, f"  {label + ':':<19} {value}")


def would_change(console: Console, infra: Infrastructure) -> None:
    """``bootstrap --dry-run``: the planned changes, nothing made."""
    if not infra.changes:
        _line(console, "Infrastructure is up to date; bootstrap would change nothing.")
        return
    _line(console, "bootstrap would (dry run, nothing changed):")
    for what in infra.changes:
        _line(console, f"  • {what}")


def destroy_plan(console: Console, calls: Sequence[Call]) -> None:
    _line(console, "cbdeploy will:")
    for call in calls:
        _line(console, f"  • {call.what}")


def destroyed(console: Console, count: int) -> None:
    if count == 0:
        _line(console, "Nothing to destroy: cbdeploy has nothing here for this stage.")
    else:
        _line(console, f"Destroyed ({count} step{'s' if count != 1 else ''}).")
