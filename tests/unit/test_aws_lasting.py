"""What a door to AWS keeps (boto3's modules, a client's models) is made without the cyclic
collector and then frozen (client/collector.py; issue 16, target 4: a third of the CPU
of making a deploy's clients went to collections walking the models as they were parsed).
Behaviour, no timing: collections seen with ``gc.callbacks``; no network."""

from __future__ import annotations

import gc
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.collector import paused_then_frozen_gc
from cbdeploy.client.interpreter import helper_command


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """For every collection that starts while the test runs, how many objects were frozen
    then (``gc.get_freeze_count``); what the test froze is unfrozen after it, and the
    collector is left as it was."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(gc.get_freeze_count())

    enabled = gc.isenabled()
    gc.enable()
    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()
        (gc.enable if enabled else gc.disable)()


def test_making_a_client_runs_no_collection_and_freezes_its_models(
    collections: list[int],
) -> None:
    session = boto3.session.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    aws = AwsClient(session, "us-east-1", endpoint_url="http://127.0.0.1:9")
    frozen = gc.get_freeze_count()
    collections.clear()  # (the session's own)
    aws.client("s3")  # S3's model and endpoint rules: the largest of a deploy's
    # The models (tens of thousands of objects) were frozen before any collection.
    assert gc.get_freeze_count() > frozen + 20_000
    assert all(at > frozen for at in collections)
    assert gc.isenabled()


def test_blocks_on_several_threads_resume_the_collector_once_all_have_ended(
    collections: list[int],
) -> None:
    with paused_then_frozen_gc():
        with paused_then_frozen_gc():  # (as a second thread's block, begun before the first)
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled(collections: list[int]) -> None:
    gc.disable()
    with paused_then_frozen_gc():
        pass
    assert not gc.isenabled()


LOAD = """
import gc, json
from cbdeploy.client.aws.agent import load_door
starts = []
gc.callbacks.append(lambda phase, info: starts.append(gc.get_freeze_count()) if phase == "start" else None)
load_door()
import boto3
print(json.dumps([starts, gc.isenabled(), gc.get_freeze_count()]))
"""


def test_the_agent_loads_boto3_without_a_collection_then_freezes_it() -> None:
    """In the agent's own interpreter (``python -I -S``, as the deploy starts it)."""
    done = subprocess.run(helper_command(LOAD), capture_output=True, text=True, timeout=60,
                          check=True)
    collections, enabled, frozen = json.loads(done.stdout)
    assert frozen > 20_000 and enabled
    assert collections == [] or min(collections) == frozen
