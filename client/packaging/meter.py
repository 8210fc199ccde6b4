"""Bytes read so far by the compressing threads, and the flag that stops them.

Progress counts bytes, not files: a 150 MB file moves the bar while it is read,
chunk by chunk, instead of freezing it at one file. The same ticks are where a
worker notices that the build was cancelled (Ctrl-C in the main thread): it
stops within one chunk (:data:`~.reader.CHUNK`) or one small file, so the
interrupt acts at once instead of after every batch in flight is compressed.
"""

from __future__ import annotations

import threading


class Cancelled(Exception):
    """Raised in a worker that ticks after :meth:`Meter.cancel` (the caller stops)."""


class Meter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = 0
        self._cancelled = False

    def tick(self, size: int) -> None:
        """``size`` more bytes were read; raises :class:`Cancelled` once cancelled."""
        if self._cancelled:
            raise Cancelled
        with self._lock:
            self._done += size

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def done(self) -> int:
        return self._done
