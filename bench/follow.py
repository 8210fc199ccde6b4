"""Benchmark the log follower against the emulator (prints figures; asserts nothing).

A build prints numbered lines in three spells, and
:class:`client.watch.follow.Follower` follows it:

1. ``--bursts`` bursts (30) of ``--burst-lines`` lines with ``--pause`` seconds between;
2. a trickle: one line every 50 ms for ``--trickle`` seconds (a chatty build);
3. quiet for ``--quiet`` seconds, then one last line.

Printed, with issue 16's targets:

- lines delivered: all, once, in order (checked against the numbering);
- delay from a line's log timestamp to its arrival at the client, p50/p95;
- GetLogEvents calls per second during the trickle (target <= 1.5);
- API calls per minute while quiet, both kinds, once the back-off has settled
  (from ``--settle`` seconds after the last trickle line; target <= 12).

HTTP requests are counted with a botocore ``request-created`` hook, so retries
count too. Usage: ``python bench/follow.py [--bursts 30] [--trickle 30] [--quiet 90]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import boto3

import cbdeploy.emulator as emulator
from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.watch.events import BuildFinished, LogLine
from cbdeploy.client.watch.follow import Follower

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
         "Action": "sts:AssumeRole"}
    ],
}


def buildspec(bursts: int, burst_lines: int, pause: float, trickle: float, quiet: float) -> str:
    script = (
        "import sys, time\n"
        "n = 0\n"
        f"for b in range({bursts}):\n"
        f"    for i in range({burst_lines}):\n"
        "        sys.stdout.write('line %06d\\n' % n)\n"
        "        n += 1\n"
        "    sys.stdout.flush()\n"
        f"    time.sleep({pause})\n"
        f"for i in range(int({trickle} / 0.05)):\n"
        "    print('line %06d' % n, flush=True)\n"
        "    n += 1\n"
        "    time.sleep(0.05)\n"
        "print('trickle-over', flush=True)\n"
        f"time.sleep({quiet})\n"
        "print('quiet-spell-over', flush=True)\n"
    )
    return "version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        python3 - <<'EOF'\n" + "".join(
        f"        {line}\n" for line in script.splitlines()
    ) + "        EOF\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=30)
    parser.add_argument("--burst-lines", type=int, default=1000)
    parser.add_argument("--pause", type=float, default=0.5)
    parser.add_argument("--trickle", type=float, default=30.0)
    parser.add_argument("--quiet", type=float, default=90.0)
    parser.add_argument("--settle", type=float, default=30.0)
    args = parser.parse_args()

    credentials = emulator.Credentials.generate()
    with emulator.running(credentials=credentials) as url:
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            region_name="us-east-1",
        )
        aws = AwsClient(session, "us-east-1", endpoint_url=url)
        name = f"bench-follow-{uuid.uuid4().hex[:8]}"
        role = aws.create_role(name, TRUST, "bench")
        aws.create_project(
            name=name,
            source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {}\n"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                         "computeType": "BUILD_GENERAL1_SMALL"},
            serviceRole=role,
        )

        calls: list[tuple[float, str]] = []

        def count(**kwargs: Any) -> None:
            # Emitted once per HTTP attempt, so botocore's retries count too.
            calls.append((time.monotonic(), str(kwargs.get("operation_name", "?"))))

        for service in ("logs", "codebuild"):
            aws.client(service).meta.events.register("request-created", count)

        build = aws.start_build(
            projectName=name,
            buildspecOverride=buildspec(
                args.bursts, args.burst_lines, args.pause, args.trickle, args.quiet
            ),
        )
        received: list[tuple[int, float, float, str]] = []  # (log ts ms, wall ms, mono, text)
        began = time.monotonic()
        final = None
        for event in Follower(aws).follow(build.id):
            if isinstance(event, LogLine):
                received.append((event.timestamp, time.time() * 1000, time.monotonic(), event.message))
            elif isinstance(event, BuildFinished):
                final = event.build
        ended = time.monotonic()

    expected = args.bursts * args.burst_lines + int(args.trickle / 0.05)
    numbered = [int(text[5:]) for _, _, _, text in received if text.startswith("line ") and text[5:].isdigit()]
    in_order_once = numbered == list(range(expected))
    delays = sorted(max(0.0, wall - ts) for ts, wall, _, text in received if text.startswith("line "))
    # The trickle: from the first trickled line's arrival to the last one's.
    trickle_first = next(mono for _, _, mono, text in received
                         if text == f"line {args.bursts * args.burst_lines:06d}")
    trickle_end = next(mono for _, _, mono, text in received if text == "trickle-over")
    trickle_reads = sum(1 for t, op in calls if trickle_first <= t < trickle_end and op == "GetLogEvents")
    reads_per_second = trickle_reads / max(trickle_end - trickle_first, 1e-9)
    # The quiet spell: from --settle seconds after the trickle ended (back-off has
    # settled) to the arrival of the line that ends it.
    quiet_end = next(mono for _, _, mono, text in received if text == "quiet-spell-over")
    window = (trickle_end + args.settle, quiet_end)
    quiet_calls = Counter(op for t, op in calls if window[0] <= t < window[1])
    minutes = (window[1] - window[0]) / 60.0
    quiet_per_minute = sum(quiet_calls.values()) / minutes

    figures = {
        "build_status": final.status if final else None,
        "bursts": args.bursts,
        "lines_expected": expected,
        "lines_delivered": len(numbered),
        "all_once_in_order": in_order_once,
        "delay_ms_p50": round(statistics.median(delays)),
        "delay_ms_p95": round(delays[int(len(delays) * 0.95) - 1]),
        "delay_ms_max": round(delays[-1]),
        "trickle_get_log_events_per_s": round(reads_per_second, 2),
        "quiet_window_s": round(window[1] - window[0], 1),
        "quiet_calls_per_minute": {op: round(n / minutes, 1) for op, n in sorted(quiet_calls.items())},
        "quiet_calls_per_minute_total": round(quiet_per_minute, 1),
        "api_calls_total": len(calls),
        "follow_seconds": round(ended - began, 1),
    }
    print(json.dumps(figures, indent=2))
    print(f"follow, a line every 50 ms: {reads_per_second:.2f} GetLogEvents/s (target <= 1.5)")
    print(f"follow, quiet: {quiet_per_minute:.1f} calls/min, both kinds (target <= 12)")
    print(f"follow, delivery over {args.bursts} bursts and the trickle: "
          f"{'every line once, in order' if in_order_once else 'LINES LOST OR REPEATED'}")


if __name__ == "__main__":
    main()
