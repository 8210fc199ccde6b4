"""The deploy's AWS agent (client/aws/remote.py, agent.py): the door in a process of its own.

Against the emulator over loopback, the endpoint from ``AWS_ENDPOINT_URL`` (which the
agent inherits): the same answers and the same errors as the in-process door, from
many threads at once; notices, debug lines and upload progress reach this process;
an agent that dies fails every caller at once; an agent that cannot start leaves
the door to this process. A fake agent (a few lines over client/aws/wire.py) plays
the one that dies after reading a request, which a real one does not do on demand.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cbdeploy.client.aws import remote
from cbdeploy.client.aws import spawn as spawn_module
from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.aws.notices import connection_notices
from cbdeploy.client.aws.remote import AgentAwsClient, Connection, EarlyAgent, open_agent
from cbdeploy.client.deploy.upload import Uploader
from cbdeploy.client.errors import (
    AgentGoneError,
    AwsError,
    BuildConflictError,
    CbdeployError,
    CredentialsError,
    NotFoundError,
)
from cbdeploy.client.target import Target
from tests.e2e.test_unreachable_endpoint_e2e import blackhole  # noqa: F401 - a fixture
from tests.functional.test_aws_client import create_sleeping_project

REGION = "ca-central-1"
TARGET = Target("dev", REGION, None, None, False, "info")


@pytest.fixture
def endpoint(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    return emulator_url


@pytest.fixture
def agent(endpoint: str) -> Iterator[AgentAwsClient]:
    with open_agent(TARGET) as aws:
        assert isinstance(aws, AgentAwsClient)  # not the in-process door
        yield aws


@pytest.fixture
def door(endpoint: str) -> AwsClient:
    return AwsClient(boto3.session.Session(region_name=REGION), REGION)


def same_error(here: Callable[[], Any], there: Callable[[], Any]) -> CbdeployError:
    """The error both doors raise: same class, message, hint, code and attributes."""
    with pytest.raises(CbdeployError) as in_process:
        here()
    with pytest.raises(CbdeployError) as through_agent:
        there()
    assert type(through_agent.value) is type(in_process.value)
    assert vars(through_agent.value) == vars(in_process.value)
    assert str(through_agent.value) == str(in_process.value)
    assert through_agent.value.args == in_process.value.args
    return through_agent.value


def test_errors_cross_the_process_boundary_intact(
    agent: AgentAwsClient, door: AwsClient, codebuild_role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = f"cbdeploy-agent-dev:{'0' * 8}-0000-0000-0000-{'0' * 12}"
    error = same_error(lambda: door.get_build(missing), lambda: agent.get_build(missing))
    assert isinstance(error, NotFoundError)
    error = same_error(lambda: door.call("iam", "get_role", RoleName="cbdeploy-nope"),
                       lambda: agent.call("iam", "get_role", RoleName="cbdeploy-nope"))
    assert type(error) is AwsError and error.code == "NoSuchEntity"
    name = "cbdeploy-agent-conflict"
    create_sleeping_project(door, name, codebuild_role, 30, concurrentBuildLimit=1)
    running = door.start_build(projectName=name)
    try:
        error = same_error(lambda: door.start_build(projectName=name),
                           lambda: agent.start_build(projectName=name))
        assert isinstance(error, BuildConflictError) and error.running_build_id == running.id
    finally:
        door.stop_build(running.id)
    # Credentials the endpoint refuses: a fresh agent, started with them.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-emulators-secret")
    wrong = AwsClient(boto3.session.Session(region_name=REGION), REGION)
    with open_agent(TARGET) as refused:
        error = same_error(wrong.account_id, refused.account_id)
    assert isinstance(error, CredentialsError) and error.hint


def test_an_error_opening_the_door_is_raised_by_the_opening(
    endpoint: str, tmp_path: Path
) -> None:
    target = Target("dev", REGION, "no-such-profile", None, False, "info")
    with pytest.raises(CredentialsError) as info, open_agent(target):
        pass
    assert "'no-such-profile' does not exist" in info.value.message
    assert "in the AWS agent" in str(info.value.__cause__)  # (not the in-process door's)


def test_calls_from_many_threads_get_their_own_answers(agent: AgentAwsClient) -> None:
    bucket = "cbdeploy-agent-threads"
    agent.call("s3", "create_bucket", Bucket=bucket,
               CreateBucketConfiguration={"LocationConstraint": REGION})
    contents = {f"k{i}": os.urandom(1000 + i) for i in range(24)}
    got: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def work(key: str) -> None:
        try:
            agent.call("s3", "put_object", Bucket=bucket, Key=key, Body=contents[key])
            got[key] = agent.get_object(bucket, key) or b""
            with pytest.raises(AwsError):
                agent.call("s3", "head_object", Bucket=bucket, Key=key + "-missing")
        except BaseException as error:  # noqa: BLE001 - told by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(key,)) for key in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert got == contents
    assert agent.for_polling().get_builds([]) == []  # the poller's door, the same agent


def test_upload_progress_counts_bytes_as_sent_and_the_object_is_identical(
    agent: AgentAwsClient, tmp_path: Path
) -> None:
    bucket = "cbdeploy-agent-upload"
    agent.call("s3", "create_bucket", Bucket=bucket,
               CreateBucketConfiguration={"LocationConstraint": REGION})
    data = os.urandom(11 * 1024 * 1024 + 123)  # three parts of at least 5 MiB
    path = tmp_path / "archive.zip"
    path.write_bytes(data)

    class Archive:
        sha256 = hashlib.sha256(data).hexdigest()
        size = len(data)

    Archive.path = path  # type: ignore[attr-defined]
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            seen.append((done, total))

    result = Uploader(agent, part_size=5 * 1024 * 1024).upload(bucket, "a.zip", Archive(),
                                                                progress)
    assert result.sent_bytes == len(data)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (len(data), len(data))
    # Within each part, not once a part: the agent says how far the bytes went.
    assert len(seen) > 3 * 4
    assert agent.get_object(bucket, "a.zip") == data
    small = b"a small archive\n" * 100
    path.write_bytes(small)
    Archive.sha256, Archive.size = hashlib.sha256(small).hexdigest(), len(small)
    seen.clear()
    Uploader(agent).upload(bucket, "small.zip", Archive(), progress)
    assert seen[-1] == (len(small), len(small))
    assert agent.get_object(bucket, "small.zip") == small


def test_debug_lines_of_the_agent_are_logged_here(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cbdeploy")
    with open_agent(TARGET) as aws:
        aws.account_id()
    lines = [r.getMessage() for r in caplog.records if r.name == "cbdeploy.aws"]
    assert any(line.startswith("sts GetCallerIdentity ") and line.endswith(" ms")
               for line in lines), lines


def test_the_agent_makes_a_deploys_clients_before_they_are_asked_for(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Once its door is open, the agent makes the clients a deploy calls (STS first, then
    bootstrap's), while it would otherwise wait for the deploy's questions: none of them
    is made by the first call to its service."""
    caplog.set_level(logging.DEBUG, logger="cbdeploy")
    deadline = time.monotonic() + 30

    def made() -> list[str]:
        return [r.getMessage().split()[0] for r in caplog.records
                if r.name == "cbdeploy.aws" and "client made ahead" in r.getMessage()]

    with open_agent(TARGET) as aws:
        while made() != list(remote.DEPLOY_CLIENTS) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert made() == list(remote.DEPLOY_CLIENTS) == ["sts", "s3", "iam", "logs", "codebuild"]
        assert aws.account_id() and aws.bucket_exists(f"nothing-{os.getpid()}") is False


def test_connection_notices_of_the_agent_reach_the_sinks_here(
    blackhole: str, aws_env: None, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", blackhole)
    caplog.set_level(logging.DEBUG, logger="cbdeploy")
    notices: list[str] = []
    with connection_notices(notices.append), open_agent(TARGET) as aws:
        assert isinstance(aws, AgentAwsClient)
        with pytest.raises(AwsError) as info:
            aws.account_id()
    assert blackhole in info.value.message
    assert len(notices) == 3 and "retrying (attempt 2 of 4)" in notices[0], notices
    logged = [r.getMessage() for r in caplog.records if r.name == "cbdeploy.aws"]
    assert notices[0] in logged  # once: the agent's debug line, not a second one here
    assert logged.count(notices[0]) == 1


FAKE_AGENT = """
import os, sys
from cbdeploy.client.aws.wire import REPLY, encode, read_frame, write_frame
requests, replies = os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb")
read_frame(requests)
write_frame(replies, encode((REPLY, 0, True, None)))
read_frame(requests)  # a request it never answers
sys.exit(3)
"""


def test_an_agent_that_dies_fails_every_caller_at_once() -> None:
    connection = Connection(lambda r, w: [sys.executable, "-c", FAKE_AGENT, str(r), str(w)])
    try:
        connection.begin(TARGET)
        connection.opened()
        aws = AgentAwsClient(connection, REGION)
        began = time.monotonic()
        with pytest.raises(AgentGoneError) as info:
            aws.account_id()
        assert time.monotonic() - began < 30
        assert "ended unexpectedly (exit status 3)" in info.value.message
        assert info.value.hint
        with pytest.raises(AgentGoneError):  # and any later call, at once
            aws.call("sts", "get_caller_identity")
    finally:
        connection.close()


def test_a_killed_agent_fails_the_next_call(agent: AgentAwsClient) -> None:
    agent.account_id()
    agent._connection.popen.kill()
    with pytest.raises(AgentGoneError):
        agent.call("sts", "get_caller_identity")


def test_where_the_agent_cannot_start_the_door_opens_here(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spawn_module, "agent_command", lambda r, w: ["/nonexistent/python"])
    with open_agent(TARGET) as aws:
        assert isinstance(aws, AwsClient)
        assert aws.account_id()


def test_an_early_agent_is_the_door_of_its_target_and_ends_if_unused(endpoint: str) -> None:
    """``deploy`` starts the agent first thing; the door opened for its target takes it."""
    with EarlyAgent(TARGET) as early:
        started = early._started
        assert started is not None
        other = Target("prod", REGION, None, None, False, "info")
        with open_agent(other) as aws:  # another target: an agent of its own
            assert aws._connection is not started
        with open_agent(TARGET) as aws:
            assert aws._connection is started
            assert aws.account_id()
        with open_agent(TARGET) as aws:  # taken once
            assert aws._connection is not started
    assert started.popen.poll() == 0  # ended with the door
    with EarlyAgent(TARGET) as unused:
        process = unused._started.popen if unused._started else None
    assert process is not None and process.poll() is not None


SPAWN_ORDER = """
import subprocess, sys
real = subprocess.Popen.__init__
DOOR = ("cbdeploy.client.aws.remote", "cbdeploy.client.aws.codebuild", "cbdeploy.client.aws.wire",
        "cbdeploy.client.config.find")  # (the last: the options are resolved)

def init(self, args, *more, **options):
    if any("cbdeploy.client.aws.agent import main" in str(arg) for arg in args):
        print("loaded at the agent's start:", [m for m in DOOR if m in sys.modules], flush=True)
        real(self, args, *more, **options)
        print("agent pid", self.pid, file=sys.stderr, flush=True)
        return None
    return real(self, args, *more, **options)

subprocess.Popen.__init__ = init
from cbdeploy.client.cli.main import main
main(sys.argv[1:])
"""


def test_deploy_starts_its_agent_before_loading_the_door(
    emulator_env: dict[str, str], tmp_path: Path
) -> None:
    """``cbdeploy deploy`` starts the agent's process (boto3's import begins there) before
    it resolves its options (the region checked against botocore's list, the config
    found) and loads the door's own modules (client/aws/remote.py: the AWS methods, the
    wire). With a region that does not exist, the command says so, and the agent's
    process is ended with it."""
    (tmp_path / "cbdeploy.toml").write_text('name = "spawned"\n\n[pipeline]\nbuild = ["true"]\n')
    env = {**os.environ, **emulator_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # (refused)
    run = subprocess.run(
        [sys.executable, "-c", SPAWN_ORDER, "deploy", "--stage", "dev", "--region", REGION,
         "--yes"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr  # (the endpoint refused: nothing deployed)
    assert run.stdout.splitlines() == ["loaded at the agent's start: []"], run.stdout

    run = subprocess.run(
        [sys.executable, "-c", SPAWN_ORDER, "deploy", "--stage", "dev", "--region", "nowhere-1",
         "--yes"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Unknown AWS region 'nowhere-1'" in run.stderr, run.stderr
    assert run.stdout.splitlines() == ["loaded at the agent's start: []"], run.stdout
    pid = int(run.stderr.split("agent pid ")[1].split()[0])
    assert not _alive(pid)  # (killed: it would have read the end of its input after boto3)


PARENT = """
import os, signal
from cbdeploy.client.aws.remote import open_agent
from cbdeploy.client.target import Target
with open_agent(Target("dev", "ca-central-1", None, None, False, "info")) as aws:
    aws.account_id()
    print(aws._connection.popen.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no chance to close the door
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_agent_ends_when_the_deploy_dies(endpoint: str) -> None:
    parent = subprocess.run([sys.executable, "-c", PARENT], capture_output=True, text=True,
                            timeout=60)
    assert parent.returncode == -9, parent.stderr
    pid = int(parent.stdout)
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
