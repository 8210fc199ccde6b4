"""The runner in a workspace's build: a plan with ``folder`` runs its pipeline in that
service folder of the shipped tree, with ``CBDEPLOY_WORKSPACE_ROOT`` naming the tree's root,
whether the plan is ``.cbdeploy/plan.json`` (a service deployed alone) or
``.cbdeploy/services/<name>/plan.json`` (one build of a batch)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_runner import RUNNER_SRC, Result, make_plan, plain, signed_markers, step


def run_plan(tmp_path: Path, python: str, plan: dict[str, object], plan_path: str) -> Result:
    tree = tmp_path / "tree"
    (tree / "libs/shared").mkdir(parents=True, exist_ok=True)
    (tree / "libs/shared/lib.txt").write_text("shared\n")
    (tree / "services/api").mkdir(parents=True, exist_ok=True)
    shutil.copytree(RUNNER_SRC, tree / ".cbdeploy/runner", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    plan_file = tree / plan_path
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    completed = subprocess.run(
        [python, "-I", "-S", str(tree / ".cbdeploy/runner"), str(plan_file)],
        cwd=tmp_path, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    lines = completed.stdout.splitlines()
    return Result(completed.returncode, lines, signed_markers(lines))


@pytest.mark.parametrize("plan_path", [".cbdeploy/plan.json", ".cbdeploy/services/api/plan.json"])
def test_a_service_plan_runs_in_its_folder_with_the_workspace_root(
    tmp_path: Path, plan_path: str
) -> None:
    plan = make_plan(
        step("build", 'echo "$(basename "$PWD") $(ls ../../libs/shared)"',
             'test "$CBDEPLOY_WORKSPACE_ROOT/services/api" = "$PWD" && echo root-ok',
             "echo '{\"ok\": 1}' > outputs.json"),
        folder="services/api", outputsFile="outputs.json",
    )
    result = run_plan(tmp_path, "python3", plan, plan_path)
    assert result.code == 0, result.text
    assert plain(result) == ["api lib.txt", "root-ok"]
    assert [m.data for m in result.markers if m.event == "outputs"] == [{"outputs": {"ok": 1}}]


def test_a_plan_without_folder_runs_at_the_root_without_the_variable(tmp_path: Path) -> None:
    plan = make_plan(step("build", 'echo "$(basename "$PWD") ${CBDEPLOY_WORKSPACE_ROOT:-unset}"'))
    result = run_plan(tmp_path, "python3", plan, ".cbdeploy/plan.json")
    assert plain(result) == ["tree unset"]


@pytest.mark.parametrize("folder", ["../elsewhere", "/etc", "services/missing"])
def test_a_folder_outside_the_tree_or_missing_exits_2(tmp_path: Path, folder: str) -> None:
    result = run_plan(tmp_path, "python3", make_plan(step("build", "echo ran"), folder=folder),
                      ".cbdeploy/plan.json")
    assert result.code == 2
    assert "ran" not in plain(result)
