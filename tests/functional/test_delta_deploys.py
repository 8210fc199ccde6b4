"""Delta uploads end to end: ``cbdeploy deploy`` in-process against the session's emulator.

One project goes through the steps below in order (each test is one step and
builds on the previous one's bucket and local state; they share a module
fixture so the whole walk costs one project; ``make test``'s ``--dist loadfile``
keeps a module's tests on one worker, in order). In every build the pipeline
prints ``tree-hash=...`` of the whole tree it sees (``hashtree.py``, written
here independently of the runner's code), and the test compares it with the
same hash of the tree packaged in full (``build_archive`` in process, then
extracted as the emulator extracts a source).

The emulator supplies CodeBuild's secondary sources (moto has no CodeBuild
builds): the base is extracted in its own directory, named by
``CODEBUILD_SRC_DIR_base``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.main import main
from cbdeploy.client.packaging import build_archive, select_files
from cbdeploy.emulator.source import extract_zip

REGION = "us-east-1"

CONFIG = """\
name = "delta-e2e"

[pipeline]
deploy = ["python3 hashtree.py"]
"""

# Independent of runner/delta.py on purpose: path, kind and content of every file.
HASHTREE = """\
import hashlib, os, stat
rows = []
for directory, dirs, files in os.walk("."):
    if directory == ".":
        dirs[:] = [d for d in dirs if d != ".cbdeploy"]
    for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
        path = os.path.join(directory, name)[2:]
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            row = b"link " + os.fsencode(os.readlink(path))
        else:
            with open(path, "rb") as handle:
                row = (b"exec " if mode & 0o100 else b"file ") + hashlib.sha256(handle.read()).digest()
        rows.append(os.fsencode(path) + b"\\0" + row)
print("tree-hash=" + hashlib.sha256(b"\\n".join(sorted(rows))).hexdigest(), len(rows))
"""


@dataclass
class Walk:
    project: Path
    env: dict[str, str | None]
    bucket: str = ""
    base_key: str = ""
    summaries: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, emulator_url: str) -> Iterator[Walk]:
    from tests.conftest import EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY

    home = tmp_path_factory.mktemp("home")
    project = tmp_path_factory.mktemp("delta") / "app"
    project.mkdir()
    (project / "cbdeploy.toml").write_text(CONFIG, encoding="utf-8")
    (project / "hashtree.py").write_text(HASHTREE, encoding="utf-8")
    (project / "empty.txt").write_bytes(b"")
    (project / "lib").mkdir()
    # Incompressible, so that the base outweighs what every delta carries (the runner).
    filler = base64.b64encode(random.Random(14).randbytes(150_000)) + b"\nfiller\n"
    (project / "lib" / "big.txt").write_bytes(filler)
    (project / "lib" / "a.txt").write_text("alpha\n", encoding="utf-8")
    (project / "lib" / "gone.txt").write_text("to be deleted\n", encoding="utf-8")
    (project / "lib" / "old-name.txt").write_text("renamed soon\n", encoding="utf-8")
    (project / "café").mkdir()
    (project / "café" / "naïve.txt").write_text("non-ascii\n", encoding="utf-8")
    (project / "run.sh").write_text("#!/bin/sh\necho run\n", encoding="utf-8")
    (project / "run.sh").chmod(0o755)
    (project / "current.txt").symlink_to("lib/a.txt")
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=emulator_url,
        AWS_ACCESS_KEY_ID=EMULATOR_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=EMULATOR_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        NO_COLOR="1",
    )
    yield Walk(project, env)


@pytest.fixture
def s3(boto_client: Callable[..., Any]) -> Any:
    return boto_client("s3")


def deploy(walk: Walk, *args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any], str]:
    config = (cwd or walk.project) / "cbdeploy.toml"
    done = CliRunner().invoke(
        main, ["deploy", "--stage", "dev", "--region", REGION, "--yes", "--json",
               "--config-path", str(config), *args], env=walk.env, catch_exceptions=False,
    )
    summary = json.loads(done.stdout)
    walk.summaries.append(summary)
    return done.exit_code, summary, done.stdout + done.stderr


def full_tree_hash(project: Path, tmp: Path) -> str:
    """The hash ``hashtree.py`` prints for the project packaged in full and extracted."""
    archive = build_archive(select_files(project), tmp / "full.zip")
    into = tmp / "full"
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir()
    extract_zip(archive.path.read_bytes(), into)
    done = subprocess.run([sys.executable, "hashtree.py"], cwd=into, capture_output=True,
                          text=True, check=True)
    return done.stdout.split()[0]


def seen_hash(output: str) -> str:
    lines = [line for line in output.splitlines() if "tree-hash=" in line and "$ " not in line]
    assert lines, output
    return "tree-hash=" + lines[-1].split("tree-hash=")[1].split()[0]


def deploys_exact_tree(walk: Walk, tmp_path: Path, kind: str, *args: str,
                       cwd: Path | None = None) -> dict[str, Any]:
    code, summary, output = deploy(walk, *args, cwd=cwd)
    assert code == 0, output
    assert summary["upload"]["kind"] == kind, output
    assert seen_hash(output) == full_tree_hash(cwd or walk.project, tmp_path), output
    return summary


def test_first_deploy_sends_a_base(walk: Walk, tmp_path: Path, s3: Any) -> None:
    summary = deploys_exact_tree(walk, tmp_path, "base")
    upload = summary["upload"]
    walk.bucket, walk.base_key = upload["bucket"], upload["key"]
    assert upload["baseKey"] is None
    prefix = walk.base_key.rsplit("/", 1)[0] + "/"
    pointer = json.loads(s3.get_object(Bucket=walk.bucket, Key=prefix + "base.json")["Body"].read())
    assert pointer["key"] == walk.base_key
    s3.head_object(Bucket=walk.bucket, Key=pointer["filesKey"])


def test_one_file_change_sends_a_small_delta(
    walk: Walk, tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    (walk.project / "lib" / "a.txt").write_text("alpha, edited\n", encoding="utf-8")
    summary = deploys_exact_tree(walk, tmp_path, "delta")
    assert summary["upload"]["baseKey"] == walk.base_key
    assert summary["upload"]["bytes"] < walk.summaries[0]["upload"]["bytes"] / 2
    build = boto_client("codebuild").batch_get_builds(ids=[summary["buildId"]])["builds"][0]
    assert build["secondarySources"] == [
        {"type": "S3", "location": f"{walk.bucket}/{walk.base_key}", "sourceIdentifier": "base"}
    ]


def test_deletion(walk: Walk, tmp_path: Path) -> None:
    (walk.project / "lib" / "gone.txt").unlink()
    deploys_exact_tree(walk, tmp_path, "delta")


def test_rename(walk: Walk, tmp_path: Path) -> None:
    (walk.project / "lib" / "old-name.txt").rename(walk.project / "lib" / "new-name.txt")
    deploys_exact_tree(walk, tmp_path, "delta")


def test_mode_change(walk: Walk, tmp_path: Path) -> None:
    (walk.project / "run.sh").chmod(0o644)
    (walk.project / "lib" / "a.txt").chmod(0o755)
    deploys_exact_tree(walk, tmp_path, "delta")


def test_a_new_link_and_a_changed_link(walk: Walk, tmp_path: Path) -> None:
    (walk.project / "lib-link").symlink_to("lib")
    (walk.project / "current.txt").unlink()
    (walk.project / "current.txt").symlink_to("café/naïve.txt")
    deploys_exact_tree(walk, tmp_path, "delta")


def test_same_size_same_mtime_content_change(walk: Walk, tmp_path: Path) -> None:
    path = walk.project / "café" / "naïve.txt"
    before = path.stat()
    path.write_text("NON-ASCII\n", encoding="utf-8")  # same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    deploys_exact_tree(walk, tmp_path, "delta")


def test_fresh_clone_elsewhere_sends_a_delta_through_the_pointer(
    walk: Walk, tmp_path: Path
) -> None:
    clone = tmp_path / "elsewhere" / "app"
    shutil.copytree(walk.project, clone, symlinks=True,
                    ignore=shutil.ignore_patterns(".cbdeploy"))
    (clone / "empty.txt").write_text("no longer empty\n", encoding="utf-8")
    summary = deploys_exact_tree(walk, tmp_path, "delta", cwd=clone)
    assert summary["upload"]["baseKey"] == walk.base_key


def test_expired_base_sends_a_new_base(walk: Walk, tmp_path: Path, s3: Any) -> None:
    s3.delete_object(Bucket=walk.bucket, Key=walk.base_key)  # as the lifecycle would
    summary = deploys_exact_tree(walk, tmp_path, "base")
    walk.base_key = summary["upload"]["key"]
    (walk.project / "lib" / "a.txt").write_text("after the new base\n", encoding="utf-8")
    again = deploys_exact_tree(walk, tmp_path, "delta")
    assert again["upload"]["baseKey"] == walk.base_key


def test_tampered_base_fails_the_build_naming_the_path(walk: Walk, s3: Any) -> None:
    original = s3.get_object(Bucket=walk.bucket, Key=walk.base_key)["Body"].read()
    tampered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(tampered, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "lib/big.txt":
                data = data.replace(b"filler", b"FILLER", 1)
            out.writestr(info, data)
    s3.put_object(Bucket=walk.bucket, Key=walk.base_key, Body=tampered.getvalue())
    (walk.project / "run.sh").write_text("#!/bin/sh\necho changed\n", encoding="utf-8")
    code, summary, output = deploy(walk)
    assert code == 1, output
    assert summary["upload"]["kind"] == "delta"
    assert "lib/big.txt (content differs)" in output
    assert "tree-hash=" not in output.replace("$ python3", "")  # the pipeline never ran
    # The tree is made in INSTALL: a bad base is not reported as the pipeline failing.
    assert summary["failedPhase"] == "INSTALL", summary


def test_no_delta_forces_a_full_upload(walk: Walk, tmp_path: Path) -> None:
    summary = deploys_exact_tree(walk, tmp_path, "base", "--no-delta")
    assert summary["upload"]["baseKey"] is None
    assert summary["upload"]["key"] != walk.base_key
