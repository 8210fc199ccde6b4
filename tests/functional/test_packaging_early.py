"""A cold build's workers compress the tracked files while the rest are selected.

Real git repositories, real worker processes: the archive must be the bytes of a
build that compressed everything on threads after selection, whatever lies
between the files handed out early (untracked files, a deleted file, the
archive itself, the manifest).
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import cbdeploy.client.packaging.cold as cold_module
import cbdeploy.client.packaging.early as early_module
from cbdeploy.client.packaging import build_archive, bulk, select_files
from cbdeploy.client.packaging.archive import MANIFEST, ArchiveBuilder, _batched
from cbdeploy.client.packaging.cold import cold_units
from cbdeploy.client.packaging.destination import complete_stats
from cbdeploy.client.packaging.early import (
    BATCH_BYTES,
    BATCH_FILES,
    Batch,
    EarlyBatches,
    batch_ends,
)
from cbdeploy.client.packaging.reader import LARGE, default_open, item_size
from cbdeploy.client.packaging.runs import entries_one_by_one
from cbdeploy.client.packaging.workers import Workers, start_workers
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


def test_a_clean_tree_takes_every_early_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files on both sides of the manifest's place (``.babelrc`` before it): an early
    batch ends there, so none is discarded for holding it; and the manifest, before the
    early batches, is compressed by the builder itself, not queued behind them."""
    project = tmp_path / "p"
    project.mkdir()
    for name in (".babelrc", ".a", ".c", ".cbdeploy-notes", ".cbdeployrc", ".d"):
        (project / name).write_text(f"{name}\n")
    committed_tree(project)
    submitted: list[bytes] = []
    submit = Workers.submit

    def recording(self: Workers, items: list[Any], size: int) -> int:
        submitted.extend(item[0] for item in items)
        return submit(self, items, size)

    monkeypatch.setattr(Workers, "submit", recording)
    early = early_build(project, tmp_path / "early.zip")
    assert (tmp_path / "early.zip").read_bytes() == thread_build(project, tmp_path / "t.zip")
    assert early.taken > 10
    assert early.discarded == 0
    assert b".babelrc" in submitted and MANIFEST.encode() not in submitted


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



def test_a_cold_build_makes_each_files_item_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: the files of the batches handed out early are not made into items again
    by the build (it takes those batches whole): one item per file in all."""
    project = committed_tree(tmp_path / "p")
    made: list[int] = []

    def counting(names: list[bytes], *rest: Any) -> Any:
        made.append(len(names))
        return original(names, *rest)

    original = early_module.file_items
    monkeypatch.setattr(cold_module, "file_items", counting)
    fed: list[int] = []

    def feeding(names: list[bytes], *rest: Any) -> Any:
        fed.append(len(names))
        return original(names, *rest)

    monkeypatch.setattr(early_module, "file_items", feeding)
    early = early_build(project, tmp_path / "early.zip")
    files = len(select_files(project).files)
    assert early.taken > 10 and sum(fed) > files // 2  # most went out early
    assert sum(fed) + sum(made) == files
    assert (tmp_path / "early.zip").read_bytes() == thread_build(project, tmp_path / "t.zip")


@pytest.mark.parametrize("added", [
    [".cbdeploy/manifest.json"],
    [".cbdeploy/manifest.json", ".cbdeploy/plan.json", "pkg3/src0/file0003a.js", "zzz.txt", "a"],
])
def test_cold_batches_hold_the_entries_in_archive_order(
    tmp_path: Path, added: list[str]
) -> None:
    """The batches of a cold build, formed in bulk, hold the entries the entry-by-entry
    plan gives, in its order: the added entries in their places (several before one
    file, before the first, after the last), a large file alone."""
    project = committed_tree(tmp_path / "p", files=700)
    selection = select_files(project)
    stats = complete_stats(selection)
    extra = {path: path.encode() * 3 for path in added}
    columns = bulk.FileColumns(selection.files, stats)
    units = cold_units(selection.files, columns, extra, None)
    assert units is not None
    batches = list(units)
    expected = list(entries_one_by_one(selection.files, stats, extra, None, b"/", default_open))
    assert [item for batch in batches for item in batch.items] == expected
    assert [b.items for b in batches] == [b.items for b in _batched(expected)]  # same rule
    assert all(b.size == sum(map(item_size, b.items)) for b in batches)


def test_batch_ends_follow_the_batch_rule() -> None:
    """Batches found a batch at a time end where adding the entries one by one to a
    :class:`Batch` ends them, after any batch being formed."""
    rng = random.Random(5)
    choices = [0, 1, 100, 5000, 20_000, 300_000, LARGE, LARGE + 1, 3 * LARGE]
    for _ in range(2000):
        if rng.random() < 0.5:
            sizes = [rng.choice(choices) for _ in range(rng.randint(0, 500))]
        else:
            sizes = [rng.randint(0, 20_000) for _ in range(rng.randint(0, 500))]
        count = rng.randint(1, BATCH_FILES - 1) if rng.random() < 0.5 else 0
        total = rng.randint(0, BATCH_BYTES - 1) if count else 0
        batch, ends = Batch([(b"",)] * count, total), []  # type: ignore[list-item]
        for at, size in enumerate(sizes):
            if batch.cut_before(size):
                ends.append(at)
                batch = Batch()
            batch.add((b"", 0, b"", False), size)
            if batch.full():
                ends.append(at + 1)
                batch = Batch()
        assert batch_ends(sizes, count, total) == (ends, len(batch.items), batch.size)
