"""A build's output, written to moto's CloudWatch Logs the way CodeBuild writes it.

Each printed line becomes one log event whose message ends with a newline, as
CodeBuild's do. Lines are buffered and flushed every ``flush_interval``
seconds by a background thread, so a line is readable through GetLogEvents
well within a second. Timestamps never go backwards, so events stay in order
even when many share one millisecond.

A line longer than CloudWatch's event limit (256 KB, 262,144 bytes including
26 bytes of overhead per event) is cut into events of the limit's size, on
UTF-8 character boundaries, marking nothing: only the last piece ends with the
newline. That is what CodeBuild's log shows for such a line (a 600 KB line
arrives as three events; its documentation says nothing on the matter); the
client's follower joins the pieces again (``client/watch/follow.py``). A line that
goes on without a newline for longer than :attr:`LineSplitter.MAX_PENDING` is
sent on in such pieces as it comes, so it too is one line for the follower.

As CodeBuild does, every line (its own ``[Container]`` lines, ``Running
command`` included) has the build's secret values and AWS access key ids
replaced with ``***`` before it is written (:class:`Masker`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from cbdeploy.emulator import backends

logger = logging.getLogger(__name__)

# CloudWatch Logs: 256 KiB per event including 26 bytes of overhead.
MAX_EVENT_BYTES = 256 * 1024 - 26
MAX_BATCH_BYTES = 1_048_576
MAX_BATCH_EVENTS = 10_000


MASK = "***"
# Long-term (AKIA) and temporary (ASIA) access key ids.
ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
MIN_LINE = 4  # lines of a multi-line secret shorter than this are not masked alone


class Masker:
    """Replaces secret values with ``***`` in each line, as CodeBuild does in its logs.

    CodeBuild hides "AWS access key IDs" and the strings of Parameter Store and
    Secrets Manager variables (the note in the CodeBuild User Guide's "About
    AWS CodeBuild log file entries"), wherever they appear in a line. The log
    is written line by line, so each line of a multi-line value is masked too.
    """

    def __init__(self) -> None:
        self._forms: list[str] = []
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        parts = [value]
        if "\n" in value:
            parts += [line for line in value.splitlines() if len(line.strip()) >= MIN_LINE]
        with self._lock:
            forms = set(self._forms) | {p for p in parts if p}
            # Longest first, so a secret that contains another is masked whole.
            self._forms = sorted(forms, key=lambda f: (-len(f), f))

    def __call__(self, line: str) -> str:
        for form in self._forms:
            if form in line:
                line = line.replace(form, MASK)
        return ACCESS_KEY_ID.sub(MASK, line)


def container_line(text: str, now: float) -> str:
    """``[Container] 2026/11/28 02:00:00.123456 text``: CodeBuild's own lines."""
    stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y/%m/%d %H:%M:%S.%f")
    return f"[Container] {stamp} {text}"


def split_message(message: str, limit: int = MAX_EVENT_BYTES) -> list[str]:
    """Split ``message`` into pieces of at most ``limit`` UTF-8 bytes, on character boundaries."""
    data = message.encode("utf-8")
    if len(data) <= limit:
        return [message]
    pieces = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        # Back off to the start of a UTF-8 character.
        while end < len(data) and end > start and (data[end] & 0xC0) == 0x80:
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


class BuildLog:
    """The log stream of one build. ``write`` is thread-safe; ``close`` flushes the rest."""

    def __init__(
        self,
        region: str,
        group: str | None,
        stream: str | None,
        *,
        clock: Callable[[], float] = time.time,
        flush_interval: float = 0.15,
    ) -> None:
        self.region = region
        self.group = group
        self.stream = stream
        self._clock = clock
        self._interval = flush_interval
        self._pending: list[dict[str, object]] = []
        self._last_ms = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.mask = Masker()

    @property
    def enabled(self) -> bool:
        return self.group is not None and self.stream is not None

    def open(self) -> None:
        """Create the group (when missing) and the stream, then start flushing."""
        if not self.enabled:
            return
        backend = backends.logs(self.region)
        if self.group not in backend.groups:
            backend.ensure_log_group(self.group)
        backend.create_log_stream(self.group, self.stream)
        self._thread = threading.Thread(target=self._run, name=f"logs {self.stream}", daemon=True)
        self._thread.start()

    def container(self, text: str) -> None:
        self.write(container_line(text, self._clock()))

    def write(self, line: str) -> None:
        """Queue one line (without its newline) as one or more events."""
        if not self.enabled:
            return
        with self._lock:
            ms = max(int(self._clock() * 1000), self._last_ms)
            self._last_ms = ms
            pieces = split_message(self.mask(line) + "\n")
            self._pending.extend({"timestamp": ms, "message": p} for p in pieces)

    def write_piece(self, text: str) -> None:
        """Queue a piece of a line (no newline added): the next write continues the line."""
        if not self.enabled:
            return
        with self._lock:
            ms = max(int(self._clock() * 1000), self._last_ms)
            self._last_ms = ms
            # (A piece that held a secret comes out shorter: the line breaks there.)
            pieces = split_message(self.mask(text))
            self._pending.extend({"timestamp": ms, "message": p} for p in pieces)

    def flush(self) -> None:
        if not self.enabled:
            return
        with self._flush_lock:
            with self._lock:
                events, self._pending = self._pending, []
            for batch in _batches(events):
                self._put(batch)

    def _put(self, batch: list[dict[str, object]]) -> None:
        backend = backends.logs(self.region)
        try:
            backend.put_log_events(self.group, self.stream, batch)
        except Exception as error:
            if type(error).__name__ != "ResourceNotFoundException":
                raise
            # Someone deleted the group or stream (or reset moto) mid-build: recreate it,
            # as the CodeBuild agent would keep writing.
            backend.ensure_log_group(self.group)
            if self.stream not in backend.groups[self.group].streams:
                backend.create_log_stream(self.group, self.stream)
            backend.put_log_events(self.group, self.stream, batch)

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._closed.wait(self._interval):
            try:
                self.flush()
            except Exception:  # keep flushing later batches; a lost batch must not stop the build
                logger.exception("writing build logs to %s %s failed", self.group, self.stream)


def _batches(events: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    batches: list[list[dict[str, object]]] = []
    current: list[dict[str, object]] = []
    size = 0
    for event in events:
        event_size = len(str(event["message"]).encode("utf-8")) + 26
        if current and (size + event_size > MAX_BATCH_BYTES or len(current) >= MAX_BATCH_EVENTS):
            batches.append(current)
            current, size = [], 0
        current.append(event)
        size += event_size
    if current:
        batches.append(current)
    return batches


class LineSplitter:
    """Turns a command's output bytes into lines for a :class:`BuildLog`.

    A line without its newline is kept until more output comes or
    :meth:`finish` hands it over (at the end of each command).
    """

    MAX_PENDING = 4 * MAX_EVENT_BYTES

    def __init__(self, log: BuildLog) -> None:
        self._log = log
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            self._log.write(line.decode("utf-8", "replace"))
        while len(self._pending) > self.MAX_PENDING:
            # Pieces of the event limit's size, as CodeBuild cuts a long line.
            cut = MAX_EVENT_BYTES
            while cut > 0 and (self._pending[cut] & 0xC0) == 0x80:
                cut -= 1
            self._log.write_piece(self._pending[:cut].decode("utf-8", "replace"))
            self._pending = self._pending[cut:]

    def finish(self) -> None:
        if self._pending:
            self._log.write(self._pending.decode("utf-8", "replace"))
            self._pending = b""
