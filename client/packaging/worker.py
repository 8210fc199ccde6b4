"""A packaging worker process: reads and deflates batches of files for the archive.

Started by :mod:`.workers` as a fresh ``python -I`` that runs :func:`main` (no
``fork``, so the same on macOS as on Linux). Reading and
deflating a small file costs a few µs of Python besides the system calls and the
deflate itself; in a process of its own that work does not queue for the archive
builder's interpreter lock. It loads little (no :mod:`typing`, :mod:`hashlib` or
:mod:`signal`: those cost a worker's start more than a hundred files' work), and
the general path of :mod:`.reader` only for the entry that needs it.

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

The worker runs in a session of its own (:mod:`.workers` starts it so): Ctrl-C at
the terminal reaches the builder alone, which decides (it kills its workers).
End of input ends the worker.
"""

from __future__ import annotations

import marshal
import os
import struct
import sys
from operator import attrgetter

from deflate import crc32

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging.deflater import LEVEL, wants_store
from cbdeploy.client.packaging.zipformat import DEFLATED, STORED, central_record, records_into

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing; mypy knows the name)
if TYPE_CHECKING:
    from typing import IO, Any

    from cbdeploy.client.packaging.deflater import Deflater
    from cbdeploy.client.packaging.reader import Item

HEADER = struct.Struct("<II")
_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # as .reader.default_open
_KEY = attrgetter("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino", "st_dev", "st_mode")
_LOCAL_FIXED = 30  # a local header's size before its name (no extra field in a worker's)
_IS_REG = 0o170000, 0o100000  # S_IFMT mask, S_IFREG
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
    """One batch: the reply's ``meta`` and ``data`` parts (see the module's docstring).

    The records are written into the compressor's buffer (:meth:`.Deflater.reserve`),
    each file deflated straight into its place after its header: per file, no bytes
    object for the compressed data or the header, and one part for the whole batch."""
    compressor = deflater()
    bound = sum(_LOCAL_FIXED + len(item[0]) + _size(item) for item in items)
    buffer = compressor.reserve(bound)
    into = compressor.into
    central: list[bytes] = []
    entries = []
    at = 0
    for item in items:
        name = item[0]
        data = key = None
        if len(item) == 7 and item[2] < racy_from_ns and item[3] < racy_from_ns:
            key = item[1:]
            data = _read(root + name, key)
        if data is None or key is None:  # anything unusual: the general path, and its precise errors
            at, entry = _general(item, root, racy_from_ns, buffer, at)
            central.append(central_record(name, *entry[1:6], 0))
            entries.append(entry)
            continue
        size, crc = len(data), crc32(data)
        start = at + _LOCAL_FIXED + len(name)
        csize = into(data, start) if data and not wants_store(name) else 0
        method = DEFLATED if csize else STORED
        if not csize:
            buffer[start : start + size] = data
            csize = size
        mode = 0o100755 if key[5] & 0o111 else 0o100644
        central.append(records_into(buffer, at, name, method, crc, csize, size, mode))
        entries.append((start + csize - at, method, crc, csize, size, mode, b""))
        at = start + csize
    return (OK, entries), [memoryview(buffer)[:at], b"".join(central)]


def _size(item: Item) -> int:
    return len(item[2]) if len(item) == 4 else item[1]


def _read(path: bytes, key: tuple[int, int, int, int, int, int]) -> bytes | None:
    """The content of a regular file that needs no digest, if after one read it has the
    stat it was selected with (``key``: its item's) (the same size, times and inode: nothing wrote to it
    since, so not during the read either); None for anything else, which the caller
    takes the general path for (it checks before and after, and says what is wrong).
    One system call less per file than the general path."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError:
        return None
    try:
        data = os.read(fd, key[0]) if key[0] else b""
        same = _KEY(os.fstat(fd)) == key and len(data) == key[0]
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if same and key[5] & _IS_REG[0] == _IS_REG[1] else None


def _general(
    item: Item, root: bytes, racy_from_ns: int, buffer: bytearray, at: int
) -> tuple[int, tuple[int, int, int, int, int, int, bytes]]:
    """An entry by :func:`.reader.produce` (a link, an added entry, a racy file, or
    anything :func:`_read` refused), put in ``buffer`` at ``at``: where it ends, and
    its entry for the reply."""
    from cbdeploy.client.packaging.reader import default_open, item_entry, produce
    from cbdeploy.client.packaging.zipformat import local_header

    produced = produce(item_entry(item, root, racy_from_ns), default_open)
    assert produced.payload is not None  # a worker is handed entries up to WHOLE only
    head, payload, info = local_header(produced.info), produced.payload, produced.info
    end = at + len(head) + len(payload)
    buffer[at:end] = head + payload
    return end, (end - at, *info[1:], produced.digest or b"")


_deflater: list[Deflater] = []


def deflater() -> Deflater:
    """This process's compressor, for every file (made on first use: the builder imports
    this module for the protocol alone, and so never loads ctypes for it)."""
    if not _deflater:
        from cbdeploy.client.packaging.deflater import Deflater

        _deflater.append(Deflater(LEVEL))
    return _deflater[0]


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
    import gc

    gc.disable()  # a batch makes tuples, never cycles: nothing for a collection to free
    sink = open(sys.stdout.fileno(), "wb", buffering=1 << 20, closefd=False)  # noqa: SIM115
    sys.stdout = sys.stderr  # nothing else may write to the builder's pipe
    try:
        serve(sys.stdin.buffer, sink)
    except BrokenPipeError:  # the builder is gone (it stopped, or was killed)
        os._exit(0)


if __name__ == "__main__":
    main()
