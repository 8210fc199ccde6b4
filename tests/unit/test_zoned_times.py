"""Times a user reads carry their zone (issue 17, item 4): a laptop and a CI runner differ.

``cbdeploy builds`` and the ``logs`` header print local time with its offset,
or ``UTC`` where the local zone is UTC. The zone comes from ``TZ`` (set here,
with ``time.tzset``, and restored after each test).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from cbdeploy.client.output.builds import builds_table
from cbdeploy.client.output.place import Place
from cbdeploy.client.output.terminal import Renderer
from cbdeploy.client.output.text import clock_time
from cbdeploy.client.watch.events import Attached
from tests.factories import make_build

BEGAN = datetime(2026, 12, 6, 7, 40, 12, tzinfo=timezone.utc)


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield
    monkeypatch.undo()
    time.tzset()


def in_zone(monkeypatch: pytest.MonkeyPatch, tz: str) -> None:
    monkeypatch.setenv("TZ", tz)
    time.tzset()


@pytest.mark.parametrize(
    ("tz", "shown"),
    [
        ("UTC", "2026-12-06 07:40:12 UTC"),
        ("CET-1", "2026-12-06 08:40:12 +01:00"),
        ("IST-5:30", "2026-12-06 13:10:12 +05:30"),
        ("EST5", "2026-12-06 02:40:12 -05:00"),
    ],
)
def test_a_time_says_its_zone(
    zone: None, monkeypatch: pytest.MonkeyPatch, tz: str, shown: str
) -> None:
    in_zone(monkeypatch, tz)
    assert clock_time(BEGAN) == shown


def test_builds_lists_start_times_with_their_zone(
    zone: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_zone(monkeypatch, "CET-1")
    done = make_build("SUCCEEDED", id="cbdeploy-app-dev:1", start=BEGAN,
                      end=BEGAN + timedelta(seconds=75))
    c = Console(file=io.StringIO(), width=200, force_terminal=False)
    builds_table(c, [done])
    header, row = c.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert "2026-12-06 08:40:12 +01:00" in row
    assert row.index("2026-12-06") == header.index("STARTED")


def test_the_logs_header_says_the_zone_of_the_start(
    zone: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_zone(monkeypatch, "UTC")
    ended = replace(make_build("FAILED", id="cbdeploy-app-dev:1"), start=BEGAN,
                    end=BEGAN + timedelta(seconds=75))
    c = Console(file=io.StringIO(), width=200, force_terminal=False)
    Renderer(c, noun="Build", place=Place("us-east-1", True)).handle(
        Attached(ended, following=False))
    assert "  Status:   FAILED, started 2026-12-06 07:40:12 UTC, took 1m 15s" in (
        c.file.getvalue().splitlines())  # type: ignore[attr-defined]
