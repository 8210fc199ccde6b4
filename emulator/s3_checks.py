"""S3 request checks the endpoint makes because moto does not.

- ``x-amz-expected-bucket-owner``: AWS answers 403 AccessDenied when the
  bucket belongs to another account; moto ignores the header.
- ``x-amz-checksum-sha256`` (and ``-sha1``, ``-crc32``) on PutObject and
  UploadPart: AWS answers 400 BadDigest when the body does not match; moto
  5.2.5 stores the object and echoes the wrong checksum back.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from cbdeploy.emulator import backends

Refusal = tuple[int, dict[str, str], bytes]


def check(environ: dict[str, Any]) -> Refusal | None:
    """A refusal (status, headers, body) for a request AWS would refuse, else None."""
    expected = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
    bucket = _bucket(environ)
    if expected and bucket:
        owner = backends.bucket_owner(bucket)
        if owner is not None and owner != expected.strip():
            return _error(403, "AccessDenied", "Access Denied")
    if environ.get("REQUEST_METHOD") == "PUT":
        return _check_checksum(environ)
    return None


def _sha(name: str) -> Callable[[bytes], bytes]:
    return lambda data: hashlib.new(name, data).digest()


_CHECKSUMS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "HTTP_X_AMZ_CHECKSUM_SHA256": ("SHA256", _sha("sha256")),
    "HTTP_X_AMZ_CHECKSUM_SHA1": ("SHA1", _sha("sha1")),
    "HTTP_X_AMZ_CHECKSUM_CRC32": ("CRC32", lambda data: zlib.crc32(data).to_bytes(4, "big")),
}


def _check_checksum(environ: dict[str, Any]) -> Refusal | None:
    present = [key for key in _CHECKSUMS if environ.get(key)]
    chunked = "aws-chunked" in environ.get("HTTP_CONTENT_ENCODING", "")
    # A body without Content-Length (chunked transfer) is left to moto unchecked.
    if not present or chunked or environ.get("HTTP_X_AMZ_COPY_SOURCE") or not environ.get("CONTENT_LENGTH"):
        return None
    length = int(environ["CONTENT_LENGTH"])
    body = environ["wsgi.input"].read(length) if length else b""
    # moto reads the body after us: hand it a fresh stream.
    environ["wsgi.input"] = io.BytesIO(body)
    for key in present:
        algorithm, digest = _CHECKSUMS[key]
        if base64.b64encode(digest(body)).decode() != environ[key].strip():
            return _error(
                400, "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
            )
    return None


def _bucket(environ: dict[str, Any]) -> str | None:
    path = unquote(environ.get("PATH_INFO", ""))
    name = path.lstrip("/").split("/", 1)[0]
    return name or None


def _error(status: int, code: str, message: str) -> Refusal:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>emulator</RequestId></Error>"
    ).encode()
    return status, {"Content-Type": "application/xml"}, body
