"""Terminal output of ``cbdeploy bootstrap`` and ``cbdeploy destroy`` (rich)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from client.bootstrap import Call, Infrastructure


def progress(console: Console) -> Callable[[Call], None]:
    """An ``on_event`` callback printing each change as it is made."""

    def show(call: Call) -> None:
        console.print(Text("  • ") + Text(call.what))

    return show


def infrastructure(console: Console, infra: Infrastructure) -> None:
    if not infra.changes:
        console.print("Infrastructure is up to date; nothing changed.")
    else:
        console.print(f"Infrastructure ready ({len(infra.changes)} changes).")
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("Bucket", Text(infra.bucket))
    table.add_row("Service role", Text(infra.role_arn))
    table.add_row("Log group", Text(infra.log_group))
    table.add_row("CodeBuild project", Text(infra.project))
    console.print(table)


def destroy_plan(console: Console, calls: Sequence[Call]) -> None:
    console.print("cbdeploy will:")
    for call in calls:
        console.print(Text("  • ") + Text(call.what))


def destroyed(console: Console, count: int) -> None:
    if count == 0:
        console.print("Nothing to destroy: cbdeploy has nothing here for this stage.")
    else:
        console.print(f"Destroyed ({count} deletions).")
