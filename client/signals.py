"""Ctrl-C while a remote build runs: the first asks, the second leaves.

The SIGINT handler only counts. The action the first Ctrl-C asks for (stop
the remote build) runs later in ordinary code, never inside the handler:
from :meth:`Interrupts.sleep`, which the follower sleeps with and which wakes
within a tenth of a second, or from :meth:`Interrupts.check`, which the
deploy loop calls between events. Calling AWS from inside a signal handler
could re-enter the very HTTP connection the main thread is using.

The Ctrl-C that reaches ``detach_after`` raises :class:`Detach` from the
handler, at once, wherever the main thread is (even in a hung HTTP call).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

SLICE = 0.1  # seconds: how quickly a sleeping follower notices a Ctrl-C


class Detach(BaseException):
    """The user pressed Ctrl-C again: leave the build running and exit now."""


class Interrupts:
    """Context manager that installs the SIGINT handler (main thread only).

    ``on_first`` runs once, in ordinary code, after the first Ctrl-C.
    ``detach_after``: the Ctrl-C that raises :class:`Detach` (2 for deploy,
    1 for ``logs --follow``, which has nothing to stop).
    """

    def __init__(
        self,
        on_first: Callable[[], None] | None = None,
        *,
        detach_after: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.count = 0
        self._on_first = on_first
        self._handled = False
        self._detach_after = detach_after
        self._sleep = sleep
        self._clock = clock
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.interrupt()

    def interrupt(self) -> None:
        """What a Ctrl-C does; also callable directly (tests, other signals)."""
        self.count += 1
        if self.count >= self._detach_after:
            raise Detach()

    @property
    def requested(self) -> bool:
        return self.count > 0

    def check(self) -> None:
        """Run the first Ctrl-C's action if it is pending."""
        if self.count and not self._handled:
            self._handled = True
            if self._on_first is not None:
                self._on_first()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake early to run a pending Ctrl-C action."""
        deadline = self._clock() + seconds
        while True:
            self.check()
            left = deadline - self._clock()
            if left <= 0:
                return
            if self.count and self._handled:
                # Already acted: wake no more often than needed.
                self._sleep(left)
                return
            self._sleep(min(SLICE, left))
