"""Whether this machine can run the Docker tests: an engine, a registry, busybox.

``missing()`` names what is not there (None when everything is), so tests
marked ``docker`` are skipped with that reason on a developer's machine;
``.ci/run`` installs and starts all of it. ``engine_lock()`` lets one test at a
time use the engine (tests/conftest.py takes it for every ``docker`` test).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

# One lock for every test process on this machine: they share one Docker engine.
LOCK = Path(tempfile.gettempdir()) / "cbdeploy-tests-docker-engine.lock"


@cache
def missing() -> str | None:
    for binary, package in (
        ("docker", "docker.io"),
        ("docker-registry", "docker-registry"),
        ("busybox", "busybox-static"),
    ):
        if shutil.which(binary) is None:
            return f"no {binary} on this machine (apt-get install -y {package}; .ci/run does it)"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=20, check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"docker info failed: {error}"
    if info.returncode != 0:
        return "no Docker engine answers (start dockerd; .ci/run does it): " + (
            info.stderr.strip().splitlines() or ["docker info failed"]
        )[-1]
    return None


@contextmanager
def engine_lock() -> Iterator[None]:
    """Hold the engine alone: one Docker test at a time, whichever process runs it."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
