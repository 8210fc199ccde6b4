"""The frames between a deploy and its AWS agent (:mod:`.agent`, :mod:`.remote`). No boto3.

A frame is a 4-byte length and a pickled tuple; each side writes whole frames under
one lock. Pickle, as the two ends are the same cbdeploy on one machine, and AWS's
answers hold datetimes.

To the agent: first the opening ``(target, levels)`` (``levels``: the levels set on the
parent's loggers, by name, to mirror), then requests ``(id, polling, name, args,
kwargs)``, ``name`` one of :data:`REQUESTS`. An upload's body travels as an :class:`Upload`.

From the agent: ``(REPLY, id, ok, value)``, ``value`` a :func:`packed` error when not
``ok``; id 0 answers the opening: ok, or ``("refused", packed error)`` (the door's own
error: a bad profile, a bad seed file) or ``("unavailable", why)`` (the agent cannot work
here: the parent opens the door itself). Also ``(PROGRESS, id, position)`` (the body of
call ``id`` was sent up to ``position``), ``(LOG, name, level, message)`` and
``(NOTICE, message)`` (see :mod:`.notices`).

A datetime travels with a time zone of the standard library: botocore's answers carry
dateutil's (``tzutc``, ``tzlocal``), which would have the deploy's process import
dateutil to read them. The same instant and UTC offset, so the same ``isoformat``.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import struct
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

from cbdeploy.client import errors
from cbdeploy.client.errors import AwsError, CbdeployError

REPLY, PROGRESS, LOG, NOTICE = "reply", "progress", "log", "notice"
# What the parent may ask of the agent's AwsClient (methods and properties).
REQUESTS = frozenset({"call", "account_id", "uses_tls", "endpoint", "partition"})
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class Upload:
    """A request's ``Body``: its bytes, and whether the agent reports them as sent."""

    data: bytes
    progress: bool


def _plain_datetime(value: datetime) -> Any:
    """``value`` pickled with a ``datetime.timezone`` of its UTC offset, if it had another."""
    offset = value.utcoffset()
    if offset is not None and not isinstance(value.tzinfo, timezone):
        value = value.replace(tzinfo=timezone(offset))
    return value.__reduce_ex__(pickle.HIGHEST_PROTOCOL)


class _Pickler(pickle.Pickler):
    dispatch_table = {**copyreg.dispatch_table, datetime: _plain_datetime}


def encode(value: Any) -> bytes:
    """A frame's bytes (a value that cannot be pickled fails here, before anything is sent)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def write_frame(stream: IO[bytes], data: bytes) -> None:
    """Write one :func:`encode`-d frame (the caller holds the stream's lock)."""
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next frame; raises EOFError at the end of the stream (or in a cut frame)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - our own agent, over our own pipe


# ------------------------------------------------------------------ errors across


class AgentTraceback(Exception):
    """Where an error came from in the agent (the cause of the error raised here)."""

    def __str__(self) -> str:
        return f"in the AWS agent:\n{self.args[0]}"


def packed(error: BaseException) -> tuple[str, dict[str, Any], str]:
    """``error`` as plain data: its class's name in :mod:`client.errors`, its attributes,
    and the agent's traceback. Any other exception goes as an :class:`AwsError`."""
    told = "".join(traceback.format_exception(error))
    if isinstance(error, CbdeployError) and getattr(errors, type(error).__name__) is type(error):
        return type(error).__name__, {"args": error.args, **vars(error)}, told
    message = f"The AWS agent failed: {type(error).__name__}: {error}"
    return "AwsError", {"args": (message,), "message": message, "hint": None, "code": None}, told


def unpacked(error: tuple[str, dict[str, Any], str]) -> CbdeployError:
    """The exception :func:`packed` described: the same class, message, hint and attributes."""
    name, attributes, told = error
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, CbdeployError)):
        cls = AwsError
    fields = dict(attributes)
    rebuilt: CbdeployError = cls.__new__(cls)
    Exception.__init__(rebuilt, *fields.pop("args", ()))
    rebuilt.__dict__.update(fields)
    rebuilt.__cause__ = AgentTraceback(told)
    return rebuilt
