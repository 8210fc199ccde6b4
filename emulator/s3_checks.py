"""S3 request checks the endpoint makes because moto does not.

- ``x-amz-expected-bucket-owner``: AWS answers 403 AccessDenied when the
  bucket belongs to another account; moto ignores the header.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from emulator import backends

Refusal = tuple[int, dict[str, str], bytes]


def check(environ: dict[str, Any]) -> Refusal | None:
    """A refusal (status, headers, body) for a request AWS would refuse, else None."""
    expected = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
    bucket = _bucket(environ)
    if expected and bucket:
        owner = backends.bucket_owner(bucket)
        if owner is not None and owner != expected.strip():
            return _error(403, "AccessDenied", "Access Denied")
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
