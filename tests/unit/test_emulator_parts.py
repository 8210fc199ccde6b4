"""Pieces of the emulator that need no server: buildspec parsing, log splitting, faults, zips."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from cbdeploy.emulator.buildspec import BuildspecError, PhaseSpec, parse_buildspec
from cbdeploy.emulator.faults import FaultInjector, fault_response
from cbdeploy.emulator.logs import MAX_EVENT_BYTES, split_message
from cbdeploy.emulator.source import SourceError, extract_zip


def test_buildspec_reads_scalars_as_strings_and_phases_by_codebuild_name():
    spec = parse_buildspec("""
version: 0.2
env:
  shell: bash
  variables: {COUNT: 1, FLAG: yes}
  parameter-store: {DB: /app/db}
  secrets-manager: {TOKEN: "app/token:key"}
  exported-variables: [URL]
phases:
  pre_build:
    on-failure: CONTINUE
    commands: ["npm ci"]
    finally: ["echo done"]
""")
    assert spec.variables == {"COUNT": "1", "FLAG": "yes"}
    assert spec.parameter_store == {"DB": "/app/db"}
    assert spec.secrets_manager == {"TOKEN": "app/token:key"}
    assert spec.exported_variables == ("URL",)
    assert spec.phases == {"PRE_BUILD": PhaseSpec(("npm ci",), ("echo done",), "CONTINUE")}


@pytest.mark.parametrize("text", [
    "version: 0.2\nphases: [",
    "- just a list",
    "version: 0.3\n",
    "version: 0.2\nenv:\n  shell: zsh\n",
    "version: 0.2\nphases:\n  build:\n    on-failure: RETRY\n",
    "version: 0.2\nphases:\n  build:\n    commands:\n      - {a: b}\n",
    "version: 0.2\nenv:\n  variables:\n    A: {nested: x}\n",
])
def test_buildspecs_codebuild_refuses(text):
    with pytest.raises(BuildspecError):
        parse_buildspec(text)


def test_buildspec_errors_use_codebuild_wording_and_line_numbers():
    """Messages as public CodeBuild logs show them: awsdocs/aws-codebuild-user-guide#25
    ("found character that cannot start any token at line 3") and bioerrorlog.work's
    "codebuild-colon-error" post (an unquoted ``echo "Hello: world"`` command)."""
    with pytest.raises(BuildspecError) as tab:
        parse_buildspec("version: 0.2\nphases:\n\tbuild: {}\n")
    assert str(tab.value) == "found character '\\t' that cannot start any token at line 3"

    with pytest.raises(BuildspecError) as colon:
        parse_buildspec('version: 0.2\n\nphases:\n  build:\n    commands:\n     - echo "Hello: world"\n')
    assert str(colon.value) == (
        "Expected Commands[0] to be of string type: found subkeys instead at line 6, "
        "value of the key tag on line 5 might be empty"
    )


def test_retry_is_refused_as_an_emulator_limit_not_a_buildspec_mistake():
    with pytest.raises(BuildspecError, match="not supported by the cbdeploy emulator"):
        parse_buildspec("version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2\n")


def test_split_message_keeps_every_byte_and_utf8_characters_whole():
    message = "a" * (MAX_EVENT_BYTES - 1) + "é" + "b" * 10
    pieces = split_message(message)
    assert "".join(pieces) == message
    assert [len(p.encode()) for p in pieces] == [MAX_EVENT_BYTES - 1, 12]
    assert split_message("short") == ["short"]


def test_faults_follow_the_seed_and_the_rate():
    a, b = FaultInjector(0.5, seed=9), FaultInjector(0.5, seed=9)
    decisions = [a.decide() for _ in range(200)]
    assert decisions == [b.decide() for _ in range(200)]
    assert 60 < sum(d is not None for d in decisions) < 140
    assert set(decisions) == {None, "throttle", "server-error", "unavailable", "drop", "drop-after"}
    assert FaultInjector(0.0, seed=1).decide() is None


def test_fault_responses_speak_each_protocol():
    assert fault_response("throttle", "json")[0] == 400
    assert b"ThrottlingException" in fault_response("throttle", "json")[2]
    assert fault_response("throttle", "rest-xml")[0] == 503
    assert b"SlowDown" in fault_response("throttle", "rest-xml")[2]
    assert b"<Code>Throttling</Code>" in fault_response("throttle", "query")[2]


def _zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def test_extract_restores_modes_and_links(tmp_path: Path):
    extract_zip(_zip([
        ("bin/tool", b"#!/bin/sh\n", stat.S_IFREG | 0o750),
        ("docs/readme", b"r", 0),  # no unix mode recorded: default permissions
        ("tool", b"bin/tool", stat.S_IFLNK | 0o777),
    ]), tmp_path)
    assert stat.S_IMODE((tmp_path / "bin/tool").stat().st_mode) == 0o750
    assert (tmp_path / "docs/readme").read_bytes() == b"r"
    assert (tmp_path / "tool").is_symlink() and (tmp_path / "tool").readlink() == Path("bin/tool")


def test_extract_refuses_to_write_through_an_escaping_link(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "work"
    target.mkdir()
    with pytest.raises(SourceError):
        extract_zip(_zip([("l", b"../outside", stat.S_IFLNK | 0o777), ("l/x", b"x", 0o100644)]), target)
    assert list(outside.iterdir()) == []


def test_extract_creates_no_directory_through_a_link_a_later_link_turned_outward(tmp_path: Path):
    """``a`` -> ``x/..`` resolves inside while ``x`` does not exist; once ``x`` -> ``.``
    exists, ``a`` points above the work directory. ``a/new/f`` must not create ``new`` there."""
    target = tmp_path / "work"
    target.mkdir()
    with pytest.raises(SourceError):
        extract_zip(_zip([
            ("a", b"x/..", stat.S_IFLNK | 0o777),
            ("x", b".", stat.S_IFLNK | 0o777),
            ("a/new/f", b"x", 0o100644),
        ]), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_extract_through_a_dangling_link_is_a_source_error(tmp_path: Path):
    """Not an OSError, which would end the build as an emulator FAULT."""
    with pytest.raises(SourceError, match="cannot create the directory"):
        extract_zip(_zip([("a", b"missing", stat.S_IFLNK | 0o777), ("a/f", b"x", 0o100644)]), tmp_path)
