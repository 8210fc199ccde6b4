"""The door's policy for requests that cannot connect (``needs-retry`` hook, before botocore's).

Unit level, with botocore's own exception types; the end-to-end timings are in
``tests/e2e/test_unreachable_endpoint_e2e.py``.
"""

from __future__ import annotations

from types import SimpleNamespace

import botocore.exceptions as bx
import pytest

from cbdeploy.client.aws.client import CONNECT_ATTEMPTS, _connection_retry
from cbdeploy.client.aws.notices import connection_notices


def endpoint(url: str) -> SimpleNamespace:
    return SimpleNamespace(host=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:4566", "http://localhost:9", "http://[::1]:80"])
def test_refused_on_loopback_is_not_retried(url: str) -> None:
    notices: list[str] = []
    with connection_notices(notices.append):
        refused = bx.EndpointConnectionError(endpoint_url=url, error="refused")
        assert _connection_retry(caught_exception=refused, attempts=1, endpoint=endpoint(url)) is False
    assert notices == []


def test_other_connection_failures_are_announced_then_given_up() -> None:
    url = "https://codebuild.us-east-1.amazonaws.com"
    timeout = bx.ConnectTimeoutError(endpoint_url=url)
    notices: list[str] = []
    with connection_notices(notices.append):
        for attempt in range(1, CONNECT_ATTEMPTS):
            assert _connection_retry(caught_exception=timeout, attempts=attempt, endpoint=endpoint(url)) is None
        assert _connection_retry(
            caught_exception=timeout, attempts=CONNECT_ATTEMPTS, endpoint=endpoint(url)
        ) is False
    assert len(notices) == CONNECT_ATTEMPTS - 1
    assert url in notices[0] and "retrying (attempt 2 of 4)" in notices[0]
    # A timeout on loopback is a listener that does not answer: retried like any other.
    assert _connection_retry(
        caught_exception=bx.ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        attempts=1, endpoint=endpoint("http://127.0.0.1:1"),
    ) is None


def test_errors_after_connecting_are_left_to_botocore() -> None:
    url = "http://127.0.0.1:4566"
    for error in (bx.ConnectionClosedError(endpoint_url=url), bx.ReadTimeoutError(endpoint_url=url), None):
        assert _connection_retry(caught_exception=error, attempts=1, endpoint=endpoint(url)) is None
