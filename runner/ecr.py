"""ECR's GetAuthorizationToken with the standard library only (SigV4 by hand).

The build image may have no AWS CLI, and the runner takes no dependency, so
the runner signs the one call it needs itself. Credentials come from the
environment (``AWS_ACCESS_KEY_ID`` ...) or, on CodeBuild, from the container
credentials endpoint (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``); the
endpoint from ``AWS_ENDPOINT_URL_ECR`` / ``AWS_ENDPOINT_URL`` or the region.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
CONTAINER_CREDENTIALS_HOST = "http://169.254.170.2"


class EcrError(Exception):
    """The login could not be obtained; the message says why."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


@dataclass(frozen=True)
class Login:
    """What ``docker login`` needs: ``registry`` is host[:port], without scheme."""

    registry: str
    username: str
    password: str


def credentials(environ: Mapping[str, str]) -> Credentials:
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, environ.get("AWS_SESSION_TOKEN") or None)
    relative = environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    full = environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not relative and not full:
        raise EcrError("no AWS credentials in the build's environment")
    request = urllib.request.Request(full or CONTAINER_CREDENTIALS_HOST + str(relative))
    token = environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    if token:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            data = json.loads(answer.read())
    except (OSError, ValueError) as error:
        raise EcrError(f"cannot read the build's credentials: {error}") from None
    return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data.get("Token"))


def endpoint(environ: Mapping[str, str], region: str) -> str:
    url = environ.get("AWS_ENDPOINT_URL_ECR") or environ.get("AWS_ENDPOINT_URL")
    if url:
        return url.rstrip("/")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://api.ecr.{region}.{suffix}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    creds: Credentials,
    region: str,
    service: str,
    now: datetime.datetime,
) -> dict[str, str]:
    """``headers`` plus SigV4's for a POST of ``body`` to ``url``."""
    parts = urllib.parse.urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    all_headers = {k.lower(): v.strip() for k, v in headers.items()}
    all_headers["host"] = parts.netloc
    all_headers["x-amz-date"] = stamp
    if creds.token:
        all_headers["x-amz-security-token"] = creds.token
    names = sorted(all_headers)
    canonical = "\n".join(
        [
            "POST",
            parts.path or "/",
            "",
            "".join(f"{n}:{all_headers[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + creds.secret_key).encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    result = {k: v for k, v in all_headers.items() if k != "host"}
    result["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return result


def login(environ: Mapping[str, str], region: str) -> Login:
    """GetAuthorizationToken for the account's registry."""
    url = endpoint(environ, region)
    body = b"{}"
    headers = signed_headers(
        url + "/",
        body,
        {"content-type": "application/x-amz-json-1.1", "x-amz-target": TARGET},
        credentials(environ),
        region,
        "ecr",
        datetime.datetime.now(datetime.timezone.utc),
    )
    request = urllib.request.Request(url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:300]
        raise EcrError(f"ECR GetAuthorizationToken failed ({error.code}): {detail}") from None
    except (OSError, ValueError) as error:
        raise EcrError(f"ECR GetAuthorizationToken failed: {error}") from None
    try:
        entry = data["authorizationData"][0]
        user, _, password = base64.b64decode(entry["authorizationToken"]).decode().partition(":")
        registry = urllib.parse.urlsplit(entry["proxyEndpoint"]).netloc or entry["proxyEndpoint"]
    except (KeyError, IndexError, ValueError, TypeError) as error:
        raise EcrError(f"ECR's answer has no authorization data: {error!r}") from None
    return Login(registry=registry, username=user, password=password)
