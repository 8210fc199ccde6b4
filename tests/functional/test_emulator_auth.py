"""The endpoint is locked: SigV4 with its own keys, its own Host, no /moto-api from outside.

All over real HTTP against the shared endpoint. The error shapes are AWS's:
JSON services (CodeBuild, Logs) answer ``InvalidSignatureException`` (400),
query services (STS) and S3 ``SignatureDoesNotMatch`` (403), as botocore's
models and AWS's documented errors name them.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from cbdeploy.emulator.auth import allowed_hosts


def raw(url: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    return answer.status, data


def test_unsigned_requests_are_refused_as_aws_refuses_them(emulator_url: str) -> None:
    host = urlsplit(emulator_url).netloc
    status, body = raw(emulator_url, "POST", "/", {
        "Host": host, "X-Amz-Target": "CodeBuild_20161006.ListProjects",
        "Content-Type": "application/x-amz-json-1.1",
    }, b"{}")
    assert (status, json.loads(body)["__type"]) == (400, "MissingAuthenticationTokenException")
    status, body = raw(emulator_url, "POST", "/", {
        "Host": host, "Content-Type": "application/x-www-form-urlencoded",
    }, b"Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 403 and b"<Code>MissingAuthenticationToken</Code>" in body
    status, body = raw(emulator_url, "GET", "/", {"Host": host})
    assert status == 403 and b"<Code>AccessDenied</Code>" in body


@pytest.mark.parametrize(("service", "call", "status", "code"), [
    ("codebuild", lambda c: c.list_projects(), 400, "InvalidSignatureException"),
    ("logs", lambda c: c.describe_log_groups(), 400, "InvalidSignatureException"),
    ("sts", lambda c: c.get_caller_identity(), 403, "SignatureDoesNotMatch"),
    ("s3", lambda c: c.list_buckets(), 403, "SignatureDoesNotMatch"),
])
def test_a_wrong_secret_gets_the_signature_error(
    boto_client: Callable[..., Any], emulator_credentials: Any, service: str,
    call: Callable[[Any], Any], status: int, code: str,
) -> None:
    from botocore.config import Config

    wrong = boto_client(service, aws_secret_access_key=emulator_credentials.secret_access_key + "x",
                        config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as info:
        call(wrong)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    call(boto_client(service))  # the right pair passes


def test_an_unknown_key_is_unrecognised(boto_client: Callable[..., Any]) -> None:
    with pytest.raises(ClientError) as info:
        boto_client("codebuild", aws_access_key_id="AKIAUNKNOWN000000000").list_projects()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as info:
        boto_client("s3", aws_access_key_id="AKIAUNKNOWN000000000").list_buckets()
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_a_body_changed_after_signing_is_refused(boto_client: Callable[..., Any]) -> None:
    """The payload is covered: a request altered on the way (here after botocore signed
    it) fails, for a JSON service and for S3's x-amz-content-sha256."""
    codebuild = boto_client("codebuild")

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b"ASCENDING", b"DESCENDING")

    codebuild.meta.events.register_last("before-send.codebuild.ListProjects", tamper)
    with pytest.raises(ClientError) as info:
        codebuild.list_projects(sortOrder="ASCENDING")
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"

    s3 = boto_client("s3")
    bucket = f"auth-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def swap(request: Any, **_: Any) -> None:
        request.body = b"evil!"

    s3.meta.events.register_last("before-send.s3.PutObject", swap)
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k", Body=b"good!")
    assert info.value.response["Error"]["Code"] == "XAmzContentSHA256Mismatch"


def test_signed_uploads_of_every_kind_pass(boto_client: Callable[..., Any], tmp_path: Any) -> None:
    """What boto3 sends for S3 writes: signed payloads, checksummed (aws-chunked with a
    trailer where botocore chooses it), multipart; and a presigned GET."""
    from boto3.s3.transfer import TransferConfig

    s3 = boto_client("s3")
    bucket = f"auth-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"one")
    s3.put_object(Bucket=bucket, Key="summed", Body=b"two", ChecksumAlgorithm="SHA256")
    big = tmp_path / "big"
    big.write_bytes(b"x" * (6 * 1024 * 1024))
    s3.upload_file(str(big), bucket, "multi", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024,
                                                                   multipart_chunksize=5 * 1024 * 1024))
    assert s3.get_object(Bucket=bucket, Key="summed")["Body"].read() == b"two"
    assert s3.head_object(Bucket=bucket, Key="multi")["ContentLength"] == 6 * 1024 * 1024
    from botocore.config import Config

    signer = boto_client("s3", config=Config(signature_version="s3v4"))
    url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "plain"})
    assert requests.get(url, timeout=10).content == b"one"
    forged = url.replace("Key=plain", "Key=summed").replace("/plain?", "/summed?")
    assert requests.get(forged, timeout=10).status_code == 403


def test_a_foreign_host_is_refused_even_when_signed(
    boto_client: Callable[..., Any], emulator_url: str
) -> None:
    """DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    port = urlsplit(emulator_url).port
    sts = boto_client("sts")

    def rehost(request: Any, **_: Any) -> None:
        request.headers["Host"] = f"evil.example:{port}"

    sts.meta.events.register_first("before-sign.sts.GetCallerIdentity", rehost)
    with pytest.raises(ClientError) as info:
        sts.get_caller_identity()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 421
    status, _ = raw(emulator_url, "GET", "/", {"Host": f"evil.example:{port}"})
    assert status == 421
    status, _ = raw(emulator_url, "GET", "/", {"Host": f"127.0.0.1:{port + 1}"})
    assert status == 421
    status, _ = raw(emulator_url, "GET", "/", {})
    assert status == 421
    status, _ = raw(emulator_url, "GET", "/", {"Host": f"localhost:{port}"})
    assert status == 403  # addressed right; then refused for want of a signature


def test_moto_management_routes_are_not_served(
    boto_client: Callable[..., Any], emulator_url: str
) -> None:
    s3 = boto_client("s3")
    bucket = f"auth-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    host = urlsplit(emulator_url).netloc
    for path in ("/moto-api/reset", "/moto-api/", "/moto-api/data.json", "//moto-api/reset",
                 "/%6Doto-api/reset"):
        status, _ = raw(emulator_url, "POST", path, {"Host": host})
        assert status == 404, path
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_identity_route_says_it_is_cbdeploys(emulator_url: str) -> None:
    with urllib.request.urlopen(emulator_url + "/__cbdeploy/emulator", timeout=5) as answer:
        data = json.loads(answer.read())
    assert data["service"] == "cbdeploy-emulator" and len(data["instance"]) == 32


@pytest.mark.parametrize(("bound", "host", "ok"), [
    ("127.0.0.1", "127.0.0.1:4566", True),
    ("127.0.0.1", "localhost:4566", True),
    ("127.0.0.1", "bucket.localhost:4566", True),
    ("127.0.0.1", "127.0.0.2:4566", True),
    ("127.0.0.1", "127.0.0.1:4567", False),
    ("127.0.0.1", "127.0.0.1", False),
    ("127.0.0.1", "evil.example:4566", False),
    ("127.0.0.1", "localhost.evil.example:4566", False),
    ("127.0.0.1", "[::1]:4566", False),
    ("::1", "[::1]:4566", True),
    ("::1", "localhost:4566", True),
    ("192.168.1.5", "192.168.1.5:4566", True),
    ("192.168.1.5", "localhost:4566", False),
    ("0.0.0.0", "10.0.0.7:4566", True),
    ("0.0.0.0", "myhost.example:4566", False),
])
def test_host_rule(bound: str, host: str, ok: bool) -> None:
    assert allowed_hosts(bound, 4566)(host) is ok


def test_odd_paths_and_queries_sign_as_botocore_signs_them(boto_client: Callable[..., Any]) -> None:
    """The canonical request is rebuilt from the raw request line: keys with spaces,
    '+', '=', '~', percent signs and non-ASCII, and list queries with odd prefixes."""
    s3 = boto_client("s3")
    bucket = f"auth-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    keys = ["a b/c+d=e~f", "ü/ñ 中.txt", "100%/x&y?z", "dots/./and/../x", "trailing/"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="ü/ñ ", Delimiter="/")
    assert [o["Key"] for o in listed.get("Contents", [])] == ["ü/ñ 中.txt"]
    logs = boto_client("logs")
    group = f"/auth/ü {uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupName"] == group


def test_temporary_credentials_need_their_session_token(boto_client: Callable[..., Any]) -> None:
    """Keys issued by the endpoint's STS are accepted, as AWS accepts them, with their token only."""
    creds = boto_client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/any", RoleSessionName="auth"
    )["Credentials"]
    keys = {"aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"]}
    who = boto_client("sts", aws_session_token=creds["SessionToken"], **keys).get_caller_identity()
    assert who["Arn"].endswith(":assumed-role/any/auth")
    with pytest.raises(ClientError) as info:
        boto_client("sts", aws_session_token="forged", **keys).get_caller_identity()
    assert info.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_an_old_signature_has_expired(emulator_credentials: Any) -> None:
    """A request signed 20 minutes ago (a replay) is refused with AWS's 'Signature expired'."""
    import io
    import time

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from cbdeploy.emulator.auth import Verifier, error_response

    request = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=b"{}",
                         headers={"X-Amz-Target": "CodeBuild_20161006.ListProjects",
                                  "Host": "127.0.0.1:4566"})
    SigV4Auth(Credentials(emulator_credentials.access_key_id,
                          emulator_credentials.secret_access_key), "codebuild", "us-east-1").add_auth(request)
    environ = {
        "REQUEST_METHOD": "POST", "RAW_URI": "/", "QUERY_STRING": "", "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in request.headers.items()},
    }
    now = time.time()
    assert Verifier(emulator_credentials, now=lambda: now).check(dict(environ)) is None
    environ["wsgi.input"] = io.BytesIO(b"{}")
    refusal = Verifier(emulator_credentials, now=lambda: now + 20 * 60).check(environ)
    assert refusal is not None and refusal.kind == "expired"
    status, _, body = error_response(refusal, "json")
    assert status == 400 and json.loads(body)["__type"] == "InvalidSignatureException"
    assert json.loads(body)["message"].startswith("Signature expired: ")


def test_an_aws_chunked_upload_with_a_trailer_is_verified_by_its_headers(
    boto_client: Callable[..., Any], emulator_url: str, emulator_credentials: Any
) -> None:
    """What boto3 sends over https for a checksummed PutObject (aws-chunked body,
    ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``): the headers are signed, the body is not hashed.
    Over http botocore signs the payload instead, so the request is built here."""
    import base64
    import zlib

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    s3 = boto_client("s3")
    bucket = f"auth-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    data = b"chunked body"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
            + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode())
    headers = {
        "Content-Encoding": "aws-chunked", "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "X-Amz-Decoded-Content-Length": str(len(data)), "X-Amz-Trailer": "x-amz-checksum-crc32",
    }

    def send(secret: str) -> requests.Response:
        request = AWSRequest(method="PUT", url=f"{emulator_url}/{bucket}/chunked", data=body,
                             headers=dict(headers))
        # As botocore marks a checksum sent in a trailer (the signer then names the payload so).
        request.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32"}}
        S3SigV4Auth(Credentials(emulator_credentials.access_key_id, secret), "s3",
                    "us-east-1").add_auth(request)
        assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        return requests.put(request.url, data=body, headers=dict(request.headers.items()),
                            timeout=10)

    assert send(emulator_credentials.secret_access_key + "x").status_code == 403
    answer = send(emulator_credentials.secret_access_key)
    assert answer.status_code == 200, answer.text
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data


def test_emulator_keys_go_together() -> None:
    from click.testing import CliRunner

    from cbdeploy.client.cli.main import main

    result = CliRunner().invoke(main, ["emulator", "--port", "0", "--access-key-id", "AKIAX"])
    assert result.exit_code == 2
    assert "--access-key-id and --secret-access-key go together" in result.output
