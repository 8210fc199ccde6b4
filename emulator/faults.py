"""Seeded fault injection: answer a fraction of client requests with an error.

Faults are what a client must survive against AWS: a throttling error in the
service's own protocol (JSON: HTTP 400 ``ThrottlingException``; S3's XML:
HTTP 503 ``SlowDown``), a bare 500 or 503, or a connection closed without any
response (before the request is handled, or after it took effect). The same
seed gives the same sequence of decisions.
"""

from __future__ import annotations

import json
import random
import threading

# "drop": the connection closes before the request is handled; "drop-after": the
# request is handled and then its answer is lost.
KINDS = ("throttle", "server-error", "unavailable", "drop", "drop-after")


class FaultInjector:
    def __init__(self, rate: float = 0.0, seed: int | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        self.rate = rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = dict.fromkeys(KINDS, 0)

    def decide(self) -> str | None:
        """The fault to inject into the next request, or None to answer it normally."""
        if self.rate <= 0.0:
            return None
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(KINDS)
            self.injected[kind] += 1
            return kind


def fault_response(kind: str, protocol: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an injected error in ``protocol`` (json, query or rest-xml).

    ``drop`` has no response; the server closes the connection instead.
    """
    status = {"throttle": 400, "server-error": 500, "unavailable": 503}[kind]
    if protocol == "json":
        code = {400: "ThrottlingException", 500: "InternalFailure", 503: "ServiceUnavailable"}[status]
        body = json.dumps({"__type": code, "message": "injected fault"}).encode()
        return status, {"Content-Type": "application/x-amz-json-1.1"}, body
    if protocol == "query":
        code = {400: "Throttling", 500: "InternalFailure", 503: "ServiceUnavailable"}[status]
        text = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            "<Message>injected fault</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
        )
        return status, {"Content-Type": "text/xml"}, text.encode()
    if kind == "throttle":
        status = 503  # S3 throttles with 503 SlowDown
    code = {400: "SlowDown", 500: "InternalError", 503: "SlowDown"}[status]
    if kind == "unavailable":
        code = "ServiceUnavailable"
    text = f"<Error><Code>{code}</Code><Message>injected fault</Message><RequestId>fault</RequestId></Error>"
    return status, {"Content-Type": "application/xml"}, text.encode()
