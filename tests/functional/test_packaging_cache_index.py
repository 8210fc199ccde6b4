"""The re-package cache's columnar index: compared in bulk, copied by run, left alone
when nothing changed, and byte-identical archives whatever changed (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cbdeploy.client.packaging.writer as writer_module
from cbdeploy.client.packaging import select_files
from cbdeploy.client.packaging.archive import ArchiveBuilder
from cbdeploy.client.packaging.cache import INDEX, ArchiveCache
from cbdeploy.client.packaging.table import (
    FLAG_CENTRAL,
    FLAG_SIMPLE,
    FLAG_SORTED,
    NO_DIGEST,
    Row,
    Table,
    differing,
    load_columns,
    pack_key,
)

FUTURE_NS = time.time_ns() + 3600 * 10**9  # a build clock for which no file is "racy"


def make_tree(root: Path, count: int = 60) -> Path:
    for i in range(count):
        path = root / f"d{i % 7}" / f"f{i:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"file {i}\n".encode() * (i + 1))
    return root


def build(project: Path, out: Path, cache: Path | None, extra: dict[str, bytes] | None = None) -> str:
    builder = ArchiveBuilder(clock_ns=lambda: FUTURE_NS)
    return builder.build(select_files(project), out, extra or {}, cache).sha256


def index_identity(cache: Path) -> tuple[int, int]:
    st = os.stat(cache / INDEX)
    return st.st_ino, st.st_mtime_ns


def test_an_unchanged_repackage_leaves_the_index_alone_and_any_change_rewrites_it(
    tmp_path: Path,
) -> None:
    project, cache = make_tree(tmp_path / "p"), tmp_path / "cache"
    first = build(project, tmp_path / "a.zip", cache)
    before = index_identity(cache)
    assert build(project, tmp_path / "b.zip", cache) == first
    assert index_identity(cache) == before  # nothing to say that the index does not say

    # A touch: the same bytes, a new stat. The archive is the same, the index is not.
    target = project / "d3" / "f010.txt"
    os.utime(target, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
    assert build(project, tmp_path / "c.zip", cache) == first
    assert index_identity(cache) != before
    key = ArchiveCache(cache).rows[b"d3/f010.txt"][:6]
    assert key == tuple(select_files(project).stats["d3/f010.txt"])

    # A content change rewrites it too, and the next build copies the new record.
    after_touch = index_identity(cache)
    target.write_bytes(b"changed\n")
    changed = build(project, tmp_path / "d.zip", cache)
    assert changed != first and index_identity(cache) != after_touch
    assert build(project, tmp_path / "e.zip", None) == changed


def test_added_removed_files_and_changed_added_entries_give_a_cold_builds_bytes(
    tmp_path: Path,
) -> None:
    """Another list of names than the index's: each file is looked up alone; the
    runs between the new and the gone are still copied, offsets and all."""
    project, cache = make_tree(tmp_path / "p"), tmp_path / "cache"
    build(project, tmp_path / "a.zip", cache, {"zz/plan.json": b"{}"})
    (project / "d2" / "f009.txt").unlink()
    (project / "d0" / "new.txt").write_bytes(b"new\n" * 30)
    (project / "d5" / "f005.txt").write_bytes(b"grown\n" * 500)
    extra = {"zz/plan.json": b'{"a": 1}' * 40, "d4/added.json": b"[]"}
    warm = build(project, tmp_path / "warm.zip", cache, extra)
    assert warm == build(project, tmp_path / "cold.zip", None, extra)
    assert (tmp_path / "warm.zip").read_bytes() == (tmp_path / "cold.zip").read_bytes()
    assert build(project, tmp_path / "again.zip", cache, extra) == warm


def test_central_records_made_again_when_they_cannot_be_copied_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 4 GiB a copied record's central entry needs ZIP64 fields, so it is made
    again from the index instead of patched; with the limit lowered to a few bytes
    every run takes that way, and the bytes are still a cold build's."""
    project, cache = make_tree(tmp_path / "p"), tmp_path / "cache"
    build(project, tmp_path / "a.zip", cache)
    assert ArchiveCache(cache).columns.flags == FLAG_SIMPLE | FLAG_CENTRAL | FLAG_SORTED
    (project / "d1" / "f001.txt").write_bytes(b"moved everything after it\n" * 9)
    monkeypatch.setattr(writer_module, "LIMIT_32", 64)
    warm = build(project, tmp_path / "warm.zip", cache)
    monkeypatch.undo()
    assert warm == build(project, tmp_path / "cold.zip", None)
    assert (tmp_path / "warm.zip").read_bytes() == (tmp_path / "cold.zip").read_bytes()


def test_bulk_comparison_finds_exactly_the_changed_rows() -> None:
    keys = [pack_key((i, i * 7, i * 11, i, 1, 0o100644)) for i in range(1000)]
    changed = {0, 1, 500, 511, 512, 999}
    other = [pack_key((k + 1, 0, 0, 0, 0, 0)) if i in changed else key
             for i, (k, key) in enumerate(zip(range(1000), keys, strict=True))]
    assert sorted(differing(b"".join(keys), b"".join(other), 1000)) == sorted(changed)
    assert differing(b"".join(keys), b"".join(keys), 1000) == []


@pytest.mark.parametrize("untracked", [3, 400])
def test_untracked_files_take_their_place_among_the_tracked(tmp_path: Path, untracked: int) -> None:
    """Tracked files are sorted out while git still lists the untracked ones; the
    untracked then go in their byte-order places (a few by insertion, many by a sort)."""
    project = make_tree(tmp_path / "p", 40)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "commit", "-qm", "t"], cwd=project, check=True, env=env)
    for i in range(untracked):
        (project / f"d{i % 7}" / f"u{i:03d}.txt").write_bytes(b"u")
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=project,
                            capture_output=True, check=True).stdout.split(b"\0")[:-1]
    selection = select_files(project)
    assert [os.fsencode(f.path) for f in selection.files] == sorted(listed)
    assert len(selection.files) == 40 + untracked
    assert set(selection.stats) == {f.path for f in selection.files}


def test_a_package_without_a_config_reads_no_aws_profile(tmp_path: Path) -> None:
    """No cbdeploy.toml, no plan, no region to name: ``package`` does not load botocore
    to read the AWS profile's region (a tenth of a second of a re-package)."""
    project = make_tree(tmp_path / "p", 5)
    probe = (
        "import sys; from cbdeploy.client.cli.main import main\n"
        "try:\n    main(['package', '-o', sys.argv[1]])\nexcept SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('botocore' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "out.zip")],
                            cwd=project, env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout + result.stderr
    assert (tmp_path / "out.zip").is_file()


def test_the_index_knows_whether_its_names_are_in_order_and_where_its_gaps_are() -> None:
    """A re-package trusts both (it plans from the joined names, and copies runs up to the
    gaps): they are noted as rows come, and must be what the rows show."""

    def row(offset: int, length: int, mtime: int = 1) -> Row:
        return (1, mtime, mtime, 1, 1, 0o100644, offset, length, 8, 0, 1, 1, 0o100644, NO_DIGEST)

    def table(rows: list[tuple[bytes, Row]]) -> Table:
        return Table.of_rows(rows, FUTURE_NS)

    ordered = table([(b"a", row(0, 10)), (b"b", row(10, 5)), (b"c", row(30, 5))])
    assert ordered.names == [b"a", b"b", b"c"]
    assert ordered.flags & FLAG_SORTED and ordered.gaps.tolist() == [2]
    assert not table([(b"b", row(0, 10)), (b"a", row(10, 5))]).flags & FLAG_SORTED
    assert not table([(b"a", row(0, 10)), (b"a", row(10, 5))]).flags & FLAG_SORTED
    # A racily clean row without a digest is left out: the next row follows nothing.
    racy = table([(b"a", row(0, 10)), (b"b", row(10, 5, mtime=FUTURE_NS)), (b"c", row(15, 5))])
    assert racy.names == [b"a", b"c"] and racy.gaps.tolist() == [1]
    columns, _ = load_columns(racy.serialise((1, 2, 3)))
    assert columns is not None and columns.gaps.tolist() == [1]
    assert columns.names_blob == b"a\0c" and columns.flags & FLAG_SORTED
