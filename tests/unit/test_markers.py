"""Parsing the runner's marker lines on the client."""

from __future__ import annotations

import pytest

from client.markers import Marker, parse_marker


def test_parses_a_marker_line() -> None:
    marker = parse_marker(
        '::cbdeploy:: {"event":"step-start","step":"build","index":2,"total":5}\n'
    )
    assert marker == Marker(event="step-start", data={"step": "build", "index": 2, "total": 5})
    assert marker is not None and marker.data["step"] == "build"


@pytest.mark.parametrize(
    "line",
    [
        "npm ci",
        "",
        '  ::cbdeploy:: {"event": "step-start"}',  # not at the start of the line
        "::cbdeploy:: not json",
        "::cbdeploy:: [1, 2]",
        '::cbdeploy:: {"step": "x"}',
        '::cbdeploy:: {"event": 3}',
        'echo "::cbdeploy::"',
    ],
)
def test_ordinary_and_malformed_lines_are_not_markers(line: str) -> None:
    assert parse_marker(line) is None
