"""Benchmark the terminal layer on a burst of build log lines (prints figures; asserts nothing).

A chatty build (a compiler, ``npm install``, a Docker build) prints tens of
thousands of lines in a burst; the follower hands them over at once, and the
renderer must write them faster than they come or the log lags behind the
build. Measured in the same run, writing to a pipe that a reader drains:

- the reference: ``rich.console.Console.out`` for every line (what rich's own
  fast path costs, and what cbdeploy did before);
- :class:`client.output.terminal.Renderer` in plain mode (a CI log) and with
  ``FORCE_COLOR`` (a coloured CI log), and a line mix with markup and
  carriage returns that must still go through rich.

Usage: ``python bench/render.py [--lines 50000]``
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from typing import TextIO

from cbdeploy.client.output.console import make_console
from cbdeploy.client.output.terminal import Renderer
from cbdeploy.client.watch.events import LogLine


def drained_pipe() -> tuple[TextIO, threading.Thread]:
    """A text stream into a pipe, with a thread reading the other end as a terminal would."""
    read_fd, write_fd = os.pipe()
    writer = os.fdopen(write_fd, "w", encoding="utf-8")

    def drain() -> None:
        with os.fdopen(read_fd, "rb") as reader:
            while reader.read(1 << 16):
                pass

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    return writer, thread


def timed(write: Callable[[TextIO], None]) -> float:
    stream, thread = drained_pipe()
    began = time.perf_counter()
    write(stream)
    stream.close()
    thread.join()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    plain = [
        LogLine(n, f"#12 {n / 100:.2f} [build 3/7] RUN npm ci --omit=dev && compile step {n}")
        for n in range(args.lines)
    ]
    mixed = [
        LogLine(n, f"[bold]{n}[/bold] progress\r{n}%" if n % 10 == 0 else line.message)
        for n, line in enumerate(plain)
    ]

    def reference(stream: TextIO) -> None:
        console = make_console(file=stream, environ={})
        for line in plain:
            console.out(line.message, highlight=False)

    def renderer(lines: list[LogLine], environ: dict[str, str]) -> Callable[[TextIO], None]:
        def write(stream: TextIO) -> None:
            handle = Renderer(make_console(file=stream, environ=environ)).handle
            for line in lines:
                handle(line)

        return write

    base = timed(reference)
    print(f"lines per run: {args.lines:,}")
    print(f"reference console.out:       {base:6.2f} s  ({args.lines / base:>9,.0f} lines/s)")
    for label, write in (
        ("Renderer, plain", renderer(plain, {})),
        ("Renderer, FORCE_COLOR", renderer(plain, {"FORCE_COLOR": "1"})),
        ("Renderer, 10% through rich", renderer(mixed, {})),
    ):
        took = timed(write)
        print(
            f"{label + ':':<28} {took:6.2f} s  ({args.lines / took:>9,.0f} lines/s)  "
            f"ratio to reference {took / base:.3f}"
        )


if __name__ == "__main__":
    main()
