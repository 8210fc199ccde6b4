"""The AWS door of a deploy, held by a process of its own: the AWS agent (issue 16).

Importing boto3, making its clients (botocore reads its JSON models) and every call
cost CPU that, in the deploy's own process, would queue for the interpreter lock
with the packaging. :func:`open_agent` starts :mod:`.agent` as a fresh interpreter
(``python -I -S``, this process's import path, as the packaging workers are started;
never forked) and yields an :class:`AgentAwsClient`: the same methods as
:class:`~cbdeploy.client.aws.client.AwsClient` (the per-service mixins over one
:meth:`~AgentAwsClient.call`), each call sent to the agent, which makes it with the
real door on a thread of its own and sends the answer back. So the deploy's process
never imports boto3, and that work runs on another core.

The frames (:mod:`.wire`) travel on two pipes of their own: the agent keeps this
process's stdin and stderr (botocore may ask for an MFA code) and writes its stdout
to our stderr (``--json`` keeps stdout to itself). Errors come back as the same
classes of :mod:`client.errors` with the same attributes; connection notices and the
``cbdeploy.aws`` debug lines are emitted here as they were in-process; an upload's
body travels as bytes and the agent says how far it has been sent, so progress still
counts bytes as they go.

``cbdeploy deploy`` starts its agent first thing (:func:`.spawn.spawn_agent`, before
this module is loaded; then :class:`EarlyAgent`): it loads boto3 and opens the door
while the deploy loads its own modules, and the deploy's door (``deploy/preamble.py``'s
``open_aws_later``) takes it.

The agent ignores SIGINT, SIGTERM and SIGHUP: this process decides (a StopBuild after
a Ctrl-C is one more call). It ends when its input ends: when the door is closed, or
when this process dies. If it dies, every call waiting and every later one fails with
:class:`~cbdeploy.client.errors.AgentGoneError`, at once. Where it cannot start at all
(no interpreter to run, an install it cannot import), the door opens in this process.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

from cbdeploy.client.aws.codebuild import CodeBuildMethods
from cbdeploy.client.aws.endpoint import Endpoint
from cbdeploy.client.aws.iam import IamMethods
from cbdeploy.client.aws.logs import LogsMethods
from cbdeploy.client.aws.lookups import LookupMethods
from cbdeploy.client.aws.notices import relay
from cbdeploy.client.aws.s3 import S3Methods
from cbdeploy.client.aws.spawn import Spawned, spawn
from cbdeploy.client.aws.wire import (
    LOG,
    NOTICE,
    PROGRESS,
    REPLY,
    Upload,
    encode,
    read_frame,
    unpacked,
    write_frame,
)
from cbdeploy.client.errors import AgentGoneError
from cbdeploy.client.target import Target

_log = logging.getLogger(__name__)

# The clients a deploy calls, in the order it first needs them (STS: the account is its
# first question; then bootstrap's reads), which its agent makes before they are asked for.
DEPLOY_CLIENTS = ("sts", "s3", "iam", "logs", "codebuild")
CLOSE_SECONDS = 10.0  # how long a closed door's agent may take to end (an emulator stops)


class _Waiter:
    __slots__ = ("done", "ok", "value", "progress")

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None
        self.progress = progress


class AgentUnavailable(Exception):
    """The agent could not start or open the door for a reason of its own (not the user's)."""


class Connection:
    """One agent process: requests written under a lock, replies read on a thread and
    handed to the caller waiting for each (any number of threads call at once)."""

    def __init__(self, command: Callable[[int, int], list[str]] | None = None, *,
                 spawned: Spawned | None = None) -> None:
        """The agent ``spawned`` already (see :mod:`.spawn`), else one started now with
        ``command`` (OSError when it cannot start)."""
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._waiting: dict[int, _Waiter] = {}
        self._ids = itertools.count(1)
        self._gone: str | None = None
        self._closing = False
        self.popen, requests, replies = spawned or spawn(command)
        self._requests: IO[bytes] = os.fdopen(requests, "wb")
        self._replies: IO[bytes] = os.fdopen(replies, "rb")
        self._opened = _Waiter(None)
        self._waiting[0] = self._opened
        self._reader = threading.Thread(target=self._read, name="cbdeploy-aws-agent", daemon=True)
        self._reader.start()

    def begin(self, target: Target, warm: tuple[str, ...] = ()) -> None:
        """Have the agent open the door for ``target`` (see :meth:`opened`), then make the
        clients of ``warm`` before they are asked for (``agent.warm``)."""
        self._send(encode((target, _levels(), warm)))

    def opened(self) -> None:
        """Wait for the door to open: raises the opening's error, or
        :class:`AgentUnavailable` when the agent cannot work here at all."""
        self._opened.done.wait()
        if self._opened.ok:
            return
        if isinstance(self._opened.value, AgentGoneError):
            raise AgentUnavailable(self._opened.value.message)
        kind, error = self._opened.value
        if kind == "unavailable":
            raise AgentUnavailable(error)
        raise unpacked(error)

    def ask(self, polling: bool, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
            progress: Callable[[int], None] | None = None) -> Any:
        """Ask the agent's door for ``name(*args, **kwargs)``; wait for the answer."""
        ident = next(self._ids)
        data = encode((ident, polling, name, args, kwargs))  # (a value that cannot go: here)
        waiter = _Waiter(progress)
        with self._lock:
            if self._gone is not None:
                raise AgentGoneError(self._gone, _GONE_HINT)
            self._waiting[ident] = waiter
        try:
            self._send(data)
            waiter.done.wait()
        finally:
            with self._lock:
                self._waiting.pop(ident, None)
        if not waiter.ok:
            raise (waiter.value if isinstance(waiter.value, BaseException)
                   else unpacked(waiter.value))
        return waiter.value

    def _send(self, data: bytes) -> None:
        try:
            with self._write_lock:
                write_frame(self._requests, data)
        except (OSError, ValueError):
            pass  # the agent is gone: the reader says so to every caller

    def _read(self) -> None:
        try:
            while True:
                self._dispatch(read_frame(self._replies))
        except Exception as error:  # noqa: BLE001 - EOF, or a frame that does not read
            broken = None if isinstance(error, EOFError) else error
        self._end(broken)

    def _dispatch(self, frame: tuple[Any, ...]) -> None:
        kind = frame[0]
        if kind == REPLY:
            _, ident, ok, value = frame
            with self._lock:
                waiter = self._waiting.get(ident)
            if waiter is not None:
                waiter.ok, waiter.value = ok, value
                waiter.done.set()
        elif kind == PROGRESS:
            with self._lock:
                waiter = self._waiting.get(frame[1])
            if waiter is not None and waiter.progress is not None:
                waiter.progress(frame[2])
        elif kind == LOG:
            _, name, level, message = frame
            logger = logging.getLogger(name)
            if logger.isEnabledFor(level):
                logger.handle(logger.makeRecord(name, level, "(aws agent)", 0, message, (), None))
        elif kind == NOTICE:
            relay(frame[1])

    def _end(self, broken: Exception | None) -> None:
        try:
            status = self.popen.wait(timeout=CLOSE_SECONDS if self._closing else 1.0)
        except subprocess.TimeoutExpired:
            status = None
        if self._closing:
            why = "The AWS door of this command is closed."
        else:
            how = f" (exit status {status})" if status is not None else ""
            bad = f": {type(broken).__name__}: {broken}" if broken is not None else ""
            why = f"The AWS agent process ended unexpectedly{how}{bad}."
        with self._lock:
            self._gone = why
            waiting = list(self._waiting.values())
        for waiter in waiting:
            waiter.ok, waiter.value = False, AgentGoneError(why, _GONE_HINT)
            waiter.done.set()

    def close(self) -> None:
        """End the agent: its input ends, it closes its door and exits (killed if it lingers)."""
        self._closing = True
        with self._write_lock, suppress(OSError):
            self._requests.close()
        try:
            self.popen.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._reader.join(timeout=CLOSE_SECONDS)
        self._replies.close()


def _levels() -> dict[str, int]:
    """The levels set on this process's loggers (root: ""), for the agent to mirror."""
    loggers = logging.Logger.manager.loggerDict.items()
    levels = {name: logger.level for name, logger in loggers
              if isinstance(logger, logging.Logger) and logger.level}
    return {**levels, "": logging.getLogger().level}


_GONE_HINT = (
    "The process that makes this command's AWS calls is gone. Run the command again; "
    "if this happens again, rerun with --log-level debug and report it."
)


class AgentAwsClient(CodeBuildMethods, LogsMethods, IamMethods, LookupMethods, S3Methods):
    """What a deploy uses of :class:`~cbdeploy.client.aws.client.AwsClient`, its calls
    made by the AWS agent (the mixins are the same; only :meth:`call` travels)."""

    def __init__(self, connection: Connection, region: str, *, polling: bool = False) -> None:
        self.region = region
        self._connection = connection
        self._polling = polling
        self._known: dict[str, Any] = {}  # account_id, endpoint, partition, once asked

    def for_polling(self) -> AgentAwsClient:
        """The same door for a poller that retries on its own: quick to report a failure."""
        polling = type(self)(self._connection, self.region, polling=True)
        polling._known = self._known
        return polling

    def call(self, service: str, operation: str, **params: Any) -> Any:
        progress = None
        body = params.get("Body")
        if body is not None and not isinstance(body, Upload):
            params["Body"], progress = _upload(body)
        answer = self._connection.ask(self._polling, "call", (service, operation), params,
                                      progress)
        if isinstance(answer, dict) and isinstance(answer.get("Body"), bytes):
            answer["Body"] = io.BytesIO(answer["Body"])  # (get_object: read in the agent)
        return answer

    def _once(self, name: str) -> Any:
        if name not in self._known:
            self._known[name] = self._connection.ask(False, name, (), {})
        return self._known[name]

    def account_id(self) -> str:
        return str(self._once("account_id"))

    @property
    def endpoint(self) -> Endpoint:
        endpoint: Endpoint = self._once("endpoint")
        return endpoint

    @property
    def partition(self) -> str:
        return str(self._once("partition"))

    def uses_tls(self, service: str) -> bool:
        """Whether requests to ``service`` travel over https (not a local http endpoint)."""
        return bool(self._connection.ask(False, "uses_tls", (service,), {}))


def _upload(body: Any) -> tuple[Upload, Callable[[int], None] | None]:
    """A request's body as bytes for the agent, from where it stands now, and what to
    tell the body as the agent reports it sent (``sent_through``, see deploy/upload.py)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return Upload(bytes(body), progress=False), None
    start = body.tell()
    data = bytes(body.getbuffer()[start:]) if isinstance(body, io.BytesIO) else body.read()
    sent_through = getattr(body, "sent_through", None)
    if sent_through is None:
        return Upload(data, progress=False), None
    return Upload(data, progress=True), lambda position: sent_through(start + position)


def start_agent(target: Target, warm: tuple[str, ...] = DEPLOY_CLIENTS, *,
                spawned: Spawned | None = None) -> Connection | None:
    """An agent (``spawned`` already, else started now) opening the door for ``target``
    and making the clients of ``warm`` ahead of their calls; None if it cannot start."""
    if spawned is None and not sys.executable:
        return None
    try:
        connection = Connection(spawned=spawned)
    except OSError as error:
        _log.debug("the AWS agent cannot start (%s): the door opens in this process", error)
        return None
    connection.begin(target, warm)
    return connection


@contextmanager
def open_agent(target: Target) -> Iterator[Any]:
    """The door for ``target`` held by an AWS agent (an :class:`AgentAwsClient`: the one
    an :class:`EarlyAgent` started for it, else a new one); the in-process door
    (``open_aws``) where the agent cannot start or work here."""
    connection = EarlyAgent.take(target) or start_agent(target)
    if connection is not None:
        try:
            connection.opened()
        except AgentUnavailable as error:
            _log.debug("the AWS agent is unavailable (%s): the door opens in this process", error)
            connection.close()
            connection = None
        except BaseException:
            connection.close()
            raise
    if connection is None:
        from cbdeploy.client.aws.client import open_aws

        with open_aws(target) as aws:
            yield aws
        return
    try:
        yield AgentAwsClient(connection, target.region)
    finally:
        connection.close()


class EarlyAgent:
    """An agent started before the deploy opens its door: ``cbdeploy deploy`` starts it
    first thing, so that it loads boto3 and opens the door while the deploy loads its
    own modules. While the ``with`` block runs, :func:`open_agent` takes it for the same
    target (once); an agent that no door took ends with the block."""

    _current: EarlyAgent | None = None
    _lock = threading.Lock()

    def __init__(self, target: Target, spawned: Spawned | None = None) -> None:
        """``spawned``: the agent's process, started before this module was loaded
        (:func:`.spawn.spawn_agent`); else one is started now."""
        self._target = target
        self._started = start_agent(target, spawned=spawned)

    @classmethod
    def take(cls, target: Target) -> Connection | None:
        with cls._lock:
            early = cls._current
            if early is None or early._target != target:
                return None
            started, early._started = early._started, None
            return started

    def __enter__(self) -> EarlyAgent:
        with self._lock:
            EarlyAgent._current = self
        return self

    def __exit__(self, *_: object) -> None:
        with self._lock:
            if EarlyAgent._current is self:
                EarlyAgent._current = None
            started, self._started = self._started, None
        if started is not None:
            started.close()
