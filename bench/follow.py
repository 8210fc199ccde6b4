"""Benchmark the log follower against the emulator (prints figures; asserts nothing).

A build prints 50,000 numbered lines in bursts with pauses, then stays quiet
for a while; :class:`client.watch.follow.Follower` follows it. Printed:

- lines delivered: all, once, in order (checked against the numbering);
- delay from a line's log timestamp to its arrival at the client, p50/p95;
- API calls per minute while the build is quiet (HTTP requests counted with
  a botocore ``before-send`` hook, so retries count too).

Usage: ``python bench/follow.py [--lines 50000] [--bursts 10] [--pause 2] [--quiet 30]``
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


def buildspec(lines: int, bursts: int, pause: float, quiet: float) -> str:
    script = (
        "import sys, time\n"
        f"n, b = {lines}, {bursts}\n"
        "per = n // b\n"
        "for i in range(n):\n"
        "    sys.stdout.write('line %06d\\n' % i)\n"
        "    if i % per == per - 1:\n"
        "        sys.stdout.flush()\n"
        f"        time.sleep({pause})\n"
        "sys.stdout.flush()\n"
        f"time.sleep({quiet})\n"
        "print('quiet-spell-over', flush=True)\n"
    )
    return "version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        python3 - <<'EOF'\n" + "".join(
        f"        {line}\n" for line in script.splitlines()
    ) + "        EOF\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--pause", type=float, default=2.0)
    parser.add_argument("--quiet", type=float, default=30.0)
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
            buildspecOverride=buildspec(args.lines, args.bursts, args.pause, args.quiet),
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

    numbered = [int(text[5:]) for _, _, _, text in received if text.startswith("line ") and text[5:].isdigit()]
    in_order_once = numbered == list(range(args.lines))
    delays = sorted(max(0.0, wall - ts) for ts, wall, _, text in received if text.startswith("line "))
    # The quiet spell: from 5 s after the last numbered line arrived (back-off
    # has settled) to the arrival of the line that ends it.
    last_numbered = max(mono for _, _, mono, text in received if text.startswith("line "))
    quiet_end = next(mono for _, _, mono, text in received if text == "quiet-spell-over")
    window = (last_numbered + 5.0, quiet_end)
    quiet_calls = Counter(op for t, op in calls if window[0] <= t < window[1])
    minutes = (window[1] - window[0]) / 60.0

    figures = {
        "build_status": final.status if final else None,
        "lines_expected": args.lines,
        "lines_delivered": len(numbered),
        "all_once_in_order": in_order_once,
        "delay_ms_p50": round(statistics.median(delays)),
        "delay_ms_p95": round(delays[int(len(delays) * 0.95) - 1]),
        "delay_ms_max": round(delays[-1]),
        "quiet_window_s": round(window[1] - window[0], 1),
        "quiet_calls_per_minute": {op: round(n / minutes, 1) for op, n in sorted(quiet_calls.items())},
        "quiet_calls_per_minute_total": round(sum(quiet_calls.values()) / minutes, 1),
        "api_calls_total": len(calls),
        "follow_seconds": round(ended - began, 1),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
