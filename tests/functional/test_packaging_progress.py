"""Packaging progress counts bytes, not files (issue 16, item 6)."""

from __future__ import annotations

import random
from pathlib import Path

from cbdeploy.client.packaging import build_archive, select_files


def test_progress_is_in_bytes_and_moves_while_a_large_file_is_read(tmp_path: Path) -> None:
    """A 24 MB file among small ones: the bar moves through it, it does not sit at 1/4 files."""
    project = tmp_path / "p"
    project.mkdir()
    rng = random.Random(3)
    (project / "a.txt").write_bytes(b"small\n" * 10)
    (project / "b.txt").write_bytes(b"another\n" * 100)
    (project / "large.txt").write_bytes(rng.randbytes(12 << 20).hex().encode())
    selection = select_files(project)
    seen: list[tuple[int, int]] = []
    result = build_archive(
        selection, tmp_path / "out.zip", jobs=2, on_progress=lambda d, t: seen.append((d, t))
    )
    sizes = sum((project / name).stat().st_size for name in ("a.txt", "b.txt", "large.txt"))
    assert result.raw_size == sizes
    totals = {total for _, total in seen}
    assert len(totals) == 1
    (total,) = totals
    assert sizes < total < sizes + 4096  # the manifest's few bytes besides the files'
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total
    # Reported while the large file was read, a megabyte at a time, not only at its end.
    assert len({d for d in done if 0 < d < total}) >= 3
