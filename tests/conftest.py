"""Shared fixtures: one local AWS endpoint for the whole session, clean AWS settings.

The endpoint checks SigV4 signatures: every request must be signed with the
key pair it was started with. This session's pair is random
(``EMULATOR_ACCESS_KEY_ID``/``EMULATOR_SECRET_ACCESS_KEY``, also below as fixtures);
a test that starts an endpoint of its own passes it the same pair with
``emulator.running(credentials=emulator_credentials)``.

- ``emulator_url``: URL of one shared ``emulator.running()`` (session scope;
  state in moto and the emulator is shared by every test using it, so use
  unique names).
- ``emulator_credentials``: the session's ``emulator.Credentials`` (session scope).
- ``emulator_env``: the variables a ``cbdeploy`` subprocess needs to use the shared
  endpoint (``AWS_ENDPOINT_URL``, both keys, ``AWS_REGION``/``AWS_DEFAULT_REGION``),
  as ``cbdeploy emulator``'s banner exports them.
- ``aws_env``: the endpoint's credentials in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
  (nothing else accepts them), region us-east-1, no profile, config and credentials
  files pointing at files that do not exist. It does not set ``AWS_ENDPOINT_URL``.
- ``boto_client``: ``boto_client("s3")`` gives a boto3 client bound to the endpoint,
  signing with its credentials (keyword arguments such as other credentials or a
  botocore Config pass through).
- ``codebuild_role``: ARN of an IAM role CodeBuild may assume.
- ``codebuild_project``: ``codebuild_project(**settings)`` creates a NO_SOURCE project.
- ``build_waiter``: ``build_waiter(codebuild, build_id)`` polls until the build is complete.
- ``log_messages``: ``log_messages(build)`` reads every line of a build's log stream.

Tests marked ``docker`` need a Docker engine, docker-registry and busybox
(``tests/docker_engine.py``); without them they are skipped, saying what is missing.
They share the one engine (one of them prunes its build cache), so they run one
at a time across pytest processes: xdist's workers (``make test``) and any other
test run on this machine.

Under pytest-xdist every worker is a session of its own: its own emulator, its
own random key pair (both fine: a test only ever talks to its worker's).

Every test (autouse) runs without the caller's output settings (``GITHUB_ACTIONS``,
``GITHUB_STEP_SUMMARY``, ``NO_COLOR``, ``FORCE_COLOR`` ...) and with empty
``XDG_CONFIG_HOME`` and ``XDG_STATE_HOME`` and no ``CBDEPLOY_EMULATOR_URL`` /
``CBDEPLOY_EMULATOR_SEED``, so neither a CI runner, a developer's stored
defaults nor a ``cbdeploy emulator`` running on this machine change what a test
sees, and no test writes into a real job summary.
"""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

OUTPUT_SETTINGS = (
    "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE",
    "TTY_INTERACTIVE", "CLICOLOR_FORCE", "COLUMNS", "CBDEPLOY_EMULATOR_URL",
    "CBDEPLOY_EMULATOR_SEED",
)
REGION = "us-east-1"
# This test session's key pair for its endpoints (random, as `cbdeploy emulator` picks one).
EMULATOR_ACCESS_KEY_ID = "AKIA" + "".join(
    secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)
)
EMULATOR_SECRET_ACCESS_KEY = secrets.token_urlsafe(30)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is not None:
        from tests.docker_engine import missing

        reason = missing()
        if reason is not None:
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def _one_docker_test_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """A ``docker`` test holds the machine-wide engine lock (tests/docker_engine.py)."""
    if request.node.get_closest_marker("docker") is None:
        yield
        return
    from tests.docker_engine import engine_lock

    with engine_lock():
        yield


@pytest.fixture(autouse=True)
def _hermetic_user_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in OUTPUT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


@pytest.fixture
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Neither this machine's git config nor a caller's GIT_* variables reach git: HOME is
    a fresh folder (returned), the system config is off. Modules that run git on real
    repositories use it (``pytestmark``); tests/gitrepo.py commits with a fixed identity."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return home


@pytest.fixture
def early_batches_made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ``EarlyBatches`` a cold build makes (``packaging.early.cold_start``) while the
    test runs: the real class, each instance remembered for the test to look at."""
    from cbdeploy.client.packaging import early

    made: list[Any] = []

    class Recorded(early.EarlyBatches):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(early, "EarlyBatches", Recorded)
    return made


@pytest.fixture(scope="session")
def emulator_credentials() -> Any:
    """The ``emulator.Credentials`` of the session's endpoint (and of tests' own endpoints)."""
    import cbdeploy.emulator as emulator

    return emulator.Credentials(EMULATOR_ACCESS_KEY_ID, EMULATOR_SECRET_ACCESS_KEY)


@pytest.fixture(scope="session")
def emulator_url(emulator_credentials: Any) -> Iterator[str]:
    import cbdeploy.emulator as emulator

    with emulator.running(credentials=emulator_credentials) as url:
        yield url


@pytest.fixture
def emulator_env(emulator_url: str) -> dict[str, str]:
    """What a subprocess needs to use the shared endpoint (merge it into its environment)."""
    return {
        "AWS_ENDPOINT_URL": emulator_url,
        "AWS_ACCESS_KEY_ID": EMULATOR_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": EMULATOR_SECRET_ACCESS_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", EMULATOR_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", EMULATOR_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def boto_client(emulator_url: str, aws_env: None) -> Callable[..., Any]:
    import boto3

    def make(service: str, region: str = REGION, **kwargs: Any) -> Any:
        settings: dict[str, Any] = {
            "region_name": region,
            "endpoint_url": emulator_url,
            "aws_access_key_id": EMULATOR_ACCESS_KEY_ID,
            "aws_secret_access_key": EMULATOR_SECRET_ACCESS_KEY,
        }
        settings.update(kwargs)  # e.g. other credentials, a botocore Config
        return boto3.client(service, **settings)

    return make


@pytest.fixture
def codebuild_role(boto_client: Callable[..., Any]) -> str:
    """ARN of an IAM role CodeBuild may assume (the emulator checks that it exists)."""
    iam = boto_client("iam")
    try:
        return str(iam.get_role(RoleName="cbdeploy-test-codebuild")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        trust = (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"codebuild.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
        )
        role = iam.create_role(RoleName="cbdeploy-test-codebuild", AssumeRolePolicyDocument=trust)
        return str(role["Role"]["Arn"])


def wait_for_build(codebuild: Any, build_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll BatchGetBuilds until the build is complete; the final build."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        build: dict[str, Any] = codebuild.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildComplete"] or time.monotonic() > deadline:
            return build
        time.sleep(0.1)


@pytest.fixture
def build_waiter() -> Callable[..., dict[str, Any]]:
    """``build_waiter(codebuild_client, build_id, timeout=30)``: the completed build."""
    return wait_for_build


CODEBUILD_ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_SMALL",
}


@pytest.fixture
def codebuild_project(boto_client: Callable[..., Any], codebuild_role: str) -> Callable[..., str]:
    """``codebuild_project(**settings)``: create a NO_SOURCE project with a unique name."""
    import uuid

    def make(**settings: Any) -> str:
        name = settings.pop("name", None) or f"test-{uuid.uuid4().hex[:12]}"
        arguments: dict[str, Any] = {
            "name": name,
            "source": {
                "type": "NO_SOURCE",
                "buildspec": "version: 0.2\nphases:\n  build:\n    commands: [\"true\"]\n",
            },
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": dict(CODEBUILD_ENVIRONMENT),
            "serviceRole": codebuild_role,
        }
        arguments.update(settings)
        boto_client("codebuild").create_project(**arguments)
        return name

    return make


@pytest.fixture
def log_messages(boto_client: Callable[..., Any]) -> Callable[[dict[str, Any]], list[str]]:
    """``log_messages(build)``: every log line of a build, without trailing newlines."""

    def read(build: dict[str, Any]) -> list[str]:
        logs = boto_client("logs")
        lines: list[str] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"nextToken": token} if token else {}
            page = logs.get_log_events(
                logGroupName=build["logs"]["groupName"],
                logStreamName=build["logs"]["streamName"],
                startFromHead=True,
                **kwargs,
            )
            lines += [e["message"].removesuffix("\n") for e in page["events"]]
            if page["nextForwardToken"] == token:
                return lines
            token = page["nextForwardToken"]

    return read
