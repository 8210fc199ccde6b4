"""What bootstrap and destroy print, and --local without the [local] extra."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.aws.endpoint import Endpoint
from cbdeploy.client.errors import MissingExtraError
from cbdeploy.client.infra.calls import Call, Change
from cbdeploy.client.infra.model import Infrastructure
from cbdeploy.client.infra.names import stage_names
from cbdeploy.client.output import infra as render_infra
from cbdeploy.client.output.place import Place
from cbdeploy.client.target import Target

INFRA = Infrastructure(
    bucket="cbdeploy-123456789012-eu-west-1",
    role_arn="arn:aws:iam::123456789012:role/cbdeploy-a-very-long-application-name-production-eu-west-1",
    log_group="/cbdeploy/app",
    project="cbdeploy-app-dev",
)


def render(draw: object, *args: object, **kwargs: object) -> str:
    out = io.StringIO()
    console = Console(file=out, width=60, color_system=None)
    draw(console, *args, **kwargs)  # type: ignore[operator]
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
    assert render(render_infra.destroyed, 3, NAMES) == "Destroyed (3 steps).\n"


NAMES = stage_names("eta", "prod", account="123456789012", region="eu-west-1")


def test_nothing_to_destroy_says_where_it_looked() -> None:
    """A wrong region, account or app name shows at once (issue 17, item 4)."""
    lines = render(render_infra.destroyed, 0, NAMES).splitlines()
    assert lines[0] == (
        "Nothing to destroy in account 123456789012, region eu-west-1: none of these exists:"
    )
    assert lines[1:5] == [
        "  CodeBuild project:  cbdeploy-eta_prod",
        f"  IAM role:           {NAMES.role}",
        f"  IAM role:           {NAMES.batch_role}",
        "  Log group:          /cbdeploy/eta/prod",
    ]
    assert "s3://cbdeploy-123456789012-eu-west-1/sources/eta/prod/" in lines[5]
    everything = render(render_infra.destroyed, 0, NAMES, everything=True).splitlines()
    assert everything[-1] == "  Bucket:             cbdeploy-123456789012-eu-west-1"


def test_the_header_says_account_region_and_endpoint() -> None:
    local = Endpoint("http://127.0.0.1:4566", "standing")
    place = Place("eu-west-1", True, local)
    assert render(render_infra.header, "Destroy", NAMES, place).splitlines() == [
        "cbdeploy: Destroy",
        "",
        "  Stage:    prod",
        "  Region:   eu-west-1",
        "  Account:  123456789012",
        "  Project:  eta (cbdeploy-eta_prod)",
        f"  Endpoint: {local.label}",
        "",
    ]
    on_aws = render(render_infra.header, "Bootstrap", NAMES, Place("eu-west-1"))
    assert "Endpoint" not in on_aws and "  Account:  123456789012" in on_aws


def test_dry_run_shows_each_field_old_and_new() -> None:
    calls = [
        Call("update_project", {}, "Update CodeBuild project p", changes=(
            Change("environment.computeType", "BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM"),
        )),
        Call("put_inline_policy", {}, "Allow r its logs", changes=(
            Change("Statement", {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:a"}),
            Change("Statement", new={"Sid": "Logs", "Effect": "Allow", "Action": "logs:*",
                                     "Resource": ["arn:b", "arn:c"]}),
        )),
        Call("create_log_group", {}, "Create log group g", changes=(
            Change("tags.cbdeploy:app", new="eta"),
        )),
    ]
    assert render(render_infra.would_change, calls).splitlines() == [
        "bootstrap would (dry run, nothing changed):",
        "  • Update CodeBuild project p",
        "      environment.computeType: BUILD_GENERAL1_SMALL → BUILD_GENERAL1_MEDIUM",
        "  • Allow r its logs",
        "      - Statement: Allow s3:GetObject on arn:a",
        "      + Statement: Logs: Allow logs:* on arn:b, arn:c",
        "  • Create log group g",
        "      + tags.cbdeploy:app: eta",
    ]


def test_local_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cbdeploy.emulator", None)  # as if cbdeploy[local] were missing
    target = Target("dev", "us-east-1", None, None, True, "info")
    with pytest.raises(MissingExtraError) as info, open_aws(target):
        pass
    assert "pip install 'cbdeploy[local]'" in (info.value.hint or "")
