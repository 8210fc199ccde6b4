"""A packaging worker process: reads and deflates batches of files for the archive.

Started by :mod:`.workers` as a fresh ``python -I`` that runs :func:`main` (no
``fork``, so the same on macOS as on Linux). Reading and
deflating a small file costs about 30 µs of Python besides the deflate itself;
in a process of its own that work does not queue for the archive builder's
interpreter lock.

The protocol is frames on stdin and stdout: a header (:data:`HEADER`: the length
of a marshalled ``meta`` value, then of raw ``data`` bytes), ``meta``, ``data``.

- in, once: ``(root, racy_from_ns)``, see :func:`.reader.item_entry`;
- in, per batch: a list of :data:`.reader.Item`;
- out, per batch and in order: ``(OK, entries)`` with ``data`` the batch's local
  records (header and payload of each entry, in order) followed by their central
  directory records, written for offset 0 (the builder puts in the real ones);
  an entry is ``(record length, method, crc, compressed size, size, zip mode,
  digest or b"")``. Or ``(FAILED, message, hint)``: a
  :class:`~cbdeploy.client.errors.PackagingError` for the batch (a file that
  cannot be read or changed), or ``(BROKEN, description)``: anything else.

The worker ignores SIGINT: Ctrl-C reaches the whole process group, and the
builder decides (it kills its workers). End of input ends the worker.
"""

from __future__ import annotations

import functools
import marshal
import os
import signal
import struct
import sys
from stat import S_ISREG
from typing import IO, TYPE_CHECKING, Any

from deflate import crc32

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.reader import (
    LEVEL,
    Item,
    Produced,
    default_open,
    item_entry,
    produce,
    wants_store,
)
from cbdeploy.client.packaging.zipformat import (
    DEFLATED,
    STORED,
    EntryInfo,
    central_record,
    local_header,
)

if TYPE_CHECKING:
    from cbdeploy.client.packaging.deflater import Deflater

HEADER = struct.Struct("<II")
_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # as .reader.default_open
OK, FAILED, BROKEN = 0, 1, 2


def read_frame(stream: IO[bytes]) -> tuple[Any, bytes] | None:
    """The next frame's ``(meta, data)``; None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    meta_len, data_len = HEADER.unpack(head)
    meta = stream.read(meta_len)
    data = stream.read(data_len) if data_len else b""
    if len(meta) < meta_len or len(data) < data_len:
        return None
    return marshal.loads(meta), data


def frame_parts(meta: Any, data: list[bytes | bytearray]) -> list[bytes | bytearray]:
    packed = marshal.dumps(meta)
    return [HEADER.pack(len(packed), sum(len(part) for part in data)), packed, *data]


def compress_batch(items: list[Item], root: bytes, racy_from_ns: int) -> tuple[Any, list[Any]]:
    """One batch: the reply's ``meta`` and ``data`` parts (see the module's docstring)."""
    records: list[bytes | bytearray] = []
    central: list[bytes] = []
    entries = []
    for item in items:
        produced = _quick(item, root, racy_from_ns)
        if produced is None:  # anything unusual: the general path, and its precise errors
            produced = produce(item_entry(item, root, racy_from_ns), default_open)
        info = produced.info
        assert produced.payload is not None  # a worker is handed files up to WHOLE only
        head = local_header(info)
        records += (head, produced.payload)
        central.append(central_record(*info, 0))
        digest = produced.digest or b""
        entries.append((len(head) + len(produced.payload), *info[1:], digest))
    return (OK, entries), [*records, *central]


def _quick(item: Item, root: bytes, racy_from_ns: int) -> Produced | None:
    """:func:`.reader.produce` for the common case, with less Python and one system call
    less per file: a regular file that needs no digest, which has after one read the
    stat it was selected with (the same size, times and inode: nothing wrote to it since,
    so not during the read either). None for anything else: the caller takes the
    general path, which checks before and after, and says what is wrong."""
    if len(item) != 7 or max(item[2], item[3]) >= racy_from_ns:
        return None
    try:
        fd = os.open(root + item[0], _FLAGS)
    except OSError:
        return None
    try:
        data = os.read(fd, item[1]) if item[1] else b""
        st = os.fstat(fd)
        if len(data) != item[1] or _key(st) != item[1:] or not S_ISREG(st.st_mode):
            return None
    except OSError:
        return None
    finally:
        os.close(fd)
    name, mode = item[0], (0o100755 if st.st_mode & 0o111 else 0o100644)
    crc = crc32(data)
    if data and not wants_store(name):
        packed = deflater().smaller(data)
        if packed is not None:
            return Produced(EntryInfo(name, DEFLATED, crc, len(packed), len(data), mode), packed)
    return Produced(EntryInfo(name, STORED, crc, len(data), len(data), mode), data)


@functools.cache
def deflater() -> Deflater:
    """This process's compressor, for every file (made on first use: the builder imports
    this module for the protocol alone, and so never loads ctypes for it)."""
    from cbdeploy.client.packaging.deflater import Deflater

    return Deflater(LEVEL)


def _key(st: os.stat_result) -> tuple[int, int, int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode)


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    first = read_frame(source)
    if first is None:
        return
    root, racy_from_ns = first[0]
    while (frame := read_frame(source)) is not None:
        try:
            meta, data = compress_batch(frame[0], root, racy_from_ns)
        except PackagingError as error:
            meta, data = (FAILED, error.message, error.hint), []
        except Exception as error:  # noqa: BLE001 - reported to the builder, which raises
            meta, data = (BROKEN, f"{type(error).__name__}: {error}"), []
        for part in frame_parts(meta, data):
            sink.write(part)
        sink.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sink = open(sys.stdout.fileno(), "wb", buffering=1 << 20, closefd=False)  # noqa: SIM115
    sys.stdout = sys.stderr  # nothing else may write to the builder's pipe
    try:
        serve(sys.stdin.buffer, sink)
    except BrokenPipeError:  # the builder is gone (it stopped, or was killed)
        os._exit(0)


if __name__ == "__main__":
    main()
