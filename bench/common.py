"""What the benchmarks share: the installed CLI, git, and a temporary folder ``--keep`` keeps."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def add_keep_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository")


@contextmanager
def scratch(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A new temporary folder, removed at the end unless ``keep`` (then its path is printed)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
