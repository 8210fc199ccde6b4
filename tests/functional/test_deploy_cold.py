"""A cold deploy (no package cache: every CI deploy) starts its worker processes before the
files are selected and hands them the tracked files as they are resolved, as ``cbdeploy
package`` does (``packaging.early``). The archive it uploads must be the bytes of a build
that compressed everything on threads after selection.

Real git repository, real worker processes, the real deploy through the CLI against the
test session's emulator (which runs the build).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from cbdeploy.client.packaging import select_files
from cbdeploy.client.packaging.archive import ArchiveBuilder
from cbdeploy.client.packaging.early import EarlyBatches
from tests.functional.test_deploy_cli import cli, make_project
from tests.functional.test_packaging_workers import make_tree
from tests.functional.test_workspace_deploy import make_workspace
from tests.gitrepo import git

__all__ = ["cli"]  # the fixture, used by name
pytestmark = pytest.mark.usefixtures("hermetic_git")

MANIFEST = ".cbdeploy/manifest.json"  # written by the builder itself


def _committed(root: Path, *, tree: Path | None = None) -> None:
    """``root`` a git repository whose commit holds a 1,500-file tree (at ``tree``)."""
    make_tree(tree or root, files=1500)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tree")


def _same_as_on_threads(project: Path, tmp_path: Path) -> None:
    """The archive the deploy kept (--preserve-temp-files) is the bytes of a build on
    threads of the same files with the same added entries."""
    [kept] = [p for p in (project / ".cbdeploy").glob("*/archive.zip")
              if p.parent.name != "cache"]  # the invocation's folder, not the cache's copy
    with zipfile.ZipFile(kept) as shipped:
        added = {name: shipped.read(name) for name in shipped.namelist()
                 if name.startswith(".cbdeploy/") and name != MANIFEST}
    assert ".cbdeploy/files.json" in added
    again = ArchiveBuilder(processes=False).build(
        select_files(project), tmp_path / "threads.zip", added, None)
    assert kept.read_bytes() == (tmp_path / "threads.zip").read_bytes()
    assert again.file_count == len(select_files(project).files)


def test_a_cold_deploy_hands_files_to_its_workers_early_and_ships_the_same_bytes(
    cli: Callable[..., Result], tmp_path: Path, early_batches_made: list[EarlyBatches]
) -> None:
    made = early_batches_made
    project = make_project(tmp_path, build='test -x run.sh && echo "seen: $(ls pkg0/src0 | wc -l)"')
    _committed(project)
    result = cli(project, "deploy", "--yes", "--preserve-temp-files")
    assert result.exit_code == 0, result.output
    assert "seen: 72" in result.output  # the build has pkg0/src0's files (i % 21 == 0)
    assert len(made) == 1 and made[0].taken > 5 and not made[0].handed
    _same_as_on_threads(project, tmp_path)

    # A redeploy has a cache to copy from: no workers are started ahead.
    made.clear()
    assert cli(project, "deploy", "--yes").exit_code == 0
    assert made == []


def test_a_cold_workspace_batch_deploy_does_the_same(
    cli: Callable[..., Result], tmp_path: Path, early_batches_made: list[EarlyBatches]
) -> None:
    made = early_batches_made
    root = make_workspace(tmp_path, infra_sleep=0)
    (root / "libs" / "big").mkdir()
    _committed(root, tree=root / "libs" / "big")
    result = cli(root, "deploy", "--yes", "--preserve-temp-files")
    assert result.exit_code == 0, result.output
    assert len(made) == 1 and made[0].taken > 5 and not made[0].handed
    _same_as_on_threads(root, tmp_path)
