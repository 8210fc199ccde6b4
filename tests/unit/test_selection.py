"""Choosing a workspace deploy's services (client/deploy/selection.py): pure, no git, no AWS.

The workspace (infra <- api <- web, worker <- infra, docs alone) is loaded from
real files by ``load_workspace``, so ``paths`` match with the same
gitwildmatch rules as a deploy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cbdeploy.client.config.workspace import Workspace, load_workspace
from cbdeploy.client.deploy.selection import (
    Changes,
    Member,
    Request,
    ServiceChoice,
    check_request,
    select_services,
)
from cbdeploy.client.errors import UsageError
from tests.unit.test_workspace import workspace


@pytest.fixture
def shop(tmp_path: Path) -> Workspace:
    root = workspace(
        tmp_path,
        infra='name = "infra"\n',
        services__api='name = "api"\ndependsOn = ["infra"]\n'
                      'paths = ["services/api/**", "libs/shared/**", "!libs/shared/**/*.md"]\n',
        services__web='name = "web"\ndependsOn = ["api"]\n'
                      'paths = ["services/web/**", "libs/shared/ui/**"]\n',
        services__worker='name = "worker"\ndependsOn = ["infra"]\n'
                         'paths = ["services/worker/**", "libs/shared/**"]\n',
        services__docs='name = "docs"\n',
    )
    return load_workspace(root)


def at_root(ws: Workspace) -> Member:
    return Member(ws, None)


def rows(choice: ServiceChoice) -> list[tuple[str, tuple[str, ...]]]:
    return [(p.service.name, p.reasons) for p in choice.picked]


def refusal(request: Request, member: Member | None) -> str:
    with pytest.raises(UsageError) as raised:
        check_request(request, member)
    assert raised.value.exit_code == 2
    return f"{raised.value.message}\n{raised.value.hint}"


def test_at_the_root_without_options_every_service_in_dependency_order(shop: Workspace) -> None:
    choice = select_services(at_root(shop), Request())
    assert choice.names == tuple(s.name for s in shop.services)
    assert set(choice.names) == {"infra", "api", "web", "worker", "docs"}
    assert choice.names.index("infra") < choice.names.index("api") < choice.names.index("web")
    assert {p.reasons for p in choice.picked} == {("all services",)}


def test_in_a_service_folder_that_service_alone(shop: Workspace) -> None:
    choice = select_services(Member(shop, shop.service("web")), Request())
    assert rows(choice) == [("web", ("the service of this folder",))]


def test_service_brings_what_it_depends_on_and_says_whose_dependency(shop: Workspace) -> None:
    choice = select_services(at_root(shop), Request(services=("web",)))
    assert rows(choice) == [
        ("infra", ("dependency of web",)),
        ("api", ("dependency of web",)),
        ("web", ("requested",)),
    ]
    both = select_services(at_root(shop), Request(services=("worker", "api", "infra")))
    assert rows(both) == [
        ("infra", ("requested", "dependency of worker", "dependency of api")),
        ("api", ("requested",)),
        ("worker", ("requested",)),
    ]


def test_no_deps_takes_exactly_the_named_services(shop: Workspace) -> None:
    choice = select_services(at_root(shop), Request(services=("web", "worker"), no_deps=True))
    assert rows(choice) == [("web", ("requested",)), ("worker", ("requested",))]


def test_an_unknown_service_is_refused_naming_the_known_ones(shop: Workspace) -> None:
    text = refusal(Request(services=("api", "paymnets")), at_root(shop))
    assert "--service paymnets: no such service in the workspace shop" in text
    assert "The services are: " + ", ".join(s.name for s in shop.services) + "." in text


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (Request(since="main"), "--since main needs --affected"),
        (Request(no_deps=True), "--no-deps needs --service"),
        (Request(no_deps=True, affected=True), "--no-deps needs --service"),
    ],
)
def test_options_that_mean_nothing_alone_are_refused(
    shop: Workspace, request_: Request, words: str
) -> None:
    assert words in refusal(request_, at_root(shop))


def test_selection_options_outside_a_workspace_are_refused() -> None:
    assert "not a service of a workspace" in refusal(Request(affected=True), None)
    assert "--service api" in refusal(Request(services=("api",)), None)
    check_request(Request(), None)  # a plain project's plain deploy


def test_service_in_a_service_folder_is_refused(shop: Workspace) -> None:
    text = refusal(Request(services=("api",)), Member(shop, shop.service("web")))
    assert "in a service's folder, cbdeploy deploys that service (web) alone" in text
    assert str(shop.root) in text


def changes(files: tuple[str, ...], **whole: str) -> dict[str, Changes]:
    """Every service counted from one commit; ``whole``: services that count as changed."""
    found = {name: Changes("the last deploy to dev (1a2b3c4)", files)
             for name in ("infra", "api", "web", "worker", "docs")}
    for name, why in whole.items():
        found[name] = Changes("the last deploy to dev", whole=why)
    return found


def test_affected_picks_the_services_whose_paths_match_and_says_which_pattern(
    shop: Workspace,
) -> None:
    changed = ("libs/shared/prices.ts", "libs/shared/tax.ts", "README.md")
    choice = select_services(at_root(shop), Request(affected=True), changes(changed))
    assert rows(choice) == [
        ("api", ("changed: libs/shared/prices.ts matches libs/shared/** (and 1 more file)",)),
        ("worker", ("changed: libs/shared/prices.ts matches libs/shared/** (and 1 more file)",)),
    ]
    assert set(choice.unchanged) == {"infra", "web", "docs"}
    assert choice.since == (("the last deploy to dev (1a2b3c4)",
                             tuple(s.name for s in shop.services)),)


def test_affected_honours_negated_patterns_last_match_wins(shop: Workspace) -> None:
    notes = changes(("libs/shared/notes/CHANGES.md",))
    assert select_services(at_root(shop), Request(affected=True), notes).names == ("worker",)
    ui = changes(("libs/shared/ui/button.md",))
    choice = select_services(at_root(shop), Request(affected=True), ui)
    assert rows(choice) == [
        ("web", ("changed: libs/shared/ui/button.md matches libs/shared/ui/**",)),
        ("worker", ("changed: libs/shared/ui/button.md matches libs/shared/**",)),
    ]


def test_affected_adds_no_unchanged_dependency_but_keeps_a_changed_ones_reason(
    shop: Workspace,
) -> None:
    only_web = changes(("services/web/app.ts",))
    choice = select_services(at_root(shop), Request(services=("web",), affected=True), only_web)
    assert rows(choice) == [("web", ("changed: services/web/app.ts matches services/web/**",))]
    both = changes(("services/web/app.ts", "infra/main.tf"))
    choice = select_services(at_root(shop), Request(services=("web",), affected=True), both)
    assert rows(choice) == [
        ("infra", ("changed: infra/main.tf matches infra/**", "dependency of web")),
        ("web", ("changed: services/web/app.ts matches services/web/**",)),
    ]
    no_deps = Request(services=("web",), no_deps=True, affected=True)
    assert select_services(at_root(shop), no_deps, both).names == ("web",)


def test_a_service_counted_as_changed_as_a_whole_says_why(shop: Workspace) -> None:
    choice = select_services(at_root(shop), Request(affected=True),
                             changes((), docs="not deployed to dev yet"))
    assert rows(choice) == [("docs", ("not deployed to dev yet",))]


def test_affected_with_nothing_changed_is_an_empty_choice_not_an_error(shop: Workspace) -> None:
    choice = select_services(at_root(shop), Request(affected=True), changes(()))
    assert choice.picked == () and choice.affected
    assert len(choice.unchanged) == 5
    here = select_services(Member(shop, shop.service("api")), Request(affected=True),
                           changes(("services/web/x.ts",)))
    assert here.picked == () and here.unchanged == ("api",)


def rendered(*events: object) -> str:
    import io

    from rich.console import Console

    from cbdeploy.client.output.place import Place
    from cbdeploy.client.output.terminal import Renderer

    out = io.StringIO()
    renderer = Renderer(Console(file=out, width=100), place=Place("us-east-1"))
    for event in events:
        renderer.handle(event)  # type: ignore[arg-type]
    return out.getvalue()


def test_the_choice_is_shown_with_what_changes_count_from_and_hostile_names_defused(
    shop: Workspace,
) -> None:
    from cbdeploy.client.deploy.events import DeployRecorded, ServicesSelected

    changed = ("libs/shared/ui/\x1b]52;c;cGF5bG9hZA==\x07x.ts",)  # an OSC 52 clipboard write
    choice = select_services(at_root(shop), Request(services=("web",), affected=True),
                             changes(changed, api="not deployed to dev yet"))
    text = rendered(ServicesSelected(choice, "dev"))
    assert text.splitlines() == [
        "  changes since the last deploy to dev (1a2b3c4): infra, web",
        "  changes since the last deploy to dev: api",
        "Deploying 2 services:",
        "  api  not deployed to dev yet; dependency of web",
        "  web  changed: libs/shared/ui/x.ts matches libs/shared/ui/**",
        "  unchanged: infra",
        "",
    ]
    assert "\x1b" not in text and "\x07" not in text
    nothing = select_services(at_root(shop), Request(affected=True), changes(()))
    assert "✓ Nothing to deploy: no service changed (5 checked); nothing was started" in rendered(
        ServicesSelected(nothing, "dev"))
    assert rendered(DeployRecorded(("api", "web"), "dev", "ab" * 20, True, 2)) == (
        "  recorded ababababab with 2 uncommitted files as the last deploy of api, web to dev\n")
    failed = rendered(DeployRecorded(("api",), "dev", None, error="AccessDenied"))
    assert "! Could not record the deployed commit of api for stage dev: AccessDenied" in failed


def test_json_and_the_step_summary_say_what_was_chosen_or_that_nothing_was(
    shop: Workspace,
) -> None:
    from cbdeploy.client.deploy.events import ServicesSelected
    from cbdeploy.client.output.markdown import markdown_summary
    from cbdeploy.client.output.report import ReportCollector

    chosen = ReportCollector(clock=lambda: 0.0)
    chosen.handle(ServicesSelected(select_services(at_root(shop), Request(services=("api",))),
                                   "dev"))
    data = chosen.report()
    assert data["selection"] == [{"service": "infra", "reasons": ["dependency of api"]},
                                 {"service": "api", "reasons": ["requested"]}]
    assert data["changesSince"] is None

    nothing = ReportCollector(clock=lambda: 0.0)
    nothing.handle(ServicesSelected(
        select_services(at_root(shop), Request(affected=True), changes(())), "dev"))
    nothing.exited(0)
    data = nothing.report()
    assert (data["selection"], data["exitCode"], data["buildId"], data["error"]) == (
        [], 0, None, None)
    assert data["changesSince"] == [{"since": "the last deploy to dev (1a2b3c4)",
                                     "services": [s.name for s in shop.services]}]
    assert markdown_summary(data).startswith(
        "### ✅ cbdeploy deploy: nothing to deploy, no service changed\n")
