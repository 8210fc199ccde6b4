"""What ``deploy --affected`` counts as changed, with a real git repository.

client/packaging/changes.py (the files changed since a commit, uncommitted and
untracked ones, renames on both sides, odd names) and
client/deploy/choose.py's ``gather_changes`` (which commit each service's
changes count from: ``--since``, the stage's records, the merge base with the
default branch). The records here come from a plain dict; their round trip
through S3 is tests/functional/test_deploy_records.py's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from cbdeploy.client.config.workspace import load_workspace
from cbdeploy.client.deploy.choose import gather_changes, workspace_member
from cbdeploy.client.deploy.records import DeployRecord
from cbdeploy.client.deploy.selection import Member, Request, select_services
from cbdeploy.client.errors import UsageError
from cbdeploy.client.packaging.changes import (
    changed_between,
    default_merge_base,
    resolve,
    resolve_since,
    work_tree,
)
from tests.gitrepo import git as run_git

ODD = os.fsdecode(b"libs/shared/odd \xff\nname.txt")


pytestmark = pytest.mark.usefixtures("hermetic_git")


def git(cwd: Path, *args: str) -> str:
    return run_git(cwd, *args).decode(errors="surrogateescape").strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


WORKSPACE = {
    "cbdeploy.toml": 'name = "shop"\n[workspace]\nservices = ["services/*", "infra"]\n',
    "infra/cbdeploy.toml": 'name = "infra"\n',
    "infra/main.tf": "bucket\n",
    "services/api/cbdeploy.toml": 'name = "api"\ndependsOn = ["infra"]\n'
                                  'paths = ["services/api/**", "libs/shared/**"]\n',
    "services/api/app.py": "api\n",
    "services/worker/cbdeploy.toml": 'name = "worker"\ndependsOn = ["infra"]\n'
                                     'paths = ["services/worker/**", "libs/shared/**"]\n',
    "services/worker/app.py": "worker\n",
    "services/web/cbdeploy.toml": 'name = "web"\n',
    "services/web/app.py": "web\n",
    "libs/shared/prices.py": "prices\n",
    "libs/shared/old_name.py": "old\n",
    ".gitignore": "build/\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose workspace sits below its top (``repo/shop``), on branch main."""
    top = tmp_path / "repo"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    write(top, {"outside.txt": "not in the workspace\n"})
    write(top / "shop", WORKSPACE)
    commit(top, "first")
    return top


def test_changed_files_since_a_ref_with_renames_uncommitted_untracked_and_odd_names(
    repo: Path,
) -> None:
    root = repo / "shop"
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "shop/libs/shared/old_name.py", "shop/libs/shared/new_name.py")
    write(root, {"services/api/app.py": "api 2\n"})
    write(repo, {"outside.txt": "changed, but not shipped with the workspace\n"})
    commit(repo, "second")
    write(root, {"services/web/app.py": "web, not staged\n", "infra/new.tf": "staged\n",
                 "build/out.js": "ignored\n", "docs/untracked.md": "new\n"})
    git(root, "add", "infra/new.tf")
    (root / ODD).write_bytes(b"odd\n")

    assert changed_between(root, first) == (
        "libs/shared/new_name.py", "libs/shared/old_name.py", "services/api/app.py")
    tree = work_tree(root)
    assert tree is not None and tree.commit == git(repo, "rev-parse", "HEAD") and tree.dirty
    assert tree.pending == tuple(sorted(
        ["docs/untracked.md", "infra/new.tf", "services/web/app.py", ODD]))

    changes = gather_changes(load_workspace(root), stage="dev", since=first, tree=tree,
                             read_records=lambda names: {})
    assert changes["api"].since == f"{first} ({first[:7]})"
    assert set(changes["api"].files) == {
        "libs/shared/new_name.py", "libs/shared/old_name.py", "services/api/app.py",
        "services/web/app.py", "infra/new.tf", "docs/untracked.md", ODD}


def test_a_ref_that_does_not_resolve_is_exit_2_naming_it(repo: Path) -> None:
    for ref in ("no-such-branch", "--output=/tmp/x", "HEAD~5"):
        with pytest.raises(UsageError) as raised:
            resolve_since(repo / "shop", ref)
        assert raised.value.exit_code == 2
        assert raised.value.message.startswith(f"--since {ref}: no such commit")


def test_after_one_change_under_libs_shared_affected_picks_exactly_the_services_it_covers(
    repo: Path,
) -> None:
    """Issue 15's check: one file under libs/shared/ changed since the ref picks api and
    worker, whose paths cover it, and neither infra (their dependency) nor web."""
    root = repo / "shop"
    first = git(repo, "rev-parse", "HEAD")
    write(root, {"libs/shared/prices.py": "prices, cheaper\n"})
    commit(repo, "cheaper")
    member = workspace_member(root)
    assert member is not None and member.here is None
    changes = gather_changes(member.workspace, stage="dev", since=first, tree=work_tree(root),
                             read_records=lambda names: {})
    choice = select_services(member, Request(affected=True, since=first), changes)
    assert [(p.service.name, p.reasons) for p in choice.picked] == [
        ("api", ("changed: libs/shared/prices.py matches libs/shared/**",)),
        ("worker", ("changed: libs/shared/prices.py matches libs/shared/**",)),
    ]
    assert set(choice.unchanged) == {"infra", "web"}


def test_without_records_changes_count_from_the_merge_base_with_the_default_branch(
    repo: Path,
) -> None:
    root = repo / "shop"
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    write(root, {"services/web/app.py": "web 2\n"})
    commit(repo, "web")
    git(repo, "checkout", "-q", "main")
    write(root, {"services/api/app.py": "api on main, after the branch\n"})
    commit(repo, "api on main")
    git(repo, "checkout", "-q", "feature")

    found = default_merge_base(root)
    assert found is not None and (found.branch, found.commit) == ("main", base)
    changes = gather_changes(load_workspace(root), stage="dev", since=None,
                             tree=work_tree(root), read_records=lambda names: {})
    assert changes["web"].files == ("services/web/app.py",)  # not main's api change
    assert changes["web"].since == f"the merge base with main ({base[:7]})"

    # The remote's default branch comes first when the clone knows it.
    git(repo, "update-ref", "refs/remotes/origin/trunk", base)
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    found = default_merge_base(root)
    assert found is not None and found.branch == "origin/HEAD"


def test_no_record_and_no_default_branch_is_exit_2_asking_for_since(repo: Path) -> None:
    git(repo, "branch", "-m", "main", "trunk")
    with pytest.raises(UsageError) as raised:
        gather_changes(load_workspace(repo / "shop"), stage="dev", since=None,
                       tree=work_tree(repo / "shop"), read_records=lambda names: {})
    assert "stage dev has no recorded deploy" in raised.value.message
    assert "--since REF" in (raised.value.hint or "")


def test_each_service_counts_from_its_own_record(repo: Path) -> None:
    """A recorded commit; a dirty record's files; a commit this clone lacks; no record while
    the stage has others: each service says what it was compared with, or why it counts."""
    root = repo / "shop"
    first = git(repo, "rev-parse", "HEAD")
    write(root, {"services/api/app.py": "api 2\n"})
    second = commit(repo, "api")
    records = {
        "api": DeployRecord("api", second),  # deployed after the change: unchanged since
        "worker": DeployRecord("worker", first, dirty=True,
                               dirty_paths=("libs/shared/prices.py",)),  # shipped an edit
        "infra": DeployRecord("infra", "f" * 40),  # not in this clone
    }
    asked: list[list[str]] = []

    def read(names: Iterable[str]) -> dict[str, DeployRecord]:
        asked.append(list(names))
        return records

    workspace = load_workspace(root)
    changes = gather_changes(workspace, stage="dev", since=None, tree=work_tree(root),
                             read_records=read)
    assert asked == [[s.name for s in workspace.services]]
    choice = select_services(Member(workspace, None), Request(affected=True), changes)
    reasons = {
        "infra": (f"its last deploy to dev ({'f' * 7}) is not in this clone",),
        "worker": ("changed: libs/shared/prices.py matches libs/shared/**",),
        "web": ("not deployed to dev yet",),
    }
    in_order = [s.name for s in workspace.services if s.name in reasons]
    assert [(p.service.name, p.reasons) for p in choice.picked] == [
        (name, reasons[name]) for name in in_order]
    assert choice.unchanged == ("api",)
    assert changes["api"].since == f"the last deploy to dev ({second[:7]})"
    assert resolve(root, "f" * 40) is None


def test_a_dirty_deploy_with_too_many_files_to_list_counts_its_service_as_changed(
    repo: Path,
) -> None:
    import datetime as dt

    from cbdeploy.client.deploy.records import MAX_DIRTY_PATHS, record_of
    from cbdeploy.client.packaging.changes import WorkTree

    root = repo / "shop"
    head = git(repo, "rev-parse", "HEAD")
    many = WorkTree(head, tuple(f"gen/{i}.txt" for i in range(MAX_DIRTY_PATHS + 1)))
    now = dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc)
    listed = record_of("api", WorkTree(head, ("a.txt",)), build_id=None, now=now)
    unlisted = record_of("api", many, build_id=None, now=now)
    assert listed is not None and listed.dirty_paths == ("a.txt",)
    assert unlisted is not None and unlisted.dirty and unlisted.dirty_paths is None
    changes = gather_changes(load_workspace(root), stage="dev", since=None,
                             tree=work_tree(root), read_records=lambda names: {"api": unlisted})
    assert changes["api"].whole == "its last deploy to dev shipped uncommitted files too many to list"


def test_without_git_on_the_path_there_is_no_work_tree_and_no_crash(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service deploy on a machine without git records nothing instead of failing."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert work_tree(repo / "shop") is None
