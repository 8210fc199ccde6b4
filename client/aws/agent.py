"""The AWS agent: the process that holds a deploy's door to AWS (see :mod:`.remote`).

Started by :mod:`.remote` as ``python -I -S`` running :func:`main` with the two pipes
of :mod:`.wire` (its stdin and stderr stay the terminal's: botocore may prompt for an
MFA code). It reads the opening, opens the real door (:func:`.client.open_aws`, an
in-process emulator with ``--local`` included), answers each request on a thread of
its own (boto3's clients are shared between threads), and sends back what the parent
shows: connection notices, the log records its levels let through, and how far an
upload's body has been sent. It ignores SIGINT, SIGTERM and SIGHUP (the deploy
decides, and may still want a StopBuild); the end of its input ends it.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack
from typing import IO, Any

from cbdeploy.client.aws.notices import connection_notices
from cbdeploy.client.aws.wire import (
    LOG,
    NOTICE,
    PROGRESS,
    REPLY,
    REQUESTS,
    Upload,
    encode,
    packed,
    read_frame,
    write_frame,
)
from cbdeploy.client.collector import paused_then_frozen_gc
from cbdeploy.client.errors import CbdeployError

_calls = logging.getLogger("cbdeploy.aws")  # (as the door's own lines)

# An upload's progress goes back in steps of this many bytes (and at its end), not
# once per 8 KiB the HTTP layer reads.
PROGRESS_STEP = 256 * 1024


class _Sender:
    """Frames to the parent, from any thread; once the parent is gone, nothing more."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, frame: tuple[Any, ...] | bytes) -> None:
        data = frame if isinstance(frame, bytes) else encode(frame)
        try:
            with self._lock:
                write_frame(self._stream, data)
        except (OSError, ValueError):
            pass  # the parent is gone: its end of our input ends us too


class _Forward(logging.Handler):
    """Log records to the parent, which emits them on its own handlers."""

    def __init__(self, sender: _Sender) -> None:
        super().__init__()
        self._sender = sender
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sender.send((LOG, record.name, record.levelno, self.format(record)))
        except Exception:  # noqa: BLE001 - as logging does: a record that fails is dropped
            self.handleError(record)


class _SentBody(io.BytesIO):
    """An upload's bytes that say how far the HTTP layer has sent them (as the deploy's
    ``PartBody``: not while botocore reads them to sign the request)."""

    def __init__(self, data: bytes, report: Any) -> None:
        super().__init__(data)
        self._report = report
        self._size = len(data)
        self._told = 0
        self._transferring = True

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        position = self.tell()
        if self._transferring and position > self._told and (
            position - self._told >= PROGRESS_STEP or position == self._size
        ):
            self._told = position
            self._report(position)
        return chunk

    def signal_transferring(self) -> None:
        self._transferring = True

    def signal_not_transferring(self) -> None:
        self._transferring = False


class Agent:
    """Answers the parent's requests with ``doors`` (False: the door, True: its poller's)."""

    def __init__(self, sender: _Sender, doors: dict[bool, Any]) -> None:
        self.sender = sender
        self.doors = doors

    def serve(self, requests: IO[bytes]) -> None:
        """Each request on a thread of its own, until the input ends."""
        while True:
            try:
                request = read_frame(requests)
            except EOFError:
                return
            threading.Thread(target=self.answer, args=request, daemon=True).start()

    def answer(self, ident: int, polling: bool, name: str, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> None:
        try:
            if name not in REQUESTS:
                raise ValueError(f"no such request: {name!r}")
            door = self.doors[polling and name == "call"]
            if name == "call":
                service, operation = args
                value = self._call(door, ident, service, operation, kwargs)
            else:
                value = getattr(door, name)
                value = value(*args, **kwargs) if callable(value) else value
            reply = encode((REPLY, ident, True, value))  # (one that cannot go: an error)
        except BaseException as error:  # noqa: BLE001 - every error goes to the caller
            reply = encode((REPLY, ident, False, packed(error)))
        self.sender.send(reply)

    def _call(self, door: Any, ident: int, service: str, operation: str,
              params: dict[str, Any]) -> Any:
        body = params.get("Body")
        if isinstance(body, Upload):
            report = (lambda at: self.sender.send((PROGRESS, ident, at))) if body.progress else (
                lambda at: None)
            params["Body"] = _SentBody(body.data, report)
        answer = door.call(service, operation, **params)
        stream = answer.get("Body") if isinstance(answer, dict) else None
        if stream is not None and hasattr(stream, "read"):  # get_object's: read here
            from cbdeploy.client.aws.errors import translate_error

            try:
                answer["Body"] = stream.read()
            except Exception as error:
                raise translate_error(error, service, operation, params) from error
            finally:
                stream.close()
        return answer


def _mirror_logging(sender: _Sender, levels: dict[str, int]) -> None:
    """The parent's levels here, and every record they let through sent to the parent."""
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    logging.getLogger().addHandler(_Forward(sender))


def load_door() -> Any:
    """``open_aws``, with boto3 and botocore loaded: their modules live as long as the
    agent, so they are loaded without the cyclic collector, then frozen (``.lasting``)."""
    with paused_then_frozen_gc():
        from cbdeploy.client.aws.client import open_aws
    return open_aws


def warm(door: Any, services: tuple[str, ...]) -> None:
    """Make the clients of ``services`` on the door, one after the other, before they are
    asked for: the agent makes them while it would otherwise wait for the deploy's first
    questions and AWS's answers, not when the deploy's reads come. One that cannot be
    made is left: the first call to its service makes it again, and says why."""
    for service in services:
        began = time.monotonic()
        try:
            door.client(service)
        except Exception:  # noqa: BLE001, S112 - said by that service's first call
            continue
        _calls.debug("%s client made ahead of its calls, %d ms", service,
                     round((time.monotonic() - began) * 1000))


def main(requests_fd: int, replies_fd: int) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    requests = os.fdopen(requests_fd, "rb")
    sender = _Sender(os.fdopen(replies_fd, "wb"))
    try:  # boto3 first: the opening may come later (see remote.EarlyAgent)
        open_aws = load_door()
    except Exception as error:  # noqa: BLE001 - told with the opening's answer
        unusable: Exception | None = error
    else:
        unusable = None
    try:
        target, levels, services = read_frame(requests)
    except EOFError:
        return
    if unusable is not None:
        why = f"{type(unusable).__name__}: {unusable}"
        sender.send((REPLY, 0, False, ("unavailable", why)))
        return
    _mirror_logging(sender, levels)
    with ExitStack() as stack:
        stack.enter_context(connection_notices(lambda message: sender.send((NOTICE, message))))
        try:
            aws = stack.enter_context(open_aws(target))
        except CbdeployError as error:
            sender.send((REPLY, 0, False, ("refused", packed(error))))
            return
        except BaseException as error:  # noqa: BLE001 - the parent opens the door itself
            sender.send((REPLY, 0, False, ("unavailable", f"{type(error).__name__}: {error}")))
            return
        threading.Thread(target=warm, args=(aws, services), name="warm", daemon=True).start()
        sender.send((REPLY, 0, True, None))
        Agent(sender, {False: aws, True: aws.for_polling()}).serve(requests)
    # The door is closed (an emulator stopped): nothing is left to tidy, and the
    # interpreter's own teardown (boto3's modules) would keep the command waiting.
    sys.stderr.flush()
    os._exit(0)

