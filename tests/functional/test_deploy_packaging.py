"""What a real deploy ships, checked in the build itself: the emulator runs the
pipeline on the archive the client uploaded (``cli`` and ``make_project`` come from
test_deploy_cli: ``cbdeploy deploy`` in-process against the emulator over loopback).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.functional.test_deploy_cli import cli, make_project

__all__ = ["cli"]  # the fixture, used by name

JAN_2021 = (1609459200, 1609459200)  # touch -d 2021-01-01 (UTC)


def test_a_file_whose_mtime_is_restored_is_not_deployed_stale(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """The reported case: same size, same mode, mtime put back (touch -d, cp -p,
    rsync -t): the cache reused the old compressed bytes, the upload was skipped as
    already there, and the build printed CCCC."""
    project = make_project(tmp_path, build="cat version.txt")
    version = project / "version.txt"
    version.write_text("version=CCCC\n")
    os.utime(version, JAN_2021)
    first = cli(project, "deploy", "--yes")
    assert first.exit_code == 0, first.output
    assert "version=CCCC" in first.output
    version.write_text("version=DDDD\n")
    os.utime(version, JAN_2021)
    second = cli(project, "deploy", "--yes")
    assert second.exit_code == 0, second.output
    assert "version=DDDD" in second.output and "version=CCCC" not in second.output
    assert "Archive already uploaded" not in second.output
    assert "✓ Uploaded" in second.output


def test_a_non_utf8_file_name_arrives_in_the_build_with_the_same_bytes(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """Names are bytes end to end, as in git: ``caf\\xe9.txt`` is stored raw (no UTF-8
    flag, made on Unix) and the build's extraction gives back those 8 bytes, not
    ``cafΘ.txt`` (code page 437)."""
    project = make_project(
        tmp_path,
        build="for f in caf*; do printf '%s' \"$f\" | od -An -tx1; cat \"$f\"; done",
    )
    (project / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 named content\n")
    result = cli(project, "deploy", "--yes")
    assert result.exit_code == 0, result.output
    dumped = re.findall(r"^\s*((?:[0-9a-f]{2} ?)+)$", result.output, re.MULTILINE)
    assert [bytes.fromhex(d) for d in dumped] == [b"caf\xe9.txt"], result.output
    assert "latin-1 named content" in result.output
