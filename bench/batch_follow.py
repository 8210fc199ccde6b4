"""Benchmark following a batch build against the emulator (prints figures; asserts nothing).

A batch of ``--services`` (4) independent builds, each printing a numbered line
every 0.2 s for ``--chatty`` seconds, then quiet for ``--quiet`` seconds, then
one last line, is followed with :func:`client.watch.batch.follow_batch` (one
single-build follower per build, sharing one BatchGetBuilds per poll).

Printed:

- lines delivered per service: all, once, in order (checked against the numbering);
- API calls per second while the builds are chatty, by operation (BatchGetBuilds
  should stay near one per second however many builds run; GetLogEvents is one
  stream per build);
- API calls per minute once quiet (from ``--settle`` seconds after the chatty spell).

HTTP requests are counted with a botocore ``request-created`` hook on the session,
so retries count too. Usage: ``python bench/batch_follow.py [--services 4] [--chatty 20]
[--quiet 60]``
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections import Counter
from typing import Any

import boto3

import cbdeploy.emulator as emulator
from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.watch.batch import follow_batch
from cbdeploy.client.watch.events import LogLine, ServiceEvent

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
         "Action": "sts:AssumeRole"}
    ],
}


def batchspec(services: int, chatty: float, quiet: float) -> str:
    script = (f"import time\nfor n in range(int({chatty} / 0.2)):\n"
              "    print('line %06d' % n, flush=True)\n    time.sleep(0.2)\n"
              f"print('chatty-over', flush=True)\ntime.sleep({quiet})\n"
              "print('quiet-over', flush=True)\n")
    command = "".join(f"        {line}\n" for line in ["python3 - <<'EOF'", *script.splitlines(),
                                                         "EOF"])
    graph = "".join(f"    - identifier: s{i}\n      env:\n        variables:\n"
                    f"          CBDEPLOY_SERVICE: service-{i}\n" for i in range(services))
    return (f"version: 0.2\nphases:\n  build:\n    commands:\n      - |\n{command}"
            f"batch:\n  fast-fail: true\n  build-graph:\n{graph}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=4)
    parser.add_argument("--chatty", type=float, default=20.0)
    parser.add_argument("--quiet", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=20.0)
    args = parser.parse_args()

    credentials = emulator.Credentials.generate()
    with emulator.running(credentials=credentials) as url:
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            region_name="us-east-1",
        )
        calls: list[tuple[float, str]] = []

        def count(**kwargs: Any) -> None:
            calls.append((time.monotonic(), str(kwargs.get("operation_name", "?"))))

        session.events.register("request-created", count)
        aws = AwsClient(session, "us-east-1", endpoint_url=url)
        name = f"bench-batch-{uuid.uuid4().hex[:8]}"
        role = aws.create_role(name, TRUST, "bench")
        aws.create_project(
            name=name,
            source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {}\n"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                         "computeType": "BUILD_GENERAL1_SMALL"},
            serviceRole=role, buildBatchConfig={"serviceRole": role, "timeoutInMins": 30},
        )
        started = aws.client("codebuild").start_build_batch(
            projectName=name, buildspecOverride=batchspec(args.services, args.chatty, args.quiet))
        received: dict[str, list[tuple[float, str]]] = {}

        def sink(event: Any) -> None:
            if isinstance(event, ServiceEvent) and isinstance(event.event, LogLine):
                received.setdefault(event.service, []).append(
                    (time.monotonic(), event.event.message))

        calls.clear()
        outcome = follow_batch(aws, started["buildBatch"]["id"], on_event=sink)

    expected = [f"line {n:06d}" for n in range(int(args.chatty / 0.2))]
    in_order = {s: [m for _, m in lines if m.startswith("line ")] == expected
                for s, lines in sorted(received.items())}
    firsts = [lines[0][0] for lines in received.values()]
    chatty_ends = [next(t for t, m in lines if m == "chatty-over") for lines in received.values()]
    quiet_ends = [next(t for t, m in lines if m == "quiet-over") for lines in received.values()]
    chatty = (max(firsts), min(chatty_ends))
    quiet = (max(chatty_ends) + args.settle, min(quiet_ends))
    per_second = Counter(op for t, op in calls if chatty[0] <= t < chatty[1])
    per_minute = Counter(op for t, op in calls if quiet[0] <= t < quiet[1])
    seconds, minutes = chatty[1] - chatty[0], (quiet[1] - quiet[0]) / 60.0
    figures = {
        "batch_status": outcome.status,
        "exit_code": outcome.exit_code,
        "services": len(received),
        "every_line_once_in_order": in_order,
        "chatty_window_s": round(seconds, 1),
        "chatty_calls_per_s": {op: round(n / seconds, 2) for op, n in sorted(per_second.items())},
        "quiet_window_s": round(quiet[1] - quiet[0], 1),
        "quiet_calls_per_minute": {op: round(n / minutes, 1) for op, n in sorted(per_minute.items())},
        "api_calls_total": len(calls),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
