"""Who may use the endpoint: AWS Signature Version 4 and the Host rule.

The endpoint runs buildspec commands as the user who started it, so every
request must be signed (SigV4, header or presigned query string) with the
key pair chosen at start, or with keys moto itself issued through that pair
(IAM user access keys, STS temporary credentials with their session token),
as AWS accepts the keys IAM and STS hand out. The canonical request is
rebuilt from the WSGI environ as the SigV4 specification defines it (the
raw path, URI-encoded once more except for S3; the sorted query string; the
signed headers; the payload hash from ``x-amz-content-sha256`` or the body)
and the signature compared with ``hmac.compare_digest``.

A refusal carries a ``kind``; :func:`error_response` turns it into what AWS
answers for the request's protocol (JSON, query or S3's REST-XML).
Not checked: the per-chunk signatures of ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``
bodies (the seed signature over the headers is; botocore never sends them).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import json
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNHASHED_PAYLOADS = frozenset({
    "UNSIGNED-PAYLOAD",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
})
_AUTH_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Credentials:
    """The endpoint's own key pair: what its banner exports and builds are given."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def generate(cls) -> Credentials:
        """A random pair shaped like an IAM user's (AKIA + 16, and 40 characters)."""
        upper = string.ascii_uppercase + string.digits
        secret_chars = string.ascii_letters + string.digits + "+/"
        return cls(
            "AKIA" + "".join(secrets.choice(upper) for _ in range(16)),
            "".join(secrets.choice(secret_chars) for _ in range(40)),
        )


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: ``kind`` picks the AWS error, ``detail`` its message where needed."""

    kind: str  # missing, malformed, unknown-key, bad-token, bad-signature, expired,
    # payload-mismatch, foreign-host
    detail: str = ""


@dataclass(frozen=True)
class _Signed:
    access_key_id: str
    date: str  # yyyymmdd of the scope
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    timestamp: str  # X-Amz-Date
    presigned: bool
    expires: int | None


class Verifier:
    """Checks one request's SigV4 signature against the keys the endpoint accepts."""

    def __init__(self, root: Credentials, *, now: Callable[[], float] = time.time) -> None:
        self.root = root
        self.now = now

    def check(self, environ: dict[str, Any]) -> Refusal | None:
        """None when the request is properly signed; a :class:`Refusal` otherwise.

        Reads the body when its hash is needed and puts it back in ``wsgi.input``.
        """
        signed = _parse(environ)
        if isinstance(signed, Refusal):
            return signed
        secret = self._secret(signed.access_key_id, _session_token(environ))
        if isinstance(secret, Refusal):
            return secret
        refusal = self._check_time(signed)
        if refusal is not None:
            return refusal
        payload = _payload_hash(environ, signed)
        if isinstance(payload, Refusal):
            return payload
        canonical = canonical_request(environ, signed.signed_headers, payload, signed.service,
                                      presigned=signed.presigned)
        scope = f"{signed.date}/{signed.region}/{signed.service}/aws4_request"
        to_sign = "\n".join([
            ALGORITHM, signed.timestamp, scope,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        ])
        expected = signature(secret, signed.date, signed.region, signed.service, to_sign)
        if not hmac.compare_digest(expected, signed.signature):
            return Refusal("bad-signature")
        return None

    def _secret(self, access_key_id: str, token: str | None) -> str | Refusal:
        if hmac.compare_digest(access_key_id, self.root.access_key_id):
            return self.root.secret_access_key
        issued = _issued_secret(access_key_id)
        if issued is None:
            return Refusal("unknown-key")
        issued_secret, issued_token = issued
        if issued_token is not None and (token is None or not hmac.compare_digest(token, issued_token)):
            return Refusal("bad-token")
        return issued_secret

    def _check_time(self, signed: _Signed) -> Refusal | None:
        try:
            when = datetime.strptime(signed.timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return Refusal("malformed", "X-Amz-Date must be in the ISO8601 basic format.")
        if signed.timestamp[:8] != signed.date:
            return Refusal("bad-signature")
        now = self.now()
        then = when.timestamp()
        if signed.presigned:
            if now > then + (signed.expires or 0) or then - now > MAX_SKEW_SECONDS:
                return Refusal("expired", "Request has expired")
            return None
        if abs(now - then) > MAX_SKEW_SECONDS:
            stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            edge = datetime.fromtimestamp(now - MAX_SKEW_SECONDS, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            return Refusal(
                "expired",
                f"Signature expired: {signed.timestamp} is now earlier than {edge} ({stamp} - 15 min.)"
                if then < now else
                f"Signature not yet current: {signed.timestamp} is still later than {stamp} + 15 min.",
            )
        return None


def signature(secret: str, date: str, region: str, service: str, to_sign: str) -> str:
    """The hex SigV4 signature of ``to_sign`` (the key derivation of the specification)."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_request(
    environ: dict[str, Any], signed_headers: list[str], payload: str, service: str,
    *, presigned: bool = False,
) -> str:
    """The SigV4 canonical request of what arrived, from the WSGI environ."""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", ""))
    raw_path, _, raw_query = raw_uri.partition("?")
    raw_path = raw_path or "/"
    # S3 signs the path as sent; every other service the path URI-encoded once more.
    path = raw_path if service == "s3" else quote(_normalized(raw_path), safe="/~")
    pairs = []
    for item in raw_query.split("&") if raw_query else ():
        key, _, value = item.partition("=")
        if presigned and unquote(key) == "X-Amz-Signature":
            continue
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    headers = [f"{name}:{' '.join(_header(environ, name).split())}" for name in signed_headers]
    return "\n".join([
        environ.get("REQUEST_METHOD", "GET").upper(), path, query, "\n".join(headers) + "\n",
        ";".join(signed_headers), payload,
    ])


def _normalized(path: str) -> str:
    # As botocore's normalize_url_path: drop "." and resolve ".." segments.
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    result = "/" + "/".join(parts)
    if path.endswith("/") and result != "/":
        result += "/"
    return result


def _header(environ: dict[str, Any], name: str) -> str:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return str(environ.get(key, ""))
    return str(environ.get("HTTP_" + key, ""))


def _session_token(environ: dict[str, Any]) -> str | None:
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    if token is None:
        query = environ.get("QUERY_STRING", "")
        for item in query.split("&"):
            key, _, value = item.partition("=")
            if unquote(key) == "X-Amz-Security-Token":
                return unquote(value)
    return token


def _parse(environ: dict[str, Any]) -> _Signed | Refusal:
    header = environ.get("HTTP_AUTHORIZATION")
    if header is not None:
        if not header.startswith(ALGORITHM + " "):
            return Refusal("malformed", f"Only {ALGORITHM} (Signature Version 4) is accepted.")
        fields = dict(_AUTH_FIELD.findall(header))
        timestamp = environ.get("HTTP_X_AMZ_DATE", "")
        return _signed(fields.get("Credential", ""), fields.get("SignedHeaders", ""),
                       fields.get("Signature", ""), timestamp, presigned=False, expires=None)
    query = {}
    for item in environ.get("QUERY_STRING", "").split("&"):
        key, _, value = item.partition("=")
        query[unquote(key)] = unquote(value)
    if "X-Amz-Signature" not in query:
        return Refusal("missing")
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        return Refusal("malformed", f"Only {ALGORITHM} (Signature Version 4) is accepted.")
    try:
        expires = int(query.get("X-Amz-Expires", ""))
    except ValueError:
        return Refusal("malformed", "X-Amz-Expires must be a number of seconds.")
    return _signed(query.get("X-Amz-Credential", ""), query.get("X-Amz-SignedHeaders", ""),
                   query["X-Amz-Signature"], query.get("X-Amz-Date", ""), presigned=True,
                   expires=expires)


def _signed(credential: str, signed_headers: str, sig: str, timestamp: str, *,
            presigned: bool, expires: int | None) -> _Signed | Refusal:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        return Refusal("malformed", "The credential must be KEY/yyyymmdd/region/service/aws4_request.")
    names = signed_headers.split(";") if signed_headers else []
    if "host" not in names or names != sorted(names) or any(n != n.lower() for n in names):
        return Refusal("malformed", "SignedHeaders must be sorted lower-case names including host.")
    if not sig or not timestamp:
        return Refusal("malformed", "The signature and X-Amz-Date are required.")
    return _Signed(parts[0], parts[1], parts[2], parts[3], names, sig, timestamp, presigned, expires)


def _payload_hash(environ: dict[str, Any], signed: _Signed) -> str | Refusal:
    claimed = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
    if signed.presigned and claimed is None:
        return "UNSIGNED-PAYLOAD" if signed.service == "s3" else EMPTY_SHA256
    if claimed in UNHASHED_PAYLOADS:
        return str(claimed)
    actual = hashlib.sha256(_buffered_body(environ)).hexdigest()
    if claimed is None:
        return actual
    if not _HEX64.match(claimed) or not hmac.compare_digest(claimed, actual):
        return Refusal("payload-mismatch")
    return str(claimed)


def _buffered_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        body = stream.read(int(length)) if int(length) else b""
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return bytes(body)


def _issued_secret(access_key_id: str) -> tuple[str, str | None] | None:
    """(secret, session token or None) of keys moto issued: STS sessions' and IAM users',
    in any account (a role of another account keeps its sessions there)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account_backends in list(sts_backends.values()):
        for backend in list(account_backends.values()):
            for role in list(getattr(backend, "assumed_roles", ())):
                if role.access_key_id == access_key_id:
                    return str(role.secret_access_key), str(role.session_token)
    for iam_accounts in list(iam_backends.values()):
        for iam in list(iam_accounts.values()):
            for user in list(getattr(iam, "users", {}).values()):
                for key in list(user.access_keys):
                    if key.access_key_id == access_key_id and key.status == "Active":
                        return str(key.secret_access_key), None
    return None


# ---------------------------------------------------------------------- what AWS answers

_JSON_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_TOKEN_INVALID = "The security token included in the request is invalid."
# kind -> protocol -> (status, code, message); "" takes the refusal's detail.
_ANSWERS: dict[str, dict[str, tuple[int, str, str]]] = {
    "missing": {
        "json": (400, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        "query": (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
        "rest-xml": (403, "AccessDenied", "Access Denied"),
    },
    "malformed": {
        "json": (400, "IncompleteSignatureException", ""),
        "query": (400, "IncompleteSignature", ""),
        "rest-xml": (400, "AuthorizationHeaderMalformed", ""),
    },
    "unknown-key": {
        "json": (400, "UnrecognizedClientException", _TOKEN_INVALID),
        "query": (403, "InvalidClientTokenId", _TOKEN_INVALID),
        "rest-xml": (403, "InvalidAccessKeyId",
                     "The AWS Access Key Id you provided does not exist in our records."),
    },
    "bad-token": {
        "json": (400, "UnrecognizedClientException", _TOKEN_INVALID),
        "query": (403, "InvalidClientTokenId", _TOKEN_INVALID),
        "rest-xml": (400, "InvalidToken", "The provided token is malformed or otherwise invalid."),
    },
    "bad-signature": {
        "json": (400, "InvalidSignatureException", _JSON_SIGNATURE),
        "query": (403, "SignatureDoesNotMatch", _JSON_SIGNATURE),
        "rest-xml": (403, "SignatureDoesNotMatch",
                     "The request signature we calculated does not match the signature you "
                     "provided. Check your key and signing method."),
    },
    "expired": {
        "json": (400, "InvalidSignatureException", ""),
        "query": (403, "SignatureDoesNotMatch", ""),
        "rest-xml": (403, "RequestTimeTooSkewed",
                     "The difference between the request time and the current time is too large."),
    },
    # Not AWS's (it routes by name): a request addressed to a name the endpoint did not bind.
    "foreign-host": {
        protocol: (421, "MisdirectedRequest", "This endpoint answers only requests addressed to "
                   "the address it listens on (Host header).")
        for protocol in ("json", "query", "rest-xml")
    },
    "payload-mismatch": {
        "json": (400, "InvalidSignatureException", _JSON_SIGNATURE),
        "query": (403, "SignatureDoesNotMatch", _JSON_SIGNATURE),
        "rest-xml": (400, "XAmzContentSHA256Mismatch",
                     "The provided 'x-amz-content-sha256' header does not match what was computed."),
    },
}


def error_response(refusal: Refusal, protocol: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) as AWS answers ``refusal`` for ``protocol`` (json, query, rest-xml)."""
    status, code, message = _ANSWERS[refusal.kind][protocol]
    message = message or refusal.detail
    request_id = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id,
                        "x-amzn-ErrorType": code}, body
    if protocol == "query":
        text = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, text.encode()
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
    )
    return status, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, text.encode()


# ---------------------------------------------------------------------- the Host rule


def allowed_hosts(host: str, port: int) -> Callable[[str], bool]:
    """A predicate: whether a ``Host`` header names the address the endpoint bound.

    Accepted: the bound IP with the port; for a loopback bind also ``localhost``
    (and ``*.localhost``, S3's virtual-hosted buckets); for a wildcard bind any
    IP literal of this machine's kind and ``localhost``. Never another DNS name:
    that is what a DNS-rebinding web page sends.
    """
    wildcard = host in ("", "0.0.0.0", "::")
    try:
        bound = None if wildcard else ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        bound = None  # a name (localhost): its loopback addresses below
    loopback = wildcard or host == "localhost" or (bound is not None and bound.is_loopback)

    def allowed(value: str) -> bool:
        name, _, given_port = value.rpartition(":")
        if not name or given_port != str(port):
            return False
        name = name.lower()
        if name.startswith("["):
            name = name[1:-1] if name.endswith("]") else ""
        if loopback and (name == "localhost" or name.endswith(".localhost")):
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        if wildcard:
            return True
        if bound is None:
            return address.is_loopback
        return address == bound or (bound.is_loopback and address.is_loopback
                                    and address.version == bound.version)

    return allowed
