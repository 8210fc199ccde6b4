"""The archive builder's worker processes (see :mod:`.worker` for what one does).

They are whole new interpreters (``python -I -S``, running :func:`.worker.main`),
never forked: ``fork`` is unavailable or unsafe on some systems (macOS), and a
process that runs threads must not fork. Starting one costs about 50 ms of one
core, paid while the files are selected when the caller starts them early
(:func:`start_workers` before :func:`~.select.select_files`). A batch is handed
to the worker with the least work queued, as a list of paths and stats, never
file contents; a thread per worker reads its replies, so a worker never waits
for the builder to want its batch. Results are taken in the order the batches
were handed out. A worker that dies is a :class:`PackagingError`; :meth:`Workers.close`
kills them all at once after an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import queue
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable
from functools import partial
from itertools import accumulate, repeat
from operator import add, itemgetter
from pathlib import Path
from typing import IO, Any

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.interpreter import helper_command
from cbdeploy.client.packaging.cache import INDEX
from cbdeploy.client.packaging.reader import Item
from cbdeploy.client.packaging.table import NO_DIGEST
from cbdeploy.client.packaging.worker import BROKEN, FAILED, frame_parts, read_frame
from cbdeploy.client.packaging.writer import Output
from cbdeploy.client.packaging.zipformat import LIMIT_32, central_record

MAIN = "from cbdeploy.client.packaging.worker import main; main()"

Reply = tuple[Any, bytes]  # (meta, data) of a worker's frame, see .worker
_CENTRAL_FIXED = 46  # a central record's size before its name (no extra field)
_OFFSET_AT = 42  # where its local header's offset is
_OFFSET = struct.Struct("<I")
_FIRST = itemgetter(0)


class _Process:
    __slots__ = (
        "popen",
        "stdin",
        "queued",
        "tickets",
        "thread",
        "sender",
        "outbox",
        "stderr",
        "gone",
    )

    def __init__(self, popen: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        self.popen = popen
        assert popen.stdin is not None
        self.stdin = popen.stdin
        self.stderr = stderr
        self.queued = 0  # bytes handed out and not yet replied to
        self.tickets: deque[tuple[int, int]] = deque()  # (ticket, bytes) awaiting a reply
        self.thread: threading.Thread | None = None  # reads its replies
        self.sender: threading.Thread | None = None  # writes its requests from the outbox
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.gone: str | None = None  # why it ended, once its replies ended


class Workers:
    """``jobs`` worker processes; :meth:`begin` once, then :meth:`submit` and :meth:`result`."""

    def __init__(self, jobs: int, command: list[str] | None = None) -> None:
        import tempfile

        self._cond = threading.Condition()
        self._replies: dict[int, Reply] = {}
        self._dead: dict[int, str] = {}  # ticket -> why its worker is gone
        self._dropped: set[int] = set()  # tickets whose replies nobody will take
        self._next = 0
        self._closed = False
        self._processes: list[_Process] = []
        argv = command or worker_command()
        try:
            for _ in range(jobs):
                stderr = tempfile.TemporaryFile(prefix="cbdeploy-worker-")  # noqa: SIM115
                # A session of its own: the terminal's Ctrl-C reaches the builder alone,
                # which decides (the worker need not load signal to ignore it).
                popen = subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                    start_new_session=True,
                )
                self._processes.append(_Process(popen, stderr))
        except BaseException:
            self.close(kill=True)
            raise

    @property
    def jobs(self) -> int:
        return len(self._processes)

    @property
    def handed(self) -> int:
        """How many batches were handed out."""
        return self._next

    @property
    def held(self) -> int:
        """How many replies came and wait to be taken."""
        with self._cond:
            return len(self._replies)

    @property
    def pids(self) -> list[int]:
        return [process.popen.pid for process in self._processes]

    def begin(self, root: bytes, racy_from_ns: int) -> None:
        """Tell every worker the project root and the racy bound (see ``item_entry``)."""
        for process in self._processes:
            process.outbox.put(b"".join(frame_parts((root, racy_from_ns), [])))
            process.sender = threading.Thread(
                target=_send, args=(process,), name="cbdeploy-worker-sender", daemon=True
            )
            process.thread = threading.Thread(
                target=self._read, args=(process,), name="cbdeploy-worker-reader", daemon=True
            )
            process.sender.start()
            process.thread.start()

    def submit(self, items: list[Item], size: int) -> int:
        """Hand a batch (``size``: its bytes, to balance the load) to the least busy worker."""
        with self._cond:
            process = min(self._processes, key=lambda p: (p.gone is not None, p.queued))
            ticket = self._next
            self._next += 1
            if process.gone is not None:
                self._dead[ticket] = process.gone
                return ticket
            process.queued += size
            process.tickets.append((ticket, size))
        process.outbox.put(b"".join(frame_parts(items, [])))  # never blocks this thread
        return ticket

    def result(self, ticket: int, timeout: float | None) -> Reply | None:
        """The reply to ``ticket``, or None if none came within ``timeout`` seconds."""
        with self._cond:
            if ticket not in self._replies and ticket not in self._dead:
                self._cond.wait(timeout)
            if ticket in self._dead:
                raise PackagingError(
                    f"A packaging worker process stopped unexpectedly ({self._dead[ticket]}).",
                    "Package again; if it happens again, report it with this message.",
                )
            reply = self._replies.pop(ticket, None)
        if reply is None:
            return None
        meta = reply[0]
        if meta[0] == FAILED:
            raise PackagingError(meta[1], meta[2])
        if meta[0] == BROKEN:
            raise PackagingError(
                f"A packaging worker process failed: {meta[1]}",
                "Package again; if it happens again, report it with this message.",
            )
        return reply

    def discard(self, ticket: int) -> None:
        """Nobody will take ``ticket``'s reply: drop it now or when it comes."""
        with self._cond:
            if self._replies.pop(ticket, None) is None and self._dead.pop(ticket, None) is None:
                self._dropped.add(ticket)

    def close(self, *, kill: bool = False) -> None:
        """End the workers: at once with ``kill`` (an error, Ctrl-C), else once idle."""
        self._closed = True
        for process in self._processes:
            if kill:
                process.popen.kill()  # a sender blocked on its full pipe fails then
            process.outbox.put(None)
        for process in self._processes:
            if process.sender is not None:
                process.sender.join()
            with contextlib.suppress(OSError):  # it died: its pipe is broken
                process.stdin.close()
        for process in self._processes:
            try:
                process.popen.wait(timeout=None if kill else 10)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
            if process.thread is not None:
                process.thread.join()
            if process.popen.stdout is not None:
                process.popen.stdout.close()
            process.stderr.close()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._closed:
            self.close(kill=True)

    def _read(self, process: _Process) -> None:
        stdout = process.popen.stdout
        assert stdout is not None
        while True:
            try:
                frame = read_frame(stdout)
            except (OSError, ValueError, EOFError):
                frame = None
            with self._cond:
                if frame is None:
                    why = process.gone = self._why(process)
                    self._dead.update((ticket, why) for ticket, _ in process.tickets)
                    process.tickets.clear()
                    self._cond.notify_all()
                    return
                ticket, size = process.tickets.popleft()
                process.queued -= size
                if ticket in self._dropped:
                    self._dropped.discard(ticket)
                else:
                    self._replies[ticket] = frame
                self._cond.notify_all()

    def _why(self, process: _Process) -> str:
        if self._closed:
            return "stopped"
        code = process.popen.wait()
        process.stderr.seek(0)
        lines = process.stderr.read().decode("utf-8", "replace").strip().splitlines()
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return f"{how}: {lines[-1]}" if lines else how


def _send(process: _Process) -> None:
    """A worker's requests, written in order on a thread of their own: a worker whose
    pipe is full (it has work queued) never holds up the builder."""
    while (frame := process.outbox.get()) is not None:
        try:
            process.stdin.write(frame)
            process.stdin.flush()
        except OSError:
            return  # it died: its reader thread reports why, to whoever waits for it


def has_cache(cache_dir: Path) -> bool:
    """Whether a build with ``cache_dir`` may find records to copy (else it is cold)."""
    return (cache_dir / INDEX).is_file()


def worker_command(code: str = MAIN) -> list[str]:
    """A worker's command line (see :mod:`client.interpreter`), running ``code``."""
    return helper_command(code)


def start_workers(jobs: int | None = None) -> Workers | None:
    """Start worker processes ahead of a build (None: one core, or they cannot start)."""
    jobs = jobs or os.cpu_count() or 1
    if jobs < 2 or not sys.executable:
        return None
    try:
        return Workers(jobs)
    except OSError:
        return None


def write_reply(out: Output, items: list[Item], reply: Reply, *, keep_rows: bool) -> None:
    """Write a worker's batch to ``out``: its records as they came, its central records
    with the records' offsets put in (one block, patched in place; rebuilt one by one
    where the offsets need ZIP64), and with ``keep_rows`` the cache's rows for the
    files from disk."""
    entries, data = reply[0][1], reply[1]
    lengths = list(map(_FIRST, entries))
    size = sum(lengths)
    base = out.offset
    view = memoryview(data)
    out.write(view[:size])
    offsets = list(accumulate(lengths[:-1], initial=base))
    central_at = out.central_size
    if base + size < LIMIT_32:
        central = bytearray(view[size:])
        fields = accumulate(
            map(add, map(len, map(_FIRST, items[:-1])), repeat(_CENTRAL_FIXED)),
            initial=_OFFSET_AT,
        )
        deque(map(partial(_OFFSET.pack_into, central), fields, offsets), maxlen=0)
        out.add_central(central, len(entries))
        starts: Iterable[int] = accumulate(
            map(add, map(len, map(_FIRST, items[:-1])), repeat(_CENTRAL_FIXED)),
            initial=central_at,
        )
    else:
        starts = []
        for item, entry, offset in zip(items, entries, offsets, strict=True):
            starts.append(out.central_size)
            method, crc, csize, usize, mode = entry[1:6]
            out.add_central(central_record(item[0], method, crc, csize, usize, mode, offset))
    if keep_rows:
        add_row = out.table.add
        for item, entry, offset, at in zip(items, entries, offsets, starts, strict=True):
            if len(item) == 7:
                add_row(item[0], (*item[1:], offset, *entry[:6], entry[6] or NO_DIGEST), at)
