"""Notices from the AWS door while a call is still under way: "cannot reach X; retrying".

:mod:`client.aws.client` never prints. When it cannot connect and is about to try
again, it hands a one-line notice to every sink registered here; the CLI
(``client.cli.main``) registers one that writes it to stderr, so a user waiting on
an unreachable endpoint hears why within seconds rather than after minutes of
silence. Stdlib only, so the CLI can register without importing boto3.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

NoticeSink = Callable[[str], None]

_logger = logging.getLogger("cbdeploy.aws")
_sinks: list[NoticeSink] = []
_lock = threading.Lock()


@contextmanager
def connection_notices(sink: NoticeSink) -> Iterator[None]:
    """Send connection notices to ``sink`` while the block runs (from any thread)."""
    with _lock:
        _sinks.append(sink)
    try:
        yield
    finally:
        with _lock:
            _sinks.remove(sink)


def notify(message: str) -> None:
    """Hand ``message`` to every registered sink (and to the debug log)."""
    _logger.debug(message)
    relay(message)


def relay(message: str) -> None:
    """Hand a notice made elsewhere (the AWS agent, which logged it) to every sink."""
    with _lock:
        sinks = list(_sinks)
    for sink in sinks:
        sink(message)
