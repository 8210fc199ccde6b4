"""Terminal output of ``cbdeploy bootstrap`` and ``cbdeploy destroy`` (rich).

Names and ARNs are printed whole (soft wrap, never cropped), so they can be
copied from a narrow terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from cbdeploy.client.infra.calls import ABSENT, Call, Change
from cbdeploy.client.infra.diff import statement_text
from cbdeploy.client.infra.model import Infrastructure
from cbdeploy.client.infra.names import Names
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.text import field_text


def _line(console: Console, text: str | Text) -> None:
    console.print(text if isinstance(text, Text) else Text(text), soft_wrap=True)


def header(console: Console, title: str, names: Names, place: Place) -> None:
    """``cbdeploy: Bootstrap`` and where it acts: stage, region, account, project, endpoint.

    As deploy's header says it (``client.output.terminal``), endpoint row included.
    """
    _line(console, Text(f"cbdeploy: {title}", style="bold"))
    _line(console, "")
    rows = [
        ("Stage", names.stage),
        ("Region", names.region),
        ("Account", names.account),
        ("Project", f"{names.app} ({names.project})"),
    ]
    if place.endpoint_label is not None:
        rows.append(("Endpoint", place.endpoint_label))
    for label, value in rows:
        _line(console, Text.assemble(f"  {label + ':':<10}", (value, "cyan")))
    _line(console, "")


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


def would_change(console: Console, calls: Sequence[Call]) -> None:
    """``bootstrap --dry-run``: the planned changes, field by field; nothing made."""
    if not calls:
        _line(console, "Infrastructure is up to date; bootstrap would change nothing.")
        return
    _line(console, "bootstrap would (dry run, nothing changed):")
    for call in calls:
        _line(console, f"  • {call.what}")
        for change in call.changes:
            _line(console, change_text(change))


def change_text(change: Change) -> Text:
    """``    environment.computeType: SMALL → MEDIUM``; ``+``/``-`` for a field added or removed."""
    if change.old is ABSENT:
        return Text.assemble("      ", ("+ ", "green"), f"{change.field}: {_value(change.new)}")
    if change.new is ABSENT:
        return Text.assemble("      ", ("- ", "red"), f"{change.field}: {_value(change.old)}")
    return Text.assemble(
        f"      {change.field}: ", (_value(change.old), "red"), " → ", (_value(change.new), "green")
    )


def _value(value: Any) -> str:
    """One line: what AWS holds may have been written by anyone with access."""
    if isinstance(value, str):
        return field_text(value)
    if isinstance(value, dict) and "Effect" in value:
        return field_text(statement_text(value))
    return field_text(json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str))


def destroy_plan(console: Console, calls: Sequence[Call]) -> None:
    _line(console, "cbdeploy will:")
    for call in calls:
        _line(console, f"  • {call.what}")


def destroyed(console: Console, count: int, names: Names, *, everything: bool = False) -> None:
    if count == 0:
        # Where it looked, so a wrong region, account or name shows at once.
        _line(console, f"Nothing to destroy in account {names.account}, region {names.region}: "
                       "none of these exists:")
        looked = [("CodeBuild project", names.project), ("IAM role", names.role),
                  ("IAM role", names.batch_role), ("Log group", names.log_group)]
        if everything:
            looked.append(("Bucket", names.bucket))
        for label, name in looked:
            _line(console, f"  {label + ':':<19} {name}")
        if not everything:
            _line(console, Text(
                f"  (Archives under s3://{names.bucket}/{names.sources_prefix} expire after 30 days; "
                "--all also deletes the bucket.)", style="dim"))
    else:
        _line(console, f"Destroyed ({count} step{'s' if count != 1 else ''}).")
