"""Workspaces: the root's [workspace], each service's dependsOn and paths, and the
config errors that name the file and line (ConfigError: exit 2 through the CLI)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from cbdeploy.client.config.load import load_config
from cbdeploy.client.config.workspace import find_workspace_root, load_workspace
from cbdeploy.client.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monorepo"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def workspace(tmp_path: Path, **services: str) -> Path:
    """A root declaring services/* and infra, plus the service files given by folder."""
    files = {"cbdeploy.toml": 'name = "shop"\n\n[workspace]\nservices = ["services/*", "infra"]\n'}
    for folder, text in services.items():
        files[f"{folder.replace('__', '/')}/cbdeploy.toml"] = text
    return write(tmp_path, files)


def error_of(root: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_workspace(root)
    return f"{raised.value.message}\n{raised.value.hint}"


def test_services_load_in_dependency_order_with_their_paths(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        services__web='name = "web"\ndependsOn = ["api", "infra"]\n',
        services__api='name = "api"\ndependsOn = ["infra"]\npaths = ["services/api/**", "libs/shared/**", "*.lock"]\n',
        infra='name = "infra"\n',
    )
    found = load_workspace(root)

    assert found.name == "shop" and found.root == root.resolve()
    assert [s.name for s in found.services] == ["infra", "api", "web"]
    web = found.service("web")
    assert web.folder == "services/web" and web.paths == ("services/web/**",)  # default: own folder
    assert web.depends_on == ("api", "infra")
    assert [s.name for s in found.with_dependencies(["web"])] == ["infra", "api", "web"]
    assert [s.name for s in found.with_dependencies(["api"])] == ["infra", "api"]
    assert found.service_at(root / "services" / "api") == found.service("api")
    assert found.service_at(root / "libs") is None


def test_paths_use_gitwildmatch_patterns_from_the_root(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        services__api='paths = ["services/api/**", "libs/shared/**", "*.lock", "!libs/shared/README.md"]\n',
        infra="",
    )
    found = load_workspace(root)
    api = found.service("api")

    assert api.matches("libs/shared/src/index.ts")
    assert api.matches("pnpm.lock") and api.matches("deep/down/yarn.lock")  # no slash: any depth
    assert not api.matches("libs/shared/README.md")  # negated
    assert not api.matches("services/web/main.py")
    changed = ["libs/shared/util.py", "infra/stack.py", "README.md"]
    assert found.affected(changed) == {"api": ("libs/shared/util.py",), "infra": ("infra/stack.py",)}


def test_a_dependency_cycle_names_the_file_and_line(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        services__api='name = "api"\n\ndependsOn = ["infra"]\n',
        infra='name = "infra"\ndependsOn = ["api"]\n',
    )
    message = error_of(root)

    assert "dependency cycle: api -> infra -> api" in message
    assert f"{root / 'services/api/cbdeploy.toml'}:3: dependsOn" in message


def test_an_unknown_service_in_depends_on(tmp_path: Path) -> None:
    root = workspace(tmp_path, services__api='dependsOn = ["infra", "databse"]\n', infra="")
    message = error_of(root)

    assert f"{root / 'services/api/cbdeploy.toml'}:1: dependsOn" in message
    assert "'databse', which is not a service" in message and "api, infra" in message


def test_two_services_with_one_name(tmp_path: Path) -> None:
    root = workspace(
        tmp_path, services__api='name = "backend"\n', services__worker='# the worker\nname = "backend"\n',
        infra="",
    )
    message = error_of(root)

    assert f"{root / 'services/worker/cbdeploy.toml'}:2: name" in message
    assert "two services are named 'backend': services/api and services/worker" in message


@pytest.mark.parametrize("pattern", ["../elsewhere", "/srv/app"])
def test_a_service_pattern_outside_the_workspace(tmp_path: Path, pattern: str) -> None:
    root = write(tmp_path / "ws", {"cbdeploy.toml": f'[workspace]\n\nservices = ["{pattern}"]\n'})
    message = error_of(root)

    assert f"{root / 'cbdeploy.toml'}:3: workspace.services" in message
    assert "outside the workspace" in message


def test_a_service_folder_linked_outside_the_workspace(tmp_path: Path) -> None:
    write(tmp_path / "outside", {"cbdeploy.toml": 'name = "stray"\n'})
    root = write(tmp_path / "ws", {"cbdeploy.toml": '[workspace]\nservices = ["services/*"]\n'})
    (root / "services").mkdir()
    os.symlink(tmp_path / "outside", root / "services" / "stray")
    message = error_of(root)

    assert f"{root / 'cbdeploy.toml'}:2: workspace.services" in message
    assert "services/stray resolves to" in message and "outside the workspace" in message


def test_service_folders_must_hold_a_config(tmp_path: Path) -> None:
    root = write(tmp_path, {"cbdeploy.toml": '[workspace]\nservices = ["infra"]\n', "infra/main.tf": ""})
    assert "'infra' holds no cbdeploy.toml" in error_of(root)
    write(tmp_path, {"cbdeploy.toml": '[workspace]\nservices = ["apps/*"]\n'})
    assert "'apps/*' matches no folder holding a cbdeploy.toml" in error_of(root)


def test_bad_workspace_values(tmp_path: Path) -> None:
    root = write(tmp_path, {"cbdeploy.toml": '[workspace]\nservices = "services/*"\n'})
    assert f"{root / 'cbdeploy.toml'}:2: workspace.services: must be an array of strings" in error_of(root)
    write(tmp_path, {"cbdeploy.toml": '[workspace]\nservices = ["a"]\nparallel = 3\n'})
    assert "workspace.parallel: is not a workspace setting" in error_of(root)
    write(tmp_path, {"cbdeploy.toml": '[workspace]\nservices = ["a"]\n',
                     "a/cbdeploy.toml": '[workspace]\nservices = ["b"]\n'})
    assert "a service cannot declare a workspace of its own" in error_of(root)
    write(tmp_path, {"a/cbdeploy.toml": 'paths = ["../x/**"]\n'})
    assert f"{root / 'a/cbdeploy.toml'}:1: paths" in error_of(root)
    write(tmp_path, {"a/cbdeploy.toml": 'dependsOn = ["a"]\n'})
    assert "a cannot depend on itself" in error_of(root)


def test_the_workspace_root_is_found_from_a_service_folder(tmp_path: Path) -> None:
    root = workspace(tmp_path, services__api="", infra="")

    assert find_workspace_root(root / "services" / "api") == root.resolve()
    assert find_workspace_root(root) == root.resolve()
    assert find_workspace_root(tmp_path.parent) is None


def test_service_and_root_files_still_load_as_projects(tmp_path: Path) -> None:
    """dependsOn, paths and [workspace] were unknown keys before workspaces."""
    root = workspace(
        tmp_path, services__api='name = "api"\ndependsOn = ["infra"]\npaths = ["libs/**"]\n',
        infra='name = "infra"\n',
    )
    assert load_config(root / "services" / "api", "dev").name == "api"
    assert load_config(root, "dev").name == "shop"
    write(tmp_path, {"services/api/cbdeploy.toml": '[stages.dev]\ndependsOn = ["infra"]\n'})
    with pytest.raises(ConfigError, match="dependsOn"):
        load_config(root / "services" / "api", "dev")  # not a per-stage setting


def test_the_monorepo_example_is_a_valid_workspace() -> None:
    found = load_workspace(EXAMPLE)

    assert [s.name for s in found.services][0] == "shop-infra"
    assert {s.name for s in found.services} == {"shop-infra", "api", "worker"}
    for service in found.services:
        load_config(EXAMPLE / service.folder, "dev")
    affected = found.affected(["libs/shared/shop_shared/prices.py"])
    assert set(affected) == {"api", "worker"}
