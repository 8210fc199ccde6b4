"""A cold build's workers compress the tracked files while the rest are selected.

Real git repositories, real worker processes: the archive must be the bytes of a
build that compressed everything on threads after selection, whatever lies
between the files handed out early (untracked files, a deleted file, the
archive itself, the manifest).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cbdeploy.client.packaging import build_archive, select_files
from cbdeploy.client.packaging.archive import ArchiveBuilder
from cbdeploy.client.packaging.early import EarlyBatches
from cbdeploy.client.packaging.workers import start_workers
from tests.functional.test_packaging_workers import make_tree
from tests.gitrepo import git

pytestmark = pytest.mark.usefixtures("hermetic_git")


def committed_tree(root: Path, files: int = 1500) -> Path:
    make_tree(root, files=files)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tree")
    return root


def early_build(project: Path, output: Path, *, budget: int = 32 << 20) -> EarlyBatches:
    """A build as ``cbdeploy package`` does it cold: files handed out while selected."""
    with start_workers(2) as workers:
        assert workers is not None
        early = EarlyBatches(workers, budget=budget)
        selection = select_files(project, on_files=early.feed)
        handed = len(early.handed)
        assert handed > 0  # the workers had batches before the build started
        build_archive(selection, output, workers=workers, early=early)
        assert early.taken + early.discarded >= handed and not early.handed
        assert workers.held == 0  # no reply of a discarded batch stays behind
    return early


def thread_build(project: Path, output: Path) -> bytes:
    ArchiveBuilder(processes=False).build(select_files(project), output, {}, None)
    return output.read_bytes()


def test_a_clean_tree_takes_every_early_batch(tmp_path: Path) -> None:
    project = committed_tree(tmp_path / "p")
    early = early_build(project, tmp_path / "early.zip")
    assert (tmp_path / "early.zip").read_bytes() == thread_build(project, tmp_path / "t.zip")
    assert early.taken > 10
    assert early.discarded <= 1  # the last one may end where the manifest comes in


def test_files_between_the_early_batches_give_the_same_archive(tmp_path: Path) -> None:
    """Untracked files, a deleted tracked file and the output inside the project fall
    between the batches handed out early: those are formed anew, the others taken."""
    project = committed_tree(tmp_path / "p")
    (project / "pkg3" / "src0" / "file0003a.js").write_text("untracked, between tracked files\n")
    (project / "pkg5" / "new.txt").write_text("untracked too\n")
    (project / "pkg1" / "src1" / "file0001.js").unlink()  # tracked, deleted from the disk
    output = project / "pkg2" / "out.zip"  # not in its own archive (the command drops it)
    output.write_bytes(b"an older archive")
    with start_workers(2) as workers:
        assert workers is not None
        early = EarlyBatches(workers)
        selection = select_files(project, on_files=early.feed)
        kept = tuple(f for f in selection.files if f.path != "pkg2/out.zip")
        selection = replace(selection, files=kept)
        build_archive(selection, tmp_path / "early.zip", workers=workers, early=early)
        reference = tmp_path / "threads.zip"
        ArchiveBuilder(processes=False).build(selection, reference, {}, None)
    assert (tmp_path / "early.zip").read_bytes() == reference.read_bytes()
    assert early.discarded >= 2 and early.taken > 5


def test_a_small_budget_hands_out_less_and_the_build_does_the_rest(tmp_path: Path) -> None:
    project = committed_tree(tmp_path / "p", files=800)
    early = early_build(project, tmp_path / "early.zip", budget=300_000)
    assert 0 < early.taken + early.discarded < 8
    assert (tmp_path / "early.zip").read_bytes() == thread_build(project, tmp_path / "t.zip")

