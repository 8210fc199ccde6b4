"""Deltas as data: the choice of base, the tree hash both sides compute, the runner's merge."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from cbdeploy.client.deploy.delta import BASE_SOURCE, Base, decide, files_key
from cbdeploy.client.deploy.service import DeployPlan, start_request
from cbdeploy.client.deploy.upload import UploadResult
from cbdeploy.client.packaging import SelectedFile, Selection
from cbdeploy.client.packaging.tree import FileRecord, Tree, parse_document, scan_tree, tree_hash
from cbdeploy.runner import delta as runner_delta


def record(path: str, content: bytes, kind: str = "f") -> FileRecord:
    return FileRecord(path, kind, len(content), hashlib.sha256(content).hexdigest())


def tree(*records: FileRecord) -> Tree:
    return Tree(tuple(sorted(records, key=lambda r: os.fsencode(r.path))), tree_hash(records))


BIG = record("big.bin", b"x" * 10_000)
BASE = Base("sources/app/dev/aa.zip", "ff", tree(BIG, record("a.txt", b"a"), record("gone", b"g")))


def test_no_base_means_a_base() -> None:
    assert decide(tree(BIG), None).base is None


def test_a_small_change_is_a_delta_with_changes_and_removals() -> None:
    now = tree(BIG, record("a.txt", b"A"), record("new.txt", b"n"))
    choice = decide(now, BASE)
    assert choice.base == BASE
    assert choice.changed == ("a.txt", "new.txt")
    assert choice.removed == ("gone",)


def test_a_mode_change_alone_is_a_change() -> None:
    assert decide(tree(BIG, record("a.txt", b"a", "x"), record("gone", b"g")), BASE).changed == (
        "a.txt",
    )


def test_with_the_same_paths_the_changed_records_and_their_weight_decide() -> None:
    """The usual redeploy: the same paths as the base (compared by position)."""
    small = tree(BIG, record("a.txt", b"b"), record("gone", b"g"))
    assert decide(small, BASE).changed == ("a.txt",) and decide(small, BASE).base == BASE
    heavy = tree(record("big.bin", b"z" * 10_000), record("a.txt", b"a"), record("gone", b"g"))
    assert [r.path for r in heavy.records] == [r.path for r in BASE.tree.records]
    assert decide(heavy, BASE).base is None  # its one change weighs more than 30 %


def test_changes_over_the_threshold_send_a_new_base() -> None:
    now = tree(record("big.bin", b"y" * 10_000), record("a.txt", b"a"))
    choice = decide(now, BASE)
    assert choice.base is None and "30%" in choice.reason


def test_the_client_and_the_runner_hash_a_tree_alike(tmp_path: Path) -> None:
    (tmp_path / "café").mkdir()
    (tmp_path / "café" / "é.txt").write_bytes(b"accent")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "run").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "run").chmod(0o755)
    (tmp_path / "link").symlink_to("café")
    selection = Selection(tmp_path, (SelectedFile("café/é.txt"), SelectedFile("empty"),
                                     SelectedFile("link", "café"), SelectedFile("run")))
    client = scan_tree(selection, None)
    assert runner_delta.tree_hash(runner_delta.scan(tmp_path)) == client.hash
    assert parse_document(client.document()) == client


def test_a_hash_is_not_reused_after_a_same_size_same_mtime_change(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"one")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    selection = Selection(tmp_path, (SelectedFile("f.txt"),))
    first = scan_tree(selection, tmp_path / "cache")
    path.write_bytes(b"two")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert scan_tree(selection, tmp_path / "cache").hash != first.hash


def test_a_delta_build_names_the_base_as_a_secondary_source() -> None:
    plan = DeployPlan("app", "dev", "us-east-1", "p", "id", False, "version: 0.2", (), "C", "I",
                      False, 60, False, {})
    delta = UploadResult("bucket", "sources/app/dev/d.zip", False, kind="delta",
                         base_key="sources/app/dev/b.zip")
    assert start_request(plan, delta)["secondarySourcesOverride"] == [
        {"type": "S3", "location": "bucket/sources/app/dev/b.zip", "sourceIdentifier": BASE_SOURCE}
    ]
    assert "secondarySourcesOverride" not in start_request(
        plan, UploadResult("bucket", "sources/app/dev/b.zip", False)
    )
    assert files_key("sources/app/dev/b.zip") == "sources/app/dev/b.files.json.gz"


# -- the runner's side


def base_dir(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, bytes]:
    base = tmp_path / "base"
    for path, content in files.items():
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        (base / path).write_bytes(content)
    listed = tree(*(record(p, c) for p, c in files.items())).document()
    (base / ".cbdeploy").mkdir(parents=True, exist_ok=True)
    (base / ".cbdeploy" / "files.json").write_bytes(listed)
    return base, listed


def delta_doc(listed: bytes, expected: Tree, changed: list[FileRecord], removed: list[str]) -> dict:
    return {
        "version": 1, "baseKey": "b.zip", "sourceIdentifier": "base",
        "baseFilesSha256": hashlib.sha256(listed).hexdigest(), "tree": expected.hash,
        "removed": removed, "changed": [[r.path, r.kind, r.size, r.sha256] for r in changed],
        "manifest": {"version": 1, "links": [], "executables": []},
    }


def test_the_runner_merges_the_base_and_verifies(tmp_path: Path) -> None:
    base, listed = base_dir(tmp_path, {"keep/a.txt": b"a", "old.txt": b"o", "b.txt": b"b"})
    root = tmp_path / "src"
    (root / ".cbdeploy").mkdir(parents=True)
    (root / "b.txt").write_bytes(b"B")
    expected = tree(record("keep/a.txt", b"a"), record("b.txt", b"B"))
    doc = delta_doc(listed, expected, [record("b.txt", b"B")], ["old.txt"])
    runner_delta.verify(root, runner_delta.merge(root, base, doc))
    assert (root / "keep" / "a.txt").read_bytes() == b"a" and not (root / "old.txt").exists()


def test_a_tampered_base_file_is_named(tmp_path: Path) -> None:
    base, listed = base_dir(tmp_path, {"x/a.txt": b"a", "z.txt": b"z"})
    (base / "x" / "a.txt").write_bytes(b"evil")
    root = tmp_path / "src"
    (root / ".cbdeploy").mkdir(parents=True)
    expected = tree(record("x/a.txt", b"a"), record("z.txt", b"z"))
    doc = delta_doc(listed, expected, [], [])
    with pytest.raises(runner_delta.DeltaError, match=r"at x/a\.txt \(content differs\)"):
        runner_delta.verify(root, runner_delta.merge(root, base, doc))


def test_a_base_whose_file_list_changed_is_refused(tmp_path: Path) -> None:
    base, listed = base_dir(tmp_path, {"a.txt": b"a"})
    (base / ".cbdeploy" / "files.json").write_bytes(listed.replace(b"a.txt", b"b.txt"))
    doc = delta_doc(listed, tree(record("a.txt", b"a")), [], [])
    with pytest.raises(runner_delta.DeltaError, match="not the one this delta was made against"):
        runner_delta.merge(tmp_path / "src", base, doc)


def test_a_file_list_path_leaving_the_project_is_refused(tmp_path: Path) -> None:
    base, _ = base_dir(tmp_path, {"a.txt": b"a"})
    evil = tree(record("../outside.txt", b"a"))
    listed = evil.document()
    (base / ".cbdeploy" / "files.json").write_bytes(listed)
    (tmp_path / "src").mkdir()
    doc = delta_doc(listed, evil, [], [])
    with pytest.raises(runner_delta.DeltaError, match="refusing the path"):
        runner_delta.merge(tmp_path / "src", base, doc)
    assert json.loads(listed)["files"][0][0] == "../outside.txt"


def test_the_role_reads_its_own_stages_base_and_file_list_only() -> None:
    """The base (a secondary source CodeBuild fetches with the role's rights) and the file
    list sit under the stage's prefix, which the role may read; another stage's may not."""
    from fnmatch import fnmatchcase

    from cbdeploy.client.deploy.delta import POINTER
    from cbdeploy.client.deploy.upload import source_key
    from cbdeploy.client.infra import model as b
    from cbdeploy.client.infra.names import stage_names

    settings = b.StageSettings(name="app", stage="dev", policies=(), secrets=())
    names = stage_names("app", "dev", account="123456789012", region="eu-west-1")
    other = stage_names("app", "prod", account="123456789012", region="eu-west-1")
    sources = next(s for s in b.base_role_policy(settings, names)["Statement"]
                   if s["Sid"] == "Sources")
    assert "s3:GetObject" in sources["Action"]

    def readable(key: str) -> bool:
        arn = f"arn:aws:s3:::{names.bucket}/{key}"
        return any(fnmatchcase(arn, pattern) for pattern in sources["Resource"])

    base = source_key(names.sources_prefix, "ab" * 32)
    assert readable(base) and readable(files_key(base))
    assert readable(names.sources_prefix + POINTER)
    assert not readable(source_key(other.sources_prefix, "ab" * 32))


def test_execute_bits_an_extractor_added_are_cleared_before_verifying(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_bytes(b"p")
    (tmp_path / "plain.txt").chmod(0o755)
    expected = {"plain.txt": ("f", hashlib.sha256(b"p").hexdigest())}
    with pytest.raises(runner_delta.DeltaError, match="kind 'x' instead of 'f'"):
        runner_delta.verify(tmp_path, expected)
    assert runner_delta.settle_modes(tmp_path, expected) == 1
    runner_delta.verify(tmp_path, expected)
