"""Benchmark: cbdeploy packaging and start-up against their references (issue 16).

Every figure is a whole process, as a user runs it, timed in alternating pairs
(reference, ours, reference, ours ...) so that a machine whose speed drifts
affects both alike; the ratio is taken pair by pair and its median printed,
with the medians of both times. Peak RSS is the package process's own
(``wait4``). On a synthetic monorepo built here (>= 5,000 shipped files among
>= 35,000: ignored node_modules and dist trees, nested .gitignore files,
incompressible assets, executables, an in-project symlink, a tracked-but-ignored
file and an untracked file), and with ``--repo PATH`` on a real checkout too
(babel/babel in the issue); printed per repository:

- cold ``cbdeploy package --no-cache`` / ``git archive --format=zip HEAD``  (target <= 0.6)
- re-package after a one-file change / git archive                       (target <= 0.25)
- archive size / git archive's size                                       (target <= 1.03)
- peak RSS of the package process (its largest process: wait4 counts the
  worker processes it waited for too)                                      (target <= 100 MiB)
- the CPU seconds of a cold package and of git archive (on a loaded machine the
  wall-clock ratio tells less)

and once: ``cbdeploy --help``, ``cbdeploy deploy --help`` and one completion
press / ``python3 -c pass`` (target <= 4). The cold build and the re-packaged
one are checked to be byte-identical. Figures on a shared machine are noisy.
Run: ``.venv/bin/python bench/package.py [--repo PATH] [--runs 5] [--keep]``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from common import CBDEPLOY, add_keep_option, git, scratch

RUNS = 5

_WORD_TEXT = (
    "const let function return import export from default async await class extends "
    "if else for while switch case break continue try catch finally throw new this "
    "value result request response handler config options user account order item "
    "price amount total count index length data error message status payload token "
    "=> ( ) { } [ ] ; , . = == === + - * / < > && || ! ? : "
)
WORDS = _WORD_TEXT.split()


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


CPU: dict[str, list[float]] = {}  # command name -> CPU seconds (user + sys) of each run


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one whole process, its output thrown away; its
    CPU seconds, its children's included (worker processes, git), go to ``CPU``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    who = "git" if cmd[0] == "git" else "cbdeploy"  # (--cbdeploy may name another file)
    CPU.setdefault(who, []).append(usage.ru_utime + usage.ru_stime)
    return seconds, usage.ru_maxrss / 1024


def paired(
    runs: int, reference: Callable[[], float], ours: Callable[[], float]
) -> tuple[float, float, float]:
    """Alternate reference and ours (one warm-up pair first): medians of both and of the
    pair-by-pair ratio."""
    reference(), ours()
    pairs = [(reference(), ours()) for _ in range(runs)]
    return (
        statistics.median(r for r, _ in pairs),
        statistics.median(o for _, o in pairs),
        statistics.median(o / r for r, o in pairs),
    )


def line(what: str, ours: float, reference: float, ratio: float, ref_name: str, target: str) -> None:
    print(
        f"  {what:<34} {ours * 1000:7.0f} ms  vs {ref_name} {reference * 1000:6.0f} ms"
        f"  ratio {ratio:5.2f}  (target {target})"
    )


def bench_repo(name: str, root: Path, tmp: Path, runs: int, edit: Path) -> None:
    """Cold package, re-package after editing ``edit``, size and RSS, against git archive."""
    git_zip, cold_zip, warm_zip = tmp / f"{name}-git.zip", tmp / f"{name}-cold.zip", tmp / "warm.zip"
    rss: dict[str, list[float]] = {"cold": [], "re-package": []}

    def git_archive() -> float:
        return run(["git", "archive", "--format=zip", "-o", str(git_zip), "HEAD"], root)[0]

    def cold() -> float:
        seconds, peak = run([CBDEPLOY, "package", "--no-cache", "-o", str(cold_zip)], root)
        rss["cold"].append(peak)
        return seconds

    original = edit.read_bytes()
    edits = iter(range(10**6))

    def warm() -> float:
        edit.write_bytes(original + f"// edit {next(edits)}\n".encode())
        seconds, peak = run([CBDEPLOY, "package", "-o", str(warm_zip)], root)
        rss["re-package"].append(peak)
        return seconds

    print(f"{name}:")
    CPU.clear()
    ref, ours, ratio = paired(runs, git_archive, cold)
    line("cold package", ours, ref, ratio, "git archive", "<= 0.6")
    cpu, git_cpu = statistics.median(CPU["cbdeploy"]), statistics.median(CPU["git"])
    print(f"  {'  its CPU (user + sys, all processes)':<34} {cpu * 1000:7.0f} ms  vs git archive "
          f"{git_cpu * 1000:6.0f} ms  ratio {cpu / git_cpu:5.2f}")
    try:
        run([CBDEPLOY, "package", "-o", str(warm_zip)], root)  # fill the cache
        ref, ours, ratio = paired(runs, git_archive, warm)
        line("re-package after a one-file change", ours, ref, ratio, "git archive", "<= 0.25")
        run([CBDEPLOY, "package", "--no-cache", "-o", str(cold_zip)], root)
        assert cold_zip.read_bytes() == warm_zip.read_bytes(), "cached build differs from a cold one"
    finally:
        edit.write_bytes(original)
        shutil.rmtree(root / ".cbdeploy" / "cache", ignore_errors=True)
    size, git_size = cold_zip.stat().st_size, git_zip.stat().st_size
    print(f"  {'archive size':<34} {size / 1e6:7.2f} MB  vs git archive {git_size / 1e6:6.2f} MB"
          f"  ratio {size / git_size:5.3f}  (target <= 1.03)")
    for what, peaks in rss.items():
        label = f"peak RSS of package, {what}"
        print(f"  {label:<34} {max(peaks):7.0f} MiB (target <= 100 MiB)")


def bench_startup(tmp: Path, runs: int) -> None:
    python = ["python3", "-c", "pass"]
    completion = dict(os.environ, _CBDEPLOY_COMPLETE="bash_complete",
                      COMP_WORDS="cbdeploy deploy --st", COMP_CWORD="2")
    print("start-up:")
    for what, cmd, env in (
        ("cbdeploy --help", [CBDEPLOY, "--help"], None),
        ("cbdeploy deploy --help", [CBDEPLOY, "deploy", "--help"], None),
        ("completion of an option", [CBDEPLOY], completion),
    ):
        ref, ours, ratio = paired(
            runs, lambda: run(python, tmp)[0], lambda c=cmd, e=env: run(c, tmp, e)[0]
        )
        line(what, ours, ref, ratio, "python3 -c pass", "<= 4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, action="append", default=[],
                        help="also a real git checkout (its files are edited, then restored)")
    parser.add_argument("--runs", type=int, default=RUNS, help="pairs per figure")
    parser.add_argument("--cbdeploy", help="the command to measure (default: this venv's), "
                        "e.g. an older build for a before and after on one machine")
    add_keep_option(parser)
    args = parser.parse_args()
    if args.cbdeploy:
        global CBDEPLOY
        CBDEPLOY = args.cbdeploy
    with scratch("cbdeploy-bench-", keep=args.keep) as tmp:
        root = tmp / "repo"
        t0 = time.perf_counter()
        counts = make_repo(root, random.Random(42))
        print(
            f"synthetic monorepo: {counts['shipped']} shipped files among {counts['total']} "
            f"(built in {time.perf_counter() - t0:.1f}s) at {root}"
        )
        time.sleep(2.1)  # let every file age past the cache's racy window, as in a real project
        bench_repo("synthetic monorepo", root, tmp, args.runs,
                   root / "packages" / "pkg07" / "src" / "mod2" / "file045.ts")
        with zipfile.ZipFile(tmp / "synthetic monorepo-cold.zip") as archive:
            names = set(archive.namelist())
        assert {"notes-untracked.txt", "config/local.settings", "current"} <= names
        assert "packages/pkg00/keep.log" in names and "packages/pkg00/debug.log" not in names
        assert not any(n.startswith(("node_modules/", "packages/pkg00/dist/")) for n in names)
        for repo in args.repo:
            repo = repo.resolve()
            listed = subprocess.run(["git", "ls-files", "*.js", "*.ts"], cwd=repo,
                                    capture_output=True, text=True, check=True).stdout.split()
            edit = repo / listed[len(listed) // 2]  # some source file, the same every run
            bench_repo(repo.name, repo, tmp, args.runs, edit)
        bench_startup(tmp, args.runs)
        print(f"cores: {os.cpu_count()}; {args.runs} alternating pairs per figure, medians; "
              "noisy if the machine is shared")


if __name__ == "__main__":
    main()
