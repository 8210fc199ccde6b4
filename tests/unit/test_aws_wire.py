"""The AWS agent's frames (client/aws/wire.py) and its client's surface (client/aws/remote.py)."""

from __future__ import annotations

import inspect
import io
import pickle
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from dateutil.tz import tzlocal, tzoffset, tzutc

from cbdeploy.client import errors
from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.aws.remote import AgentAwsClient
from cbdeploy.client.aws.wire import (
    AgentTraceback,
    encode,
    packed,
    read_frame,
    unpacked,
    write_frame,
)

# One of each error class, with every attribute its constructor takes.
SAMPLES = [
    errors.AwsError("codebuild StartBuild failed: boom", "Try again.", code="Boom"),
    errors.CredentialsError("No usable AWS credentials were found.", "Configure them."),
    errors.ExpiredCredentialsError("expired", "aws sso login"),
    errors.AccessDeniedError("denied", "ask", code="AccessDenied", action="s3:PutObject"),
    errors.NotFoundError("no such build", code="ResourceNotFoundException"),
    errors.BucketOwnershipError("taken", "check", code="BucketAlreadyExists"),
    errors.BuildConflictError("running", "stop it", running_build_id="p:1234"),
    errors.AgentGoneError("gone", "again"),
    errors.UsageError("Bad seed file.", "See 'Seed file'."),
    errors.MissingExtraError("--local needs the local emulator.", "pip install"),
    errors.ConfigError("The AWS configuration file x cannot be parsed.", "Fix it."),
    errors.Cancelled(),
]


def test_every_error_class_is_sampled() -> None:
    classes = {c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.CbdeployError)}
    assert classes - {type(s) for s in SAMPLES} <= {
        errors.CbdeployError, errors.PackagingError, errors.OwnershipError}


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_error_crosses_as_the_same_class_with_the_same_attributes(
    error: errors.CbdeployError,
) -> None:
    try:
        raise error
    except errors.CbdeployError as raised:
        wire = pickle.loads(pickle.dumps(packed(raised)))
    rebuilt = unpacked(wire)
    assert type(rebuilt) is type(error)
    assert vars(rebuilt) == vars(error)
    assert rebuilt.args == error.args and str(rebuilt) == str(error)
    assert rebuilt.exit_code == error.exit_code
    assert isinstance(rebuilt.__cause__, AgentTraceback)
    assert "test_an_error_crosses" in str(rebuilt.__cause__)  # where it was raised


def test_any_other_exception_is_an_aws_error_naming_it() -> None:
    rebuilt = unpacked(packed(KeyError("Body")))
    assert type(rebuilt) is errors.AwsError
    assert rebuilt.message == "The AWS agent failed: KeyError: 'Body'"
    assert rebuilt.code is None


def test_frames_are_read_back_whole_then_the_end() -> None:
    stream = io.BytesIO()
    values = [("reply", 1, True, {"Body": b"x" * 100_000}), ("notice", "retrying")]
    for value in values:
        write_frame(stream, encode(value))
    whole = stream.getvalue()
    stream = io.BytesIO(whole)
    assert [read_frame(stream), read_frame(stream)] == values
    with pytest.raises(EOFError):
        read_frame(stream)
    with pytest.raises(EOFError):  # a frame cut short
        read_frame(io.BytesIO(whole[:50]))


def test_the_agents_client_has_what_a_deploy_uses_of_the_door() -> None:
    """Every method and property of AwsClient but ``client``, a boto3 client (nothing
    outside client/aws/ reads it, nor the instance's ``session`` and ``endpoint_url``)."""
    public = {name for name in dir(AwsClient) if not name.startswith("_")}
    assert public - set(dir(AgentAwsClient)) == {"client"}


READ_IN_A_FRESH_PROCESS = """
import pickle, sys
answer = pickle.loads(sys.stdin.buffer.read())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("dateutil", "botocore")))
print([type(v.tzinfo).__name__ for v in answer["times"]])
print([v.isoformat() for v in answer["times"]])
"""


def test_datetimes_cross_with_the_standard_librarys_time_zones() -> None:
    """botocore's answers carry dateutil's time zones (tzutc from XML, tzlocal from epoch
    numbers): the deploy's process reads them without importing dateutil (issue 16,
    target 4), the same instants and offsets."""
    times = [datetime(2026, 12, 6, 14, 30, 5, 120000, tzinfo=tzutc()),
             datetime.fromtimestamp(1_765_000_000.25, tzlocal()),
             datetime(2026, 7, 1, 9, 0, tzinfo=tzoffset("X", 5400)),
             datetime(2026, 7, 1, 9, 0, tzinfo=timezone(timedelta(hours=-3))),
             datetime(2026, 7, 1, 9, 0)]  # naive: as it was
    data = encode({"times": times})
    assert pickle.loads(data)["times"] == times
    done = subprocess.run([sys.executable, "-c", READ_IN_A_FRESH_PROCESS], input=data,
                          capture_output=True, check=True, timeout=60)
    modules, zones, texts = done.stdout.decode().splitlines()
    assert modules == "[]"
    assert zones == str(["timezone"] * 4 + ["NoneType"])
    assert texts == str([t.isoformat() for t in times])
