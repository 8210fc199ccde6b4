"""Following a batch through a flaky endpoint: every line of every service, once, in order.

``emulator.running(fault_rate=..., fault_seed=...)`` answers a seeded share of
the client's requests (BatchGetBuildBatches, BatchGetBuilds, GetLogEvents
included) with a throttle, a 5xx or a dropped connection, as AWS may.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

LINES = 400
SPEC = """version: 0.2
phases:
  build:
    commands:
      - |
        python3 - <<'EOF'
        import os, time
        for i in range(%(lines)d):
            print(f"{os.environ['CBDEPLOY_SERVICE']} line {i:04d}", flush=True)
            if i %% 100 == 99:
                time.sleep(0.5)
        EOF
batch:
  fast-fail: true
  build-graph:
    - identifier: api
      env:
        variables:
          CBDEPLOY_SERVICE: api
    - identifier: web
      depend-on: [api]
      env:
        variables:
          CBDEPLOY_SERVICE: web
"""


@pytest.fixture
def flaky(aws_env: None, emulator_credentials: Any) -> Iterator[Any]:
    """An AwsClient on an endpoint that fails 15 % of the requests."""
    import boto3

    import cbdeploy.emulator as emulator
    from cbdeploy.client.aws.client import AwsClient

    with emulator.running(fault_rate=0.15, fault_seed=20261206,
                          credentials=emulator_credentials) as url:
        yield AwsClient(boto3.session.Session(region_name="us-east-1"), "us-east-1",
                        endpoint_url=url)


def test_a_batch_followed_through_faults_delivers_every_line_once(flaky: Any) -> None:
    from cbdeploy.client.watch.batch import follow_batch
    from cbdeploy.client.watch.events import LogLine, ServiceEvent

    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    name = f"flaky-{uuid.uuid4().hex[:8]}"
    role = flaky.create_role(name, trust, "test")
    flaky.create_project(
        name=name, source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {}\n"},
        artifacts={"type": "NO_ARTIFACTS"}, serviceRole=role,
        environment={"type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL"},
        buildBatchConfig={"serviceRole": role, "timeoutInMins": 30})
    batch = flaky.call("codebuild", "start_build_batch", projectName=name,
                       buildspecOverride=SPEC % {"lines": LINES})["buildBatch"]
    lines: dict[str, list[str]] = {"api": [], "web": []}

    def sink(event: Any) -> None:
        inner = event.event if isinstance(event, ServiceEvent) else None
        if isinstance(inner, LogLine) and inner.message.startswith(f"{event.service} line "):
            lines[event.service].append(inner.message)

    outcome = follow_batch(flaky, batch["id"], on_event=sink)

    assert outcome.status == "SUCCEEDED" and outcome.exit_code == 0, outcome
    for service in ("api", "web"):
        assert lines[service] == [f"{service} line {i:04d}" for i in range(LINES)]
