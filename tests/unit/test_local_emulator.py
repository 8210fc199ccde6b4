"""Which emulator ``--local`` uses: a standing one of this user's, proven by its record."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cbdeploy.client.aws import local_emulator as le
from cbdeploy.client.errors import UsageError


def record(tmp_path: Path, port: int = le.DEFAULT_PORT, instance: str = "abc") -> dict[str, str]:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    le.record(le.StandingEmulator(f"http://127.0.0.1:{port}", "AKIAX", "secret", "us-east-1",
                                  instance, 1), port, env)
    return env


def test_the_recorded_emulator_on_the_default_port_is_used(tmp_path: Path) -> None:
    env = record(tmp_path)
    found = le.find(env, probe=lambda url: "abc")
    assert found is not None and (found.url, found.access_key_id) == (le.DEFAULT_URL, "AKIAX")
    path = le.record_path(le.DEFAULT_PORT, env)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"


def test_something_else_on_the_port_is_not_used(tmp_path: Path) -> None:
    env = record(tmp_path)
    assert le.find(env, probe=lambda url: None) is None  # nothing, or LocalStack
    assert le.find(env, probe=lambda url: "another-instance") is None  # a stale record
    assert le.find({"XDG_STATE_HOME": str(tmp_path / "none")}, probe=lambda url: "abc") is None


def test_a_record_others_can_read_is_not_trusted(tmp_path: Path) -> None:
    env = record(tmp_path)
    le.record_path(le.DEFAULT_PORT, env).chmod(0o644)
    assert le.find(env, probe=lambda url: "abc") is None


def test_a_named_emulator_must_be_usable(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path), le.URL_VARIABLE: "http://127.0.0.1:5000"}
    with pytest.raises(UsageError, match="No cbdeploy emulator answers"):
        le.find(env, probe=lambda url: None)
    with pytest.raises(UsageError, match="not started by this user"):
        le.find(env, probe=lambda url: "abc")
    with pytest.raises(UsageError, match="not an http"):
        le.find({**env, le.URL_VARIABLE: "127.0.0.1:5000"}, probe=lambda url: None)


def test_forget_removes_only_its_own_record(tmp_path: Path) -> None:
    env = record(tmp_path, instance="new")
    path = le.record_path(le.DEFAULT_PORT, env)
    le.forget(path, "old")
    assert path.exists()
    le.forget(path, "new")
    assert not path.exists()


@pytest.fixture
def impostor() -> Iterator[str]:
    """A server on loopback that is not ours (as LocalStack would be): 404 everywhere."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_identity_of_a_server_that_is_not_ours_is_none(impostor: str) -> None:
    assert le.identity(impostor) is None
    assert le.identity("http://127.0.0.1:9") is None


def test_identity_path_is_the_emulators() -> None:
    server = pytest.importorskip("cbdeploy.emulator.server")
    assert (server.IDENTITY_PATH, server.IDENTITY_SERVICE) == (le.IDENTITY_PATH, le.IDENTITY_SERVICE)
