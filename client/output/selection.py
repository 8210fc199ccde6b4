"""How a workspace deploy's choice of services, and the record of what it deployed, look.

The lines of :class:`~cbdeploy.client.deploy.events.ServicesSelected` and
:class:`~cbdeploy.client.deploy.events.DeployRecorded`, for the terminal
renderer (plain mode and GitHub Actions print the same lines). File names come
from the work tree and may hold anything: they pass through ``field_text``.
"""

from __future__ import annotations

from rich.text import Text

from cbdeploy.client.deploy.events import DeployRecorded, ServicesSelected
from cbdeploy.client.output.lines import Lines
from cbdeploy.client.output.text import field_text


def selection_lines(out: Lines, e: ServicesSelected | DeployRecorded) -> None:
    """The lines of either event."""
    if isinstance(e, ServicesSelected):
        services_lines(out, e)
    else:
        recorded_lines(out, e)


def services_lines(out: Lines, e: ServicesSelected) -> None:
    """What ``--affected`` compared with, then one row per service with its reasons."""
    choice = e.choice
    for label, names in choice.since:
        out.note(f"changes since {field_text(label)}: " + ", ".join(names))
    if not choice.picked:
        out.ok(f"Nothing to deploy: no service changed ({len(choice.unchanged)} checked); "
               "nothing was started")
        return
    count = len(choice.picked)
    what = "service" if count == 1 else "services"
    out.print(Text(f"Deploying {count} {what}:", style="bold"))
    width = max(len(p.service.name) for p in choice.picked) + 2
    for picked in choice.picked:
        reasons = "; ".join(field_text(r) for r in picked.reasons)
        out.print(Text.assemble(f"  {picked.service.name:<{width}}", (reasons, "cyan")))
    if choice.unchanged:
        out.note("unchanged: " + ", ".join(choice.unchanged))
    out.print()


def recorded_lines(out: Lines, e: DeployRecorded) -> None:
    names = ", ".join(e.services)
    if e.commit is None:
        out.warn(f"Could not record the deployed commit of {names} for stage {e.stage}: "
                 f"{field_text(e.error or 'unknown error')}")
        out.note("--affected counts their changes from their previous record until a deploy "
                 "records one.")
        return
    dirty = ""
    if e.dirty:
        files = "file" if e.pending == 1 else "files"
        dirty = f" with {e.pending} uncommitted {files}"
    out.note(f"recorded {e.commit[:10]}{dirty} as the last deploy of {names} to {e.stage}")
