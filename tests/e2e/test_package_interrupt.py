"""Ctrl-C while ``cbdeploy package`` compresses a large file (issue 16, item 6).

The installed ``cbdeploy`` runs as a subprocess on a project whose one large file
takes seconds to deflate on one thread. SIGINT sent while it is compressing must
end the process at once (the issue asks for 0.3 s; the bound here is generous for
a loaded machine, yet far below the seconds the file takes), with exit code 130
and neither the archive nor its temporary file left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interrupting import interrupt_when

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")


def test_ctrl_c_while_compressing_a_large_file_exits_130_at_once_leaving_nothing(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    # Hex text: deflates at a few tens of MB/s, so 160 MB takes seconds on one thread.
    with open(project / "big.txt", "wb") as handle:
        for _ in range(8):
            handle.write(os.urandom(10 << 20).hex().encode())
    (project / "small.txt").write_text("small\n")
    out_dir = tmp_path / "out"
    proc = subprocess.Popen(
        [CBDEPLOY, "package", "--output", str(out_dir / "p.zip")],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    took = interrupt_when(proc, lambda: out_dir.is_dir() and any(out_dir.iterdir()),
                          "started the archive (make the file larger if it ended first)")
    assert proc.returncode == 130
    assert took < 1.0, f"exited {took:.2f} s after Ctrl-C"
    assert list(out_dir.iterdir()) == []  # no archive, no temporary file


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc to find the workers")
def test_ctrl_c_while_workers_compress_ends_them_too(tmp_path: Path) -> None:
    """A cold package of many small files compresses in worker processes: Ctrl-C ends
    the command with 130 at once, and its workers with it (none is left running)."""
    project = tmp_path / "project"
    for i in range(3000):  # 90 MB of hex text in small files: seconds of deflate
        path = project / f"d{i % 30}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(15_000).hex().encode())
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    out_dir = tmp_path / "out"
    proc = subprocess.Popen(
        [CBDEPLOY, "package", "--output", str(out_dir / "p.zip")],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    workers: set[int] = set()
    took = interrupt_when(proc, lambda: out_dir.is_dir() and any(out_dir.iterdir()),
                          "started the archive (add files if it ended first)",
                          just_before=lambda: workers.update(_children(proc.pid)))
    assert len(workers) >= 2  # the worker processes (git had finished by then)
    assert proc.returncode == 130
    assert took < 1.0, f"exited {took:.2f} s after Ctrl-C"
    assert [pid for pid in workers if _alive(pid)] == []
    assert list(out_dir.iterdir()) == []
