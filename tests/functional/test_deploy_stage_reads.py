"""A deploy reads its stage (bootstrap's Get/Describe calls, the stage's base for a delta)
on a thread of its own once AWS has answered, while the files are still being selected
(issue 16, target 4): process start to StartBuild no longer waits for them after
packaging. The writes, their order and what a failing deploy leaves behind stay as they
were. The real emulator answers (``cli`` and ``make_project``: test_deploy_cli)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

import cbdeploy.client.deploy.delta as delta_module
import cbdeploy.client.deploy.preamble as preamble_module
import cbdeploy.client.deploy.service as service_module
from tests.functional.test_deploy_cli import cli, make_project

__all__ = ["cli"]  # the fixture, used by name

WAIT = 20.0  # seconds the selection waits for the reads: far more than they take


class Overlap:
    """``select_files`` waits (up to WAIT) until ``done`` is set by a read on another
    thread; records on which thread each read ran and whether the selection was then
    still waiting for it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.done = threading.Event()
        self.selecting = threading.Event()
        self.seen: list[tuple[str, str, bool]] = []
        real_select = service_module.select_files

        def selecting_files(*args: Any, **kwargs: Any) -> Any:
            self.selecting.set()
            self.done.wait(timeout=WAIT)
            self.done.clear()
            self.selecting.clear()
            return real_select(*args, **kwargs)

        monkeypatch.setattr(service_module, "select_files", selecting_files)

    def wrap(self, what: str, read: Callable[..., Any],
             mine: Callable[..., bool]) -> Callable[..., Any]:
        """``read`` recorded when ``mine(*args)``: it reads this test's stage (a thread that a
        previous test's failed deploy left reading, where a process would have ended, is
        not this test's business)."""

        def reading(*args: Any, **kwargs: Any) -> Any:
            try:
                return read(*args, **kwargs)
            finally:
                if mine(*args):
                    self.seen.append((what, threading.current_thread().name,
                                      self.selecting.is_set()))
                    self.done.set()

        return reading


def test_bootstrap_reads_run_while_the_files_are_selected(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First deploy of a stage: the observation is made on the stage thread during the
    selection; the writes it plans still come after packaging, in the same order."""
    project = make_project(tmp_path, build="echo built")
    overlap = Overlap(monkeypatch)
    monkeypatch.setattr(preamble_module, "observe", overlap.wrap(  # (a delta's: read_stage's)
        "observe", preamble_module.observe,
        lambda _aws, settings, _names: settings.name == project.name))
    result = cli(project, "deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert overlap.seen == [("observe", "cbdeploy-stage", True)]
    out = result.output
    assert out.index("Packaged") < out.index("Create log group") < out.index("Create CodeBuild")
    assert out.index("Create CodeBuild project") < out.index("Started build") and "built" in out


def test_the_base_of_a_delta_is_looked_for_while_the_files_are_selected(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Second deploy: the stage's base (local record, HeadObject) is found during the
    selection, on a thread of the stage's reads of its own (the record is read while
    bootstrap's reads wait on AWS), and the deploy sends a delta against it. A fresh clone
    (no local record) reads the bucket's pointer there too, and writes the record only
    once the selection has succeeded."""
    project = make_project(tmp_path, build="cat hello.txt")
    first = cli(project, "deploy", "--yes", "--json")
    assert first.exit_code == 0, first.output
    (project / "hello.txt").write_text("hello from the delta\n")
    overlap = Overlap(monkeypatch)
    monkeypatch.setattr(delta_module.BaseStore, "find_recorded", overlap.wrap(
        "find", delta_module.BaseStore.find_recorded,
        lambda store, *_: f"/{project.name}/" in store.prefix))
    second = cli(project, "deploy", "--yes", "--json")
    assert second.exit_code == 0, second.output
    assert overlap.seen == [("find", "cbdeploy-base_0", True)]
    report = json.loads(second.stdout.strip().splitlines()[-1])
    assert report["upload"]["kind"] == "delta", report
    assert "hello from the delta" in second.output

    bases = project / ".cbdeploy" / "cache" / "bases"
    for record in bases.iterdir():
        os.unlink(record)  # as in a fresh clone: the bucket's pointer is read
    seen_record: list[bool] = []
    real_select = service_module.select_files

    def selecting(*args: Any, **kwargs: Any) -> Any:
        found = real_select(*args, **kwargs)
        seen_record.append(any(bases.iterdir()))  # the selection is done: nothing written yet
        return found

    monkeypatch.setattr(service_module, "select_files", selecting)
    (project / "hello.txt").write_text("hello again\n")
    third = cli(project, "deploy", "--yes", "--json")
    assert third.exit_code == 0, third.output
    assert json.loads(third.stdout.strip().splitlines()[-1])["upload"]["kind"] == "delta"
    assert seen_record == [False] and any(bases.iterdir())


def test_git_status_runs_after_the_selection_and_the_build_is_told_its_answer(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``git status`` walks the same tree as the selection's own git processes: it runs
    once the files are selected (on its own thread, while they are hashed and packed),
    after ``.cbdeploy/.gitignore`` exists, so that the caches written meanwhile never make
    a clean work tree look dirty. The build gets the commit, branch and a clean state."""
    project = make_project(
        tmp_path, build='echo "git=$CBDEPLOY_GIT_COMMIT/$CBDEPLOY_GIT_BRANCH/$CBDEPLOY_GIT_DIRTY"')
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=project, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                            capture_output=True, text=True).stdout.strip()
    events: list[tuple[str, str, bool]] = []
    real_select, real_git = service_module.select_files, service_module.deploy_git_info

    def selecting(*args: Any, **kwargs: Any) -> Any:
        found = real_select(*args, **kwargs)
        events.append(("selected", threading.current_thread().name, False))
        return found

    def status(*args: Any, **kwargs: Any) -> Any:
        ignored = (project / ".cbdeploy" / ".gitignore").is_file()
        events.append(("git status", threading.current_thread().name, ignored))
        return real_git(*args, **kwargs)

    monkeypatch.setattr(service_module, "select_files", selecting)
    monkeypatch.setattr(service_module, "deploy_git_info", status)
    result = cli(project, "deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert events == [("selected", "MainThread", False), ("git status", "cbdeploy-git", True)]
    assert f"git={commit}/main/false" in result.output
