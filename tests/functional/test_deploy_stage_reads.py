"""A deploy reads its stage (bootstrap's Get/Describe calls, the stage's base for a delta)
on a thread of its own once AWS has answered, while the files are still being selected
(issue 16, target 4): process start to StartBuild no longer waits for them after
packaging. The writes, their order and what a failing deploy leaves behind stay as they
were. The real emulator answers (``cli`` and ``make_project``: test_deploy_cli)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

import cbdeploy.client.deploy.delta as delta_module
import cbdeploy.client.deploy.service as service_module
import cbdeploy.client.infra.bootstrap as bootstrap_module
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

    def wrap(self, what: str, read: Callable[..., Any]) -> Callable[..., Any]:
        def reading(*args: Any, **kwargs: Any) -> Any:
            try:
                return read(*args, **kwargs)
            finally:
                self.seen.append((what, threading.current_thread().name, self.selecting.is_set()))
                self.done.set()

        return reading


def test_bootstrap_reads_run_while_the_files_are_selected(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First deploy of a stage: the observation is made on the stage thread during the
    selection; the writes it plans still come after packaging, in the same order."""
    overlap = Overlap(monkeypatch)
    monkeypatch.setattr(bootstrap_module, "observe", overlap.wrap("observe", bootstrap_module.observe))
    project = make_project(tmp_path, build="echo built")
    result = cli(project, "deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert overlap.seen == [("observe", "cbdeploy-stage", True)]
    out = result.output
    assert out.index("Packaged") < out.index("Create bucket") < out.index("Create CodeBuild project")
    assert out.index("Create CodeBuild project") < out.index("Started build") and "built" in out


def test_the_base_of_a_delta_is_looked_for_while_the_files_are_selected(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Second deploy: the stage's base (local record, HeadObject) is found on the stage
    thread during the selection, and the deploy sends a delta against it. A fresh clone
    (no local record) reads the bucket's pointer there too, and writes the record only
    once the selection has succeeded."""
    project = make_project(tmp_path, build="cat hello.txt")
    first = cli(project, "deploy", "--yes", "--json")
    assert first.exit_code == 0, first.output
    (project / "hello.txt").write_text("hello from the delta\n")
    overlap = Overlap(monkeypatch)
    monkeypatch.setattr(delta_module.BaseStore, "find",
                        overlap.wrap("find", delta_module.BaseStore.find))
    second = cli(project, "deploy", "--yes", "--json")
    assert second.exit_code == 0, second.output
    assert overlap.seen == [("find", "cbdeploy-stage", True)]
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
