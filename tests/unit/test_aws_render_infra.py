"""What bootstrap and destroy print, and --local without the [local] extra."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.errors import MissingExtraError
from cbdeploy.client.infra.calls import Call
from cbdeploy.client.infra.model import Infrastructure
from cbdeploy.client.output import infra as render_infra
from cbdeploy.client.target import Target

INFRA = Infrastructure(
    bucket="cbdeploy-123456789012-eu-west-1",
    role_arn="arn:aws:iam::123456789012:role/cbdeploy-a-very-long-application-name-production-eu-west-1",
    log_group="/cbdeploy/app",
    project="cbdeploy-app-dev",
)


def render(draw: object, *args: object) -> str:
    out = io.StringIO()
    console = Console(file=out, width=60, color_system=None)
    draw(console, *args)  # type: ignore[operator]
    return out.getvalue()


def test_up_to_date_summary_prints_whole_names() -> None:
    text = render(render_infra.infrastructure, INFRA)
    assert text.splitlines() == [
        "Infrastructure is up to date; nothing changed.",
        "  Bucket:             cbdeploy-123456789012-eu-west-1",
        "  Service role:       " + INFRA.role_arn,
        "  Log group:          /cbdeploy/app",
        "  CodeBuild project:  cbdeploy-app-dev",
    ]


def test_changes_are_listed_as_they_happen() -> None:
    call = Call("create_log_group", {"name": "/cbdeploy/[app]"}, "Create log group /cbdeploy/[app]")
    out = io.StringIO()
    console = Console(file=out, width=60, color_system=None)
    render_infra.progress(console)(call)
    assert out.getvalue() == "  • Create log group /cbdeploy/[app]\n"  # no markup eaten
    changed = Infrastructure(**{**INFRA.__dict__, "changes": ("a",)})
    assert render(render_infra.infrastructure, changed).startswith(
        "Infrastructure ready (1 change)."
    )


def test_destroy_texts() -> None:
    calls = [Call("delete_project", {"name": "p"}, "Delete CodeBuild project p")]
    assert (
        render(render_infra.destroy_plan, calls)
        == "cbdeploy will:\n  • Delete CodeBuild project p\n"
    )
    assert render(render_infra.destroyed, 0).startswith("Nothing to destroy")
    assert render(render_infra.destroyed, 3) == "Destroyed (3 steps).\n"


def test_local_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cbdeploy.emulator", None)  # as if cbdeploy[local] were missing
    target = Target("dev", "us-east-1", None, None, True, "info")
    with pytest.raises(MissingExtraError) as info, open_aws(target):
        pass
    assert "pip install 'cbdeploy[local]'" in (info.value.hint or "")
