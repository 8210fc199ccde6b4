"""Config paths and project directories the installed ``cbdeploy`` cannot read: exit 2, one message.

Subprocesses, because the old behaviours hang (a FIFO), eat memory (/dev/zero:
run under an address-space limit) or need a user who cannot read a directory.
Tests run as root here, and root reads everything: the unreadable cases run
``cbdeploy`` as ``nobody`` through ``setpriv`` (util-linux) when we are root,
and directly when we are not; they are skipped only as root without setpriv.
"""

from __future__ import annotations

import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")
NOBODY = 65534


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "xdg"), AWS_CONFIG_FILE=str(home / "none"))
    return env


def run(
    argv: list[str], cwd: Path, home: Path, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=clean_env(home), capture_output=True, text=True, timeout=60,
        preexec_fn=preexec_fn,
    )


def assert_one_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.count("Error:") == 1, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "cbdeploy.toml").write_text('name = "errs"\n[pipeline]\nbuild = ["echo hi"]\n')
    (root / "a.txt").write_text("a\n")
    return root


def test_a_fifo_as_config_path_is_refused_without_waiting(tmp_path: Path, project: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: it used to hang forever."""
    fifo = tmp_path / "cbdeploy.toml"
    os.mkfifo(fifo)
    try:
        result = run([CBDEPLOY, "package", "--list", "--config-path", str(fifo)], project, tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("cbdeploy waited on the FIFO")
    assert_one_error(result, str(fifo), "not a regular file")


def _limit_memory() -> None:
    limit = 1536 * 1024 * 1024  # the old code read /dev/zero until memory ran out
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_dev_zero_as_config_path_is_refused(tmp_path: Path, project: Path) -> None:
    result = run(
        [CBDEPLOY, "deploy", "--stage", "dev", "--region", "us-east-1",
         "--config-path", "/dev/zero"],
        project, tmp_path, preexec_fn=_limit_memory,
    )
    assert_one_error(result, "/dev/zero", "not a regular file")


def test_a_deleted_current_directory_is_an_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    result = run(
        ["sh", "-c", f'cd "{gone}" && rmdir "{gone}" && exec "{CBDEPLOY}" package --list'],
        tmp_path, tmp_path,
    )
    assert_one_error(result, "Cannot use the current directory")


# --- as a user who cannot read -------------------------------------------------------


def as_other_user() -> list[str]:
    """The argv prefix that runs a command as a user the permission bits apply to."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root (who reads every file) and setpriv is not available")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def shared_project() -> Iterator[Path]:
    """A git project ``nobody`` owns, in a directory ``nobody`` can reach (not under tmp_path)."""
    top = Path(tempfile.mkdtemp(prefix="cbdeploy-perm-", dir="/tmp"))
    root = top / "proj"
    try:
        root.mkdir()
        (root / "cbdeploy.toml").write_text('name = "perm"\n[pipeline]\nbuild = ["echo hi"]\n')
        (root / "a.txt").write_text("a\n")
        (root / ".cbdeployignore").write_text("*.log\n")
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        os.chmod(top, 0o755)
        if os.geteuid() == 0:
            for path in [top, *top.rglob("*")]:
                os.lchown(path, NOBODY, NOBODY)
        yield root
    finally:
        for path in [top, *top.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                os.chmod(path, 0o755)
        shutil.rmtree(top)


def run_as_other(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(as_other_user() + argv, cwd, cwd.parent)


def test_the_other_user_can_package_the_readable_project(shared_project: Path) -> None:
    """The control case: what the tests below take away is what makes them fail."""
    result = run_as_other([CBDEPLOY, "package", "--list"], shared_project)
    assert result.returncode == 0, result.stderr
    assert "a.txt" in result.stdout


def test_an_unreadable_cbdeployignore_is_a_packaging_error(shared_project: Path) -> None:
    os.chmod(shared_project / ".cbdeployignore", 0)
    result = run_as_other([CBDEPLOY, "package", "--list"], shared_project)
    assert_one_error(result, ".cbdeployignore", "Permission denied")


@pytest.mark.parametrize("mode", [0, stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH])
def test_an_unreadable_project_directory_is_an_error(shared_project: Path, mode: int) -> None:
    """Mode 0: nothing can be read. Mode 0o111: files open, but git cannot list the
    directory and used to package nothing at all, with exit 0."""
    os.chmod(shared_project, mode)
    config = str(shared_project / "cbdeploy.toml")
    for argv in (
        [CBDEPLOY, "package", "--list", "--config-path", config],
        [CBDEPLOY, "deploy", "--stage", "dev", "--region", "us-east-1", "--config-path", config],
    ):
        result = run_as_other(argv, shared_project.parent)
        assert_one_error(result, str(shared_project))


def test_an_unreadable_current_directory_is_an_error(shared_project: Path) -> None:
    os.chmod(shared_project, stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    result = run_as_other([CBDEPLOY, "package", "--list"], shared_project)
    assert_one_error(result, f"Cannot read the project directory {shared_project}")
