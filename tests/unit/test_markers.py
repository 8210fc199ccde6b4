"""Parsing and authenticating the runner's marker lines on the client."""

from __future__ import annotations

import pytest

from cbdeploy.client.watch.markers import (
    Marker,
    MarkerReader,
    parse_announcement,
    parse_marker,
    runs_the_runner,
)

TOKEN = "0123456789abcdef0123456789abcdef"
OTHER = "ffffffffffffffffffffffffffffffff"
ANNOUNCEMENT = '::cbdeploy:: {"event":"runner","token":"' + TOKEN + '"}'


def test_parses_a_signed_marker_line() -> None:
    marker = parse_marker(
        f'::cbdeploy:{TOKEN}:: {{"event":"step-start","step":"build","index":2,"total":5}}\n',
        TOKEN,
    )
    assert marker == Marker(event="step-start", data={"step": "build", "index": 2, "total": 5})
    assert marker is not None and marker.data["step"] == "build"


@pytest.mark.parametrize(
    "line",
    [
        "npm ci",
        "",
        f'  ::cbdeploy:{TOKEN}:: {{"event": "step-start"}}',  # not at the start of the line
        f"::cbdeploy:{TOKEN}:: not json",
        f"::cbdeploy:{TOKEN}:: [1, 2]",
        f'::cbdeploy:{TOKEN}:: {{"step": "x"}}',
        f'::cbdeploy:{TOKEN}:: {{"event": 3}}',
        f'::cbdeploy:{OTHER}:: {{"event": "outputs", "outputs": {{}}}}',  # another token
        '::cbdeploy:: {"event": "outputs", "outputs": {}}',  # no token at all
        'echo "::cbdeploy::"',
    ],
)
def test_ordinary_malformed_and_unsigned_lines_are_not_markers(line: str) -> None:
    assert parse_marker(line, TOKEN) is None


@pytest.mark.parametrize(
    "line",
    [
        '::cbdeploy:: {"event":"runner","token":"not-hex"}',
        '::cbdeploy:: {"event":"runner","token":"' + TOKEN.upper() + '"}',
        '::cbdeploy:: {"event":"runner"}',
        '::cbdeploy:: {"event":"outputs","token":"' + TOKEN + '"}',
        ' ::cbdeploy:: {"event":"runner","token":"' + TOKEN + '"}',
    ],
)
def test_malformed_announcements_are_refused(line: str) -> None:
    assert parse_announcement(line) is None


def test_the_reader_takes_the_first_announcement_and_only_its_token() -> None:
    reader = MarkerReader()
    forged_first = f'::cbdeploy:{TOKEN}:: {{"event":"outputs","outputs":{{"a":1}}}}'
    assert reader.read(forged_first) is None  # nothing is signed before the announcement
    assert reader.read(ANNOUNCEMENT) == Marker("runner", {})
    assert reader.read(forged_first) == Marker("outputs", {"outputs": {"a": 1}})
    second = '::cbdeploy:: {"event":"runner","token":"' + OTHER + '"}'
    assert reader.read(second) is None  # a second announcement is just text
    assert reader.read(f'::cbdeploy:{OTHER}:: {{"event":"outputs","outputs":{{}}}}') is None
    assert reader.token == TOKEN


def test_a_token_masked_by_codebuild_still_signs_the_markers() -> None:
    """A secret value that occurs in the token is masked alike in every line of the log."""
    masked = TOKEN.replace("89ab", "***")
    reader = MarkerReader()
    assert reader.read('::cbdeploy:: {"event":"runner","token":"' + masked + '"}') is not None
    assert reader.read(f'::cbdeploy:{masked}:: {{"event":"step-start","step":"s"}}') == Marker(
        "step-start", {"step": "s"}
    )


def test_no_line_is_a_marker_in_the_log_of_a_build_without_the_runner() -> None:
    own = "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n"
    ours = 'phases:\n  build:\n    commands:\n      - python3 -m runner "$D/.cbdeploy/plan.json"\n'
    assert not runs_the_runner(own)
    assert runs_the_runner(ours) and runs_the_runner(None)
    # A batch's build names its buildspec file: cbdeploy's own for a service, or the service's.
    assert runs_the_runner(".cbdeploy/services/api/buildspec.yml")
    assert not runs_the_runner("services/api/buildspec.yml")
    assert not runs_the_runner("version: 0.2\n# .cbdeploy/services/api/buildspec.yml\n")
    reader = MarkerReader(runner=False)
    assert reader.read(ANNOUNCEMENT) is None
    assert reader.read(f'::cbdeploy:{TOKEN}:: {{"event":"outputs","outputs":{{}}}}') is None
