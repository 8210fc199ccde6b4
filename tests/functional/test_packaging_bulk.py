"""A re-package's per-path work done in bulk gives what the path-by-path work gives:
the listing parsed, the stats taken, the copy runs planned (issue 16, target 2).

Each test sets the bulk code against the obvious loop (or git) on trees made to
hit its rare branches: deleted files mid-chunk, a directory where a file was,
links and secret-looking files among regular files, names that look like the
listing's own fields, an unmerged path, racily clean rows, added entries.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from cbdeploy.client.packaging import bulk, runs, select_files
from cbdeploy.client.packaging.archive import MANIFEST, ArchiveBuilder, manifest
from cbdeploy.client.packaging.cache import ArchiveCache
from cbdeploy.client.packaging.destination import complete_stats
from cbdeploy.client.packaging.model import FileStat, SelectedFile, Selection
from cbdeploy.client.packaging.reuse import pack_keys
from cbdeploy.client.packaging.runs import encoded_names as encode
from cbdeploy.client.packaging.runs import entries_one_by_one, gaps_of, plan_entries
from cbdeploy.client.packaging.secrets import looks_secret
from cbdeploy.client.packaging.table import pack_key
from cbdeploy.client.packaging.writer import CopyRun
from tests.gitrepo import IDENTITY, git

pytestmark = pytest.mark.usefixtures("hermetic_git")
FUTURE_NS = time.time_ns() + 3600 * 10**9  # a build clock for which no file is "racy"


def committed_tree(root: Path, count: int, *, links: bool = True) -> Path:
    root.mkdir()
    for i in range(count):
        path = root / f"d{i % 5}" / f"f{i:03d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(f"file {i}\n".encode() * (i % 9 + 1))
    for name in ["d1/.env", "d2/id_rsa", "d3/server.pem", ".cbdeploy/own.txt"]:
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(b"x")
    if links:
        os.symlink("f001.txt", root / "d1" / "link-b")
        os.symlink("../d2", root / "d3" / "dirlink")
    (root / "d4" / "f004.txt").chmod(0o755)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "t")
    return root


def path_by_path(root: Path) -> tuple[list[SelectedFile], dict[str, FileStat], list[str]]:
    """The selection the obvious way: git's listing, one lstat a path."""
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    files, stats, secrets = [], {}, []
    for rel in sorted(set(listed.split(b"\0")[:-1])):
        if bulk.never_shipped(rel):
            continue
        try:
            st = os.lstat(root / os.fsdecode(rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        path = os.fsdecode(rel)
        if os.path.islink(root / path):
            files.append(SelectedFile(path, os.readlink(root / path)))
            stats[path] = FileStat.of(st)._replace(size=len(os.readlink(root / path)))
        elif os.path.isfile(root / path):
            files.append(SelectedFile(path))
            stats[path] = FileStat.of(st)
            if looks_secret(path, os.fsencode(root / path)):
                secrets.append(path)
    return files, stats, secrets


def test_stats_in_bulk_are_the_path_by_path_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 7 paths: deleted files send some chunks to the loop, others not."""
    monkeypatch.setattr(bulk, "CHUNK", 7)
    root = committed_tree(tmp_path / "p", 120)
    for i in (0, 3, 4, 50, 119):  # deleted, tracked still
        (root / f"d{i % 5}" / f"f{i:03d}.txt").unlink()
    (root / "d2" / "f007.txt").unlink()
    (root / "d2" / "f007.txt").mkdir()  # a directory where a tracked file was
    (root / "d0" / "new.txt").write_bytes(b"untracked")
    (root / "d4" / ".env.local").write_bytes(b"untracked secret")
    selection = select_files(root)
    files, stats, secrets = path_by_path(root)
    assert list(selection.files) == files
    assert dict(selection.stats) == stats
    assert list(selection.secrets) == secrets == ["d1/.env", "d2/id_rsa", "d3/server.pem",
                                                  "d4/.env.local"]


def test_a_file_under_a_path_that_became_a_file_is_gone(tmp_path: Path) -> None:
    root = committed_tree(tmp_path / "p", 10)
    for name in os.listdir(root / "d3"):
        os.unlink(root / "d3" / name)
    (root / "d3").rmdir()
    (root / "d3").write_bytes(b"a file now")  # lstat of d3/f003.txt: NotADirectoryError
    assert [f.path for f in select_files(root).files] == [f.path for f in path_by_path(root)[0]]


@pytest.mark.parametrize(
    "names", [["x 1\t", "tab\there", "plain"], ["a 0\tb", "160000 y", "z 0", "plain"]]
)
def test_names_like_the_listings_fields(tmp_path: Path, names: list[str]) -> None:
    """The cached listing is split at tabs and NULs only when no name can confuse it."""
    root = tmp_path / "p"
    root.mkdir()
    for name in names:
        (root / name).write_bytes(b"x")
    git(root, "init", "-q")
    git(root, "add", "-A")
    assert [f.path for f in select_files(root).files] == sorted(names, key=os.fsencode)


def test_an_unmerged_path_is_selected_once(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    for name in ["a", "plain", "z"]:
        (root / name).write_bytes(b"x")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "t")
    git(root, "checkout", "-qb", "side")
    (root / "plain").write_bytes(b"side")
    git(root, "commit", "-qam", "side")
    git(root, "checkout", "-q", "-")
    (root / "plain").write_bytes(b"main")
    git(root, "commit", "-qam", "main")
    env = {**os.environ, **IDENTITY}  # (a conflicted merge fails: run it without git())
    subprocess.run(["git", "merge", "-q", "side"], cwd=root, env=env, capture_output=True, check=False)
    assert b" 2\tplain" in git(root, "ls-files", "--stage")  # unmerged: once per stage
    assert [f.path for f in select_files(root).files] == ["a", "plain", "z"]


def test_keys_packed_at_once_are_the_keys_packed_one_by_one() -> None:
    stats = [FileStat(0, -1, -(2**63), 2**64 - 1, 2**63, 0o100644),
             FileStat(2**40, 1_700_000_000 * 10**9, 1, 5, 2049, 0o120777)] * 3
    assert pack_keys(stats) == b"".join(pack_key(st) for st in stats)
    assert pack_keys([]) == b""


def entries(plan: Iterable[object]) -> list[object]:
    return [("run", e.first, e.stop) if isinstance(e, CopyRun) else e for e in plan]


def assert_index_knows_its_gaps(cache: Path) -> None:
    """The index was written whole (it loads, for its archive), and the gaps it keeps as
    rows come are those its offsets and lengths show."""
    loaded = ArchiveCache(cache)
    assert loaded.size > 0 and len(loaded.columns.names) > 40
    assert loaded.columns.gaps.tolist() == gaps_of(loaded.columns.offsets, loaded.columns.lengths)
    loaded.close()


@pytest.mark.parametrize("seed", range(6))
def test_the_run_plan_is_the_entry_by_entry_plan_and_the_bytes_a_cold_builds(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seeds 3 to 5 have no link: the plan then knows the files are the cached rows
    from their names joined, without encoding each (and must agree all the same)."""
    rng = random.Random(seed)
    links = seed < 3
    root = committed_tree(tmp_path / "p", 40, links=links)
    cache = tmp_path / "cache"
    extra = {"d2/zz.json": b"{}", "a.json": b"[]", "d0/f000.txt~": b"x"}
    clock = FUTURE_NS if seed % 2 else time.time_ns()  # even seeds: every row racy
    ArchiveBuilder(clock_ns=lambda: clock).build(select_files(root), tmp_path / "a.zip", extra, cache)
    assert_index_knows_its_gaps(cache)
    names = sorted(str(p.relative_to(root)) for p in root.rglob("f*.txt"))
    for name in rng.sample(names, rng.randint(1, 4)) + rng.choice([[], [names[0]], [names[-1]]]):
        with open(root / name, "ab") as handle:
            handle.write(b"more\n" * rng.randint(1, 50))
    if seed % 2 == 0:  # a link and an added entry gone: their records leave gaps
        if links:
            os.unlink(root / "d1" / "link-b")
        del extra["a.json"]
    if seed % 3 == 0:  # the same size and times, another file: the inode tells
        victim = root / names[7]
        st = victim.stat()
        os.unlink(victim)
        victim.write_bytes(b"Z" * st.st_size)
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    selection = select_files(root)
    stats = complete_stats(selection)
    full_extra = {MANIFEST: manifest(selection, stats), **extra}
    builder = ArchiveBuilder(clock_ns=lambda: clock)
    builder._root = os.fsencode(root) + b"/"
    loaded = ArchiveCache(cache)
    columns = bulk.FileColumns(selection.files, stats)
    encoded: list[int] = []
    with monkeypatch.context() as patch:  # (to see which way the plan took)
        patch.setattr(runs, "encoded_names", lambda files: encoded.append(1) or encode(files))
        planned = plan_entries(selection.files, columns, full_extra, loaded, builder._root,
                               builder.opener)
    assert planned is not None
    assert encoded == ([1] if links else [])
    one_by_one = entries_one_by_one(selection.files, stats, full_extra, loaded, builder._root,
                                    builder.opener)
    assert entries(planned) == entries(one_by_one)
    loaded.close()
    warm = builder.build(selection, tmp_path / "warm.zip", extra, cache)
    assert_index_knows_its_gaps(cache)
    cold = ArchiveBuilder(clock_ns=lambda: clock).build(selection, tmp_path / "cold.zip", extra, None)
    assert warm.sha256 == cold.sha256
    assert (tmp_path / "warm.zip").read_bytes() == (tmp_path / "cold.zip").read_bytes()


def test_manifest_and_sizes_in_bulk_count_links_as_links(tmp_path: Path) -> None:
    root = committed_tree(tmp_path / "p", 12)
    selection = select_files(root)
    stats = complete_stats(selection)
    expected_exec = [f.path for f in selection.files
                     if f.link_target is None and stats[f.path].mode & 0o111]
    raw = sum(
        len(os.fsencode(f.link_target)) if f.link_target is not None else stats[f.path].size
        for f in selection.files
    )
    # the stats in the files' order (taken as they are), and in another (looked up)
    for columns in (bulk.FileColumns(selection.files, stats),
                    bulk.FileColumns(selection.files, dict(reversed(stats.items())))):
        assert columns.stats == [stats[f.path] for f in selection.files]
        assert columns.executables() == expected_exec == ["d4/f004.txt"]
        assert columns.raw_size() == raw
    assert [f.path for f in selection.files if f.link_target] == ["d1/link-b", "d3/dirlink"]
    # the manifest's links from the columns' positions: those of a walk over the files
    walked = [{"path": f.path, "target": f.link_target}
              for f in selection.files if f.link_target is not None]
    for given in (None, bulk.FileColumns(selection.files, stats)):
        assert json.loads(manifest(selection, stats, given))["links"] == walked


def test_a_manifest_needs_no_stat_for_a_link(tmp_path: Path) -> None:
    """A selection built by hand (as a deploy's delta builds one) may have no stat for
    its links: the manifest looks up the files' alone."""
    selection = Selection(root=tmp_path, files=(SelectedFile("a"), SelectedFile("l", "a")))
    stats = {"a": FileStat(1, 0, 0, 1, 1, 0o100755)}
    document = json.loads(manifest(selection, stats))
    assert document["executables"] == ["a"]
    assert document["links"] == [{"path": "l", "target": "a"}]


@pytest.mark.parametrize("seed", range(4))
def test_joined_and_decoded_in_bulk_are_the_path_by_path_ones(seed: int) -> None:
    """One join for all the paths, a decode of each in C: the obvious loop's results,
    names that do not decode (kept as surrogates) and odd characters included."""
    rng = random.Random(seed)
    parts = [b"a", b"/", b".", b"\n", b"\t", b" ", b"\xff", b"\xc3\xa9", b"\xe2\x82", b"z"]
    paths = sorted({b"".join(rng.choices(parts, k=rng.randint(1, 5))) for _ in range(200)})
    joined = bulk.joined(paths)
    assert joined == b"\0" + b"\0".join(paths) + b"\0"
    assert bulk.decode_all(paths) == [os.fsdecode(p) for p in paths]


@pytest.mark.parametrize("seed", range(3))
def test_a_plain_stage_listing_parsed_at_once_is_parsed_record_by_record(seed: int) -> None:
    """The paths of a listing of stage-0 files, taken between each tab and the next NUL,
    are those of its records taken one by one (odd names included); a listing that is
    not plain (a gitlink, a second stage) takes the record-by-record way."""
    from cbdeploy.client.packaging.listing import _parse_cached, _plain_stage_listing

    rng = random.Random(seed)
    parts = [b"a", b"/", b" 0", b" ", b"\n", b"\xff", b"\\", b"160000", b"z"]
    paths = sorted({b"".join(rng.choices(parts, k=rng.randint(1, 5))) for _ in range(300)})
    sha = b"0123456789abcdef0123456789abcdef01234567"
    listing = b"".join(b"100644 " + sha + b" 0\t" + p + b"\0" for p in paths)
    assert _plain_stage_listing(listing)
    assert _parse_cached(listing, set()).files == paths
    assert _parse_cached(listing, {paths[3]}).files == paths[:3] + paths[4:]
    gitlink = listing + b"160000 " + sha + b" 0\tsub\0"
    assert not _plain_stage_listing(gitlink)
    parsed = _parse_cached(gitlink, set())
    assert parsed.files == paths and parsed.repos == [b"sub"]
