"""Benchmark: cbdeploy packaging against ``git archive --format=zip HEAD``.

Builds a synthetic monorepo in a temporary directory (>= 5,000 shipped files
among >= 35,000: ignored node_modules and dist trees, nested .gitignore files,
incompressible assets, executables, an in-project symlink, a tracked-but-ignored
file and an untracked file), commits it, and prints medians of 5 runs of:

- cold package time / git archive time            (target <= 0.8)
- re-package after touching one file / git archive (target <= 0.1)
- archive size / git archive size                  (target <= 1.03)
- peak RSS of the package process

Each package run is a fresh ``python`` process (as a user's ``cbdeploy package``
would be) that selects and writes the archive; its in-process time is printed
too, since interpreter start-up is a fixed cost. The child's bytecode is cached
(compiled once, before timing) like an installed cbdeploy's, whatever
PYTHONDONTWRITEBYTECODE says; ``--no-bytecode-cache`` compiles it in every run.
Figures on a shared machine are noisy.
Run: ``.venv/bin/python bench/package.py [--keep] [--no-bytecode-cache]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNS = 5

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from cbdeploy.client.packaging import build_archive, select_files
root, out, cache = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
selection = select_files(root)
result = build_archive(selection, out, cache_dir=Path(cache) if cache else None)
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "files": result.file_count, "size": result.size,
                  "sha256": result.sha256, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

_WORD_TEXT = (
    "const let function return import export from default async await class extends "
    "if else for while switch case break continue try catch finally throw new this "
    "value result request response handler config options user account order item "
    "price amount total count index length data error message status payload token "
    "=> ( ) { } [ ] ; , . = == === + - * / < > && || ! ? : "
)
WORDS = _WORD_TEXT.split()


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def write(path: Path, data: bytes, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mode is not None:
        path.chmod(mode)


def make_repo(
    root: Path, rng: random.Random, *, packages: int = 40, ignored: int = 30_000
) -> dict[str, int]:
    corpus = " ".join(
        rng.choice(WORDS) + ("\n" if rng.random() < 0.1 else "") for _ in range(400_000)
    ).encode()
    counts = {"shipped": 0, "total": 0}

    def text(size: int) -> bytes:
        start = rng.randrange(0, len(corpus) - size)
        return corpus[start : start + size]

    write(root / ".gitignore", b"node_modules/\n*.log\n*.settings\n.cache/\n")
    for p in range(packages):
        pkg = root / "packages" / f"pkg{p:02d}"
        write(pkg / ".gitignore", b"dist/\ncoverage/\n!keep.log\n")
        write(pkg / "keep.log", b"kept by a negation\n")
        for i in range(118):
            write(pkg / "src" / f"mod{i // 20}" / f"file{i:03d}.ts", text(rng.randint(500, 16000)))
        for i in range(5):
            write(pkg / "assets" / f"img{i}.png", rng.randbytes(rng.randint(5000, 60000)))
        write(pkg / "assets" / "blob.bin", rng.randbytes(30000))  # incompressible, no hint
        write(pkg / "bin" / "run.sh", b"#!/bin/sh\necho run\n", 0o755)
        write(pkg / "debug.log", b"ignored\n")
        for i in range(25):
            write(pkg / "dist" / f"bundle{i}.js", text(4000))
    for i in range(ignored):
        write(root / "node_modules" / f"dep{i // 100}" / "lib" / f"f{i % 100}.js", text(600))
    write(root / "config" / "local.settings", b"tracked though ignored\n")
    os.symlink("packages/pkg00", root / "current")
    git(root, "init", "-q")
    git(root, "-c", "core.autocrlf=false", "add", "-A")
    git(root, "add", "-f", "config/local.settings")
    git(root, "-c", "user.name=bench", "-c", "user.email=b@b", "commit", "-qm", "bench")
    write(root / "notes-untracked.txt", text(3000))
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True, check=True
    ).stdout.count(b"\n")
    counts["shipped"] = listed
    counts["total"] = sum(len(files) for _, _, files in os.walk(root) if ".git" not in _)
    return counts


def timed(cmd: list[str], cwd: Path) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - start, proc.stdout


def child_env(pycache: Path | None) -> dict[str, str]:
    """The package process's environment. With ``pycache`` its bytecode is compiled once
    and reused, as an installed cbdeploy's is (pip compiles at install); a
    PYTHONDONTWRITEBYTECODE inherited from the shell would otherwise make every run
    compile the packaging modules again."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def package(
    root: Path, out: Path, cache: Path | None, env: dict[str, str]
) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(out), str(cache or "")],
        capture_output=True,
        check=True,
        env=env,
    )
    return time.perf_counter() - start, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile the packaging modules in every package run (as under PYTHONDONTWRITEBYTECODE)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cbdeploy-bench-"))
    try:
        root = tmp / "repo"
        t0 = time.perf_counter()
        counts = make_repo(root, random.Random(42))
        print(
            f"repo: {counts['shipped']} shipped files among {counts['total']} "
            f"(built in {time.perf_counter() - t0:.1f}s) at {root}"
        )
        time.sleep(2.1)  # let every file age past the cache's racy window, as in a real project

        git_times, git_size = [], 0
        for _ in range(RUNS):
            seconds, _ = timed(
                ["git", "archive", "--format=zip", "-o", str(tmp / "git.zip"), "HEAD"], root
            )
            git_times.append(seconds)
            git_size = (tmp / "git.zip").stat().st_size
        env = child_env(None if args.no_bytecode_cache else tmp / "pycache")
        package(root, tmp / "cold.zip", None, env)  # compiles the bytecode, unless told not to
        cold = [package(root, tmp / "cold.zip", None, env) for _ in range(RUNS)]

        cache = tmp / "cache"
        package(root, tmp / "warm.zip", cache, env)  # fill the cache
        warm = []
        touched = root / "packages" / "pkg07" / "src" / "mod2" / "file045.ts"
        for i in range(RUNS):
            touched.write_bytes(touched.read_bytes() + f"// edit {i}\n".encode())
            warm.append(package(root, tmp / "warm.zip", cache, env))
        check = package(root, tmp / "check.zip", None, env)[1]
        assert check["sha256"] == warm[-1][1]["sha256"], "cached build differs from a cold build"
        with zipfile.ZipFile(tmp / "check.zip") as archive:
            names = set(archive.namelist())
        assert {"notes-untracked.txt", "config/local.settings", "current"} <= names
        assert "packages/pkg00/keep.log" in names and "packages/pkg00/debug.log" not in names
        assert not any(n.startswith(("node_modules/", "packages/pkg00/dist/")) for n in names)

        git_median = statistics.median(git_times)
        cold_wall = statistics.median(c[0] for c in cold)
        cold_in = statistics.median(c[1]["seconds"] for c in cold)
        warm_wall = statistics.median(w[0] for w in warm)
        warm_in = statistics.median(w[1]["seconds"] for w in warm)
        size = cold[0][1]["size"]
        rss = max(c[1]["rss_kb"] for c in cold + warm) / 1024
        print(f"git archive --format=zip HEAD: {git_median * 1000:.0f} ms, {git_size / 1e6:.2f} MB")
        print(
            f"cold package:   {cold_wall * 1000:.0f} ms process ({cold_in * 1000:.0f} ms in-process)"
            f"  ratio {cold_wall / git_median:.2f} (in-process {cold_in / git_median:.2f}; target <= 0.8)"
        )
        print(
            f"re-package:     {warm_wall * 1000:.0f} ms process ({warm_in * 1000:.0f} ms in-process)"
            f"  ratio {warm_wall / git_median:.3f} (in-process {warm_in / git_median:.3f}; target <= 0.1)"
        )
        print(f"archive size:   {size / 1e6:.2f} MB  ratio {size / git_size:.3f} (target <= 1.03)")
        print(f"peak RSS of the package process: {rss:.0f} MiB")
        bytecode = "compiled every run" if args.no_bytecode_cache else "cached, as when installed"
        print(f"cores: {os.cpu_count()}; medians of {RUNS}; bytecode {bytecode}; noisy if shared")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
