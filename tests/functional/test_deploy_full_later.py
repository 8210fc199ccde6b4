"""A warm delta deploy writes its full archive once the build is started (``deploy.full``).

Each test deploys a small project of its own (its own app name) through
``DeployService`` with the real AWS door on the session's emulator, ``--detach``,
recording the events as the output session would receive them. What is checked:
the order (the delta's upload and StartBuild before the full archive), that the
full archive written late is the very archive a full upload of the same tree
sends (deterministic bytes), that the cases which need it first still write it
first, and that a late archive that cannot be written leaves the started deploy
alone.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.deploy.events import (
    ArchiveBuilt,
    BuildStarted,
    FilesHashed,
    UploadDone,
)
from cbdeploy.client.deploy.plan import DeployOptions
from cbdeploy.client.deploy.service import DeployService
from cbdeploy.client.target import Target
from cbdeploy.client.watch.events import Detached

TARGET = Target(stage="dev", region="us-east-1", profile=None, config_path=None, local=False,
                log_level="info")


@pytest.fixture
def project(tmp_path: Path, emulator_url: str, aws_env: None,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    root = tmp_path / f"f{uuid.uuid4().hex[:10]}"
    (root / "lib").mkdir(parents=True)
    (root / "cbdeploy.toml").write_text(f'name = "{root.name}"\n[pipeline]\nbuild = ["true"]\n')
    for n in range(20):
        (root / "lib" / f"m{n}.txt").write_text(f"module {n}\n" * 200)
    return root


def deploy(root: Path, *, seen: Callable[[object], None] = lambda e: None,
           **options: bool) -> list[object]:
    """One deploy, detached: the events it emitted, in order. Its build is then stopped
    and waited for (a stage runs one build at a time)."""
    events: list[object] = []
    service = DeployService(
        TARGET, DeployOptions(yes=True, detach=True, **options), project_root=root,
        on_event=lambda e: (events.append(e), seen(e)), confirm=lambda q: True,
        aws_factory=open_aws,
    )
    outcome = service.run()
    assert outcome is not None and outcome.exit_code == 0
    build_id = next(e.build.id for e in events if isinstance(e, BuildStarted))
    with open_aws(TARGET) as aws:
        aws.stop_build(build_id)
        for _ in range(600):
            if aws.get_build(build_id).status != "IN_PROGRESS":
                break
            time.sleep(0.05)
    return events


def kinds(events: list[object]) -> list[str]:
    """The events that order the story, as names (a delta's upload as ``UploadDone:delta``)."""
    named = []
    for e in events:
        if isinstance(e, UploadDone):
            named.append(f"UploadDone:{e.result.kind}" + (":skipped" if e.result.skipped else ""))
        elif isinstance(e, ArchiveBuilt):
            named.append("ArchiveBuilt:late" if e.after_start else "ArchiveBuilt")
        elif isinstance(e, FilesHashed | BuildStarted | Detached):
            named.append(type(e).__name__)
    return named


def archive_of(events: list[object]) -> ArchiveBuilt:
    return next(e for e in events if isinstance(e, ArchiveBuilt))


def test_a_delta_starts_the_build_first_and_the_full_archive_is_the_one_a_base_would_be(
    project: Path,
) -> None:
    assert kinds(deploy(project)) == [  # a cold one: the base
        "ArchiveBuilt", "UploadDone:base", "BuildStarted", "Detached"]
    (project / "lib" / "m3.txt").write_text("changed\n")
    events = deploy(project, preserve_temp_files=True)
    assert kinds(events) == [
        "FilesHashed", "UploadDone:delta", "BuildStarted", "ArchiveBuilt:late", "Detached"]
    late = archive_of(events).archive
    kept = late.path.read_bytes()  # (--preserve-temp-files keeps it in .cbdeploy/<id>/)
    assert hashlib.sha256(kept).hexdigest() == late.sha256 and len(kept) == late.size
    # The same tree sent in full: byte for byte the archive written after the start.
    full = deploy(project, no_delta=True)
    assert kinds(full) == ["ArchiveBuilt", "UploadDone:base", "BuildStarted", "Detached"]
    assert archive_of(full).archive.sha256 == late.sha256


def test_the_base_itself_again_is_not_uploaded_and_is_known_before_the_upload(
    project: Path,
) -> None:
    deploy(project)
    # The same tree as the base: the same archive, already in the bucket.
    again = deploy(project)
    assert kinds(again) == [
        "FilesHashed", "ArchiveBuilt", "UploadDone:base:skipped", "BuildStarted", "Detached"]


def test_a_warm_deploy_without_a_base_writes_the_archive_before_its_upload(
    project: Path,
) -> None:
    deploy(project, no_delta=True)  # a package cache, and a base in the bucket...
    for record in (project / ".cbdeploy" / "cache" / "bases").glob("*"):
        record.unlink()  # ...that this project does not know of: but the pointer does
    (project / "lib" / "m1.txt").write_text("changed\n")
    assert kinds(deploy(project)) == [
        "FilesHashed", "UploadDone:delta", "BuildStarted", "ArchiveBuilt:late", "Detached"]
    (project / "lib" / "m2.txt").write_text("changed " * 10_000)  # more than 30 % of the base
    assert kinds(deploy(project)) == [
        "FilesHashed", "ArchiveBuilt", "UploadDone:base", "BuildStarted", "Detached"]


def test_a_late_archive_that_cannot_be_written_leaves_the_started_deploy_alone(
    project: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    deploy(project)
    changed = project / "lib" / "m5.txt"
    changed.write_text("changed\n")

    def remove_once_started(event: object) -> None:
        if isinstance(event, BuildStarted):
            changed.unlink()  # the delta has it; the full archive would read it now

    with caplog.at_level("DEBUG", logger="cbdeploy.client.deploy.full"):
        events = deploy(project, seen=remove_once_started)
    assert kinds(events) == ["FilesHashed", "UploadDone:delta", "BuildStarted", "Detached"]
    assert "the full archive was not written after the start" in caplog.text
