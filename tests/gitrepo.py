"""Real git for tests of real repositories: a fixed identity for commits.

Pair it with the ``hermetic_git`` fixture (tests/conftest.py), which keeps this
machine's git config and a caller's GIT_* variables away from git.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


def git(cwd: Path, *args: str) -> bytes:
    """``git ARGS`` in ``cwd``: its standard output; a failure raises."""
    env = {**os.environ, **IDENTITY}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True).stdout
