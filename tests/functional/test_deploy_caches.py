"""``deploy --no-package-cache``, ``--no-build-cache`` and ``--no-cache`` (both), through the
emulator over loopback (CliRunner).

Which cache a build ran with is what the emulator's BatchGetBuilds reports (the
project's ``cache``, or StartBuild's ``cacheOverride``); whether the local
compressed-entry cache was used is whether ``.cbdeploy/cache/`` holds its index
and the file-hash cache afterwards (neither is read nor written without it).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.main import main
from cbdeploy.client.packaging import listing
from tests.gitrepo import git


def test_each_flag_turns_off_its_own_cache_and_no_cache_both(
    emulator_url: str, aws_env: None, tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    project = tmp_path / f"c{uuid.uuid4().hex[:10]}"
    project.mkdir()
    (project / "hello.txt").write_text("hello\n")
    (project / "cbdeploy.toml").write_text(
        f'name = "{project.name}"\n[pipeline]\nbuild = ["echo ok"]\n'
        '[codebuild.cache]\ntype = "local"\nmodes = ["source"]\n'
    )
    local = project / ".cbdeploy" / "cache"

    def deploy(*flags: str) -> tuple[str, bool]:
        """(the build's cache type, whether the local package cache was written)."""
        result = CliRunner().invoke(
            main, ["deploy", "--stage", "dev", "--region", "us-east-1", "--yes", "--json",
                   "--config-path", str(project / "cbdeploy.toml"), *flags],
            env={"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        )
        assert result.exit_code == 0, result.output
        build_id = json.loads(result.stdout)["buildId"]
        build = boto_client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
        written = (local / "index.bin").is_file() or (local / "hashes.bin").is_file()
        if local.exists():
            shutil.rmtree(local)
        return build["cache"]["type"], written

    assert deploy("--no-package-cache") == ("LOCAL", False)
    assert deploy("--no-build-cache") == ("NO_CACHE", True)
    assert deploy("--no-cache") == ("NO_CACHE", False)  # (--noCache: tests/unit/test_options.py)


def test_a_warm_deploy_takes_the_recorded_listing_and_still_ships_a_new_untracked_file(
    emulator_url: str, aws_env: None, tmp_path: Path, hermetic_git: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The package cache's record (``packaging.gitstatus``) is left once the build is
    started; the third deploy lists from it and git status, and its build finds the file
    created just before it (the first two fail: it is not there yet). The repository's
    index is never written."""
    project = tmp_path / f"w{uuid.uuid4().hex[:10]}"
    project.mkdir()
    (project / "hello.txt").write_text("hello\n")
    (project / "cbdeploy.toml").write_text(
        f'name = "{project.name}"\n[pipeline]\nbuild = ["test -f new.txt"]\n')
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first")
    index = (project / ".git" / "index").stat()
    recorded: list[Path] = []
    real = listing._recorded

    def spy(directory: Path, *args: Any) -> Any:
        recorded.append(directory)
        return real(directory, *args)

    monkeypatch.setattr(listing, "_recorded", spy)

    def deploy() -> int:
        return CliRunner().invoke(
            main, ["deploy", "--stage", "dev", "--region", "us-east-1", "--yes", "--json",
                   "--config-path", str(project / "cbdeploy.toml")],
            env={"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        ).exit_code

    assert [deploy(), deploy()] == [1, 1]
    assert (project / ".cbdeploy/cache/git-status.bin").is_file()
    (project / "new.txt").write_text("new\n")
    assert deploy() == 0
    assert recorded == [project]
    now = (project / ".git" / "index").stat()
    assert (now.st_ino, now.st_mtime_ns) == (index.st_ino, index.st_mtime_ns)
