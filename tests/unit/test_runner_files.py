"""The in-build restore of links and executable bits (runner/files.py) against crafted
manifests: chained links must not let it create or chmod anything outside the project.

Real directories in tmp_path; the file outside the work directory must stay as it was.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from cbdeploy.runner.files import restore_files


def restore(work: Path, manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    (work / ".cbdeploy").mkdir(parents=True, exist_ok=True)
    (work / ".cbdeploy" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    warnings: list[str] = []
    changed = restore_files(work, warnings.append)
    return changed, warnings


def links_under(directory: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, n), directory)
        for d, dirs, files in os.walk(directory)
        for n in dirs + files
        if os.path.islink(os.path.join(d, n))
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file next to the work directory, readable, not executable."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    victim.chmod(0o644)
    return victim


def assert_untouched(tmp_path: Path, outside: Path) -> None:
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert outside.read_text(encoding="utf-8") == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt", "work"]
    assert all(
        os.path.realpath(tmp_path / "work" / p).startswith(os.path.realpath(tmp_path / "work"))
        for p in links_under(tmp_path / "work")
    )


def test_chained_links_cannot_create_a_link_or_chmod_outside(tmp_path: Path, outside: Path) -> None:
    """The reported attack: ``d -> .`` makes ``d/e`` the same as ``e``, so ``d/e -> ..``
    looks (lexically) like the project root and is its parent; through it, a link and an
    executable bit land outside."""
    work = tmp_path / "work"
    work.mkdir()
    changed, warnings = restore(
        work,
        {
            "version": 1,
            "links": [
                {"path": "d", "target": "."},
                {"path": "d/e", "target": ".."},
                {"path": "e/planted", "target": "work"},
            ],
            "executables": ["e/victim.txt", "d/e/victim.txt"],
        },
    )
    assert_untouched(tmp_path, outside)
    assert os.readlink(work / "d") == "."
    assert not (work / "e").is_symlink()
    assert any("d/e -> ..: it points outside the project" in w for w in warnings), warnings
    assert "e/victim.txt" not in changed and "d/e/victim.txt" not in changed


def test_a_later_link_that_redirects_an_earlier_one_out_is_undone(
    tmp_path: Path, outside: Path
) -> None:
    """``p -> q/..`` is inside while ``q`` does not exist; ``q -> .`` then makes ``p`` the
    parent of the project. Executables listed through ``p`` must not be chmod-ed."""
    work = tmp_path / "work"
    work.mkdir()
    changed, warnings = restore(
        work,
        {
            "version": 1,
            "links": [{"path": "p", "target": "q/.."}, {"path": "q", "target": "."}],
            "executables": ["p/victim.txt"],
        },
    )
    assert_untouched(tmp_path, outside)
    assert not os.path.lexists(work / "p")
    assert os.readlink(work / "q") == "."
    assert changed == ["q"]
    assert any("removed link p" in w for w in warnings), warnings


def test_a_link_the_extractor_left_pointing_out_is_not_followed(
    tmp_path: Path, outside: Path
) -> None:
    """An extractor that honours link modes may already have made ``out -> ..``: neither a
    chmod nor a new link may go through it."""
    work = tmp_path / "work"
    work.mkdir()
    os.symlink("..", work / "out")
    _, warnings = restore(
        work,
        {
            "version": 1,
            "links": [{"path": "out/planted", "target": "work"}],
            "executables": ["out/victim.txt"],
        },
    )
    (work / "out").unlink()
    assert_untouched(tmp_path, outside)
    assert len(warnings) == 2, warnings


def test_links_and_exec_bits_inside_are_still_restored(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "lib").mkdir(parents=True)
    (work / "lib" / "run.sh").write_text("#!/bin/sh\n", encoding="utf-8")
    (work / "lib" / "run.sh").chmod(0o644)
    (work / "current").write_text("lib", encoding="utf-8")  # an extractor's plain file
    changed, warnings = restore(
        work,
        {
            "version": 1,
            "links": [
                {"path": "current", "target": "lib"},
                {"path": "deep/er/link", "target": "../../lib/run.sh"},
                {"path": "current/self", "target": "run.sh"},  # through a link made just before
            ],
            "executables": ["lib/run.sh"],
        },
    )
    assert warnings == []
    assert changed == ["lib/run.sh", "current", "deep/er/link", "current/self"]
    assert stat.S_IMODE((work / "lib" / "run.sh").stat().st_mode) == 0o755
    assert (work / "deep" / "er" / "link").read_text(encoding="utf-8") == "#!/bin/sh\n"
    assert os.readlink(work / "lib" / "self") == "run.sh"


def test_names_that_are_not_utf8_are_restored_and_reported_readably(tmp_path: Path) -> None:
    """The manifest carries such a name as JSON surrogate escapes (``\\udce9``), its
    exact bytes on disk; a warning shows the odd byte as ``\\xe9`` rather than failing
    to print it, and a name no file can have is skipped with a warning."""
    work = tmp_path / "work"
    work.mkdir()
    script = work / os.fsdecode(b"caf\xe9.sh")
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o644)
    changed, warnings = restore(
        work,
        {
            "version": 1,
            "links": [{"path": "bad\ud800", "target": "x"}],
            "executables": [os.fsdecode(b"caf\xe9.sh"), os.fsdecode(b"gone\xff.sh")],
        },
    )
    assert changed == [os.fsdecode(b"caf\xe9.sh")]
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert "gone\\xff.sh is listed as executable but is missing" in warnings
    assert any("bad" in w for w in warnings) and len(warnings) == 2
    for warning in warnings:
        warning.encode("utf-8")  # printable as it is
