"""Signals while a command runs: Ctrl-C, SIGTERM (a CI cancel, ``timeout``), SIGHUP.

Before there is a build to stop, :func:`interrupt_on_signals` makes SIGTERM
and SIGHUP end the command as Ctrl-C does (an :class:`Interrupted`, a
KeyboardInterrupt that knows its signal): nothing was started.

From StartBuild on, :class:`Interrupts` decides, and for ``deploy``:

* **Ctrl-C at a terminal**: the first announces that the build will be
  stopped in :data:`WINDOW_SECONDS`; a second within that window leaves the
  build running (:class:`Detach`, no StopBuild). When the window ends,
  StopBuild goes out and the deploy follows the build until it ends; a Ctrl-C
  after that leaves at once.
* **SIGINT without a terminal** (CI), **SIGTERM**, **SIGHUP**: StopBuild at
  once, then follow the build for at most :data:`STOP_BUDGET_SECONDS` (a CI
  runner kills the job about 10 s after its first signal) and leave if it has
  not ended. Another such signal leaves at once.

``logs --follow`` has nothing to stop: any of them leaves at once.

The exit status of a command a signal ended is :func:`exit_code` (128 + the
signal's number, of the last signal received): 130 Ctrl-C, 143 SIGTERM,
129 SIGHUP.

The handlers only record. The actions (announce, stop) run later in
ordinary code, never inside a handler: from :meth:`Interrupts.sleep`, which
the follower sleeps with and which wakes within a tenth of a second, or from
:meth:`Interrupts.check`, which the deploy loop calls between events. Calling
AWS from inside a signal handler could re-enter the very HTTP connection the
main thread is using. Leaving (:class:`Detach`) is raised from the handler,
at once, wherever the main thread is (even in a hung HTTP call); past the
stop budget it is raised by ``check``/``sleep``, or by an alarm when the
main thread is stuck in a call.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

SLICE = 0.1  # seconds: how quickly a sleeping follower notices a signal
WINDOW_SECONDS = 3.0  # at a terminal: from the first Ctrl-C to StopBuild
# From SIGTERM (or a CI's SIGINT) to giving up on seeing the build end. CI
# runners kill about 10 s after their first signal; this leaves time to print
# the outcome and the --json object within 8 s.
STOP_BUDGET_SECONDS = 6.0
ALARM_GRACE = 0.5  # the alarm fires this long after the budget: check/sleep come first
# (SIGHUP and SIGALRM are POSIX's: a platform without them just has fewer signals to handle.)
SIGHUP: int | None = getattr(signal, "SIGHUP", None)
HANDLED = tuple(s for s in (signal.SIGINT, signal.SIGTERM, SIGHUP) if s is not None)


def exit_code(signum: int) -> int:
    """The exit status of a command a signal ended: 128 + its number, as a shell reports it.

    130 for SIGINT (Ctrl-C), 143 for SIGTERM, 129 for SIGHUP. The one place
    this mapping lives.
    """
    return 128 + int(signum)


def signal_name(signum: int | None) -> str | None:
    """``"SIGTERM"`` for 15; None for None."""
    if signum is None:
        return None
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Detach(BaseException):
    """Leave now, without waiting for the build's end (it may go on running)."""


class Interrupted(KeyboardInterrupt):
    """A signal ended the command before there was a build to stop."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_of(error: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: its own for :class:`Interrupted`, else SIGINT."""
    return getattr(error, "signum", signal.SIGINT)


def release_hung_up_terminal(fds: tuple[int, ...] = (1, 2)) -> None:
    """Point each of ``fds`` that is a terminal which hung up at /dev/null.

    After SIGHUP from a closed terminal every write to it fails (EIO), which
    would turn the outcome, and the --json object, into errors; what follows
    goes nowhere instead, and the command still stops the build and exits
    129. A terminal that is still there (``kill -HUP``), a pipe or a file is
    left alone.
    """
    try:
        import termios
    except ImportError:  # (no POSIX terminals here)
        return
    for fd in fds:
        try:
            termios.tcgetattr(fd)
        except termios.error as error:
            if error.args and error.args[0] == errno.EIO:  # a terminal, hung up
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
        except OSError:
            pass


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Interrupted` here (main thread only), as Ctrl-C raises
    KeyboardInterrupt: the command ends through its usual Ctrl-C path, with its message,
    its ``--json`` object and the signal's exit status."""
    if not _main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if signum == SIGHUP:
            release_hung_up_terminal()
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handle) for s in HANDLED if s != signal.SIGINT}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Interrupts:
    """Context manager that installs the handlers for SIGINT, SIGTERM and SIGHUP (main thread).

    ``stop`` (None: nothing to stop, every signal leaves at once) runs once, in
    ordinary code, when the build is to be stopped; ``announce(seconds)`` runs
    once, in ordinary code, after a first Ctrl-C at a terminal (``at_terminal``).
    ``alarm`` arms SIGALRM as a backstop for the stop budget.
    """

    def __init__(
        self,
        stop: Callable[[], None] | None = None,
        *,
        announce: Callable[[float], None] | None = None,
        at_terminal: bool = False,
        window: float = WINDOW_SECONDS,
        budget: float = STOP_BUDGET_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        alarm: bool = True,
    ) -> None:
        self.signum: int | None = None  # the last signal received
        self._stop = stop
        self._announce = announce
        self._at_terminal = at_terminal
        self._window = window
        self._budget = budget
        self._sleep = sleep
        self._clock = clock
        self._alarm = alarm
        self._announce_pending = False
        self._stop_at: float | None = None  # when StopBuild is due
        self._stopped = False  # ``stop`` ran
        self._deadline: float | None = None  # when to give up waiting for the end
        self._previous: dict[int, Any] = {}
        self._alarm_armed = False
        self._closing = False

    def __enter__(self) -> Interrupts:
        if _main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        if self._alarm_armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._alarm_armed = False
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if signum == SIGHUP:
            release_hung_up_terminal()
        self.interrupt(signum)

    # ------------------------------------------------------------------ what a signal does

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """What a signal does (the handler's body; tests call it directly).

        Records and schedules; raises :class:`Detach` when the signal means "leave now".
        """
        first = self.signum is None
        self.signum = signum
        if self._stop is None:
            raise Detach()  # nothing to stop: leave at once
        now = self._clock()
        if signum == signal.SIGINT and self._at_terminal:
            if not first:
                raise Detach()  # within the window: the build goes on; after: already stopping
            self._stop_at = now + self._window
            self._announce_pending = True
            return
        # SIGINT without a terminal, SIGTERM, SIGHUP: stop now, wait a bounded time.
        if self._deadline is not None:
            raise Detach()  # a second one: leave now
        if not self._stopped:  # (a Ctrl-C's window, if any, ends now)
            self._stop_at = now
        self._deadline = now + self._budget
        self._arm_alarm()

    def _arm_alarm(self) -> None:
        if self._alarm and self._previous and hasattr(signal, "setitimer"):  # (main thread)
            self._previous.setdefault(signal.SIGALRM, signal.signal(signal.SIGALRM, self._expired))
            signal.setitimer(signal.ITIMER_REAL, self._budget + ALARM_GRACE)
            self._alarm_armed = True

    def _expired(self, _signum: int, _frame: FrameType | None) -> None:
        self._alarm_armed = False
        if not self._closing:  # (an alarm that fired as the block ended: too late to matter)
            raise Detach()

    # ------------------------------------------------------------------ state

    @property
    def requested(self) -> bool:
        """Whether any signal came."""
        return self.signum is not None

    @property
    def stopping(self) -> bool:
        """Whether the stop ran (the build was asked to stop, or the attempt failed)."""
        return self._stopped

    @property
    def budget(self) -> float | None:
        """How long a stop is waited for after the signal; None: as long as it takes."""
        return None if self._deadline is None else self._budget

    @property
    def out_of_time(self) -> bool:
        """Whether the stop budget has run out (the reason for a :class:`Detach` then)."""
        return self._deadline is not None and self._clock() >= self._deadline

    # ------------------------------------------------------------------ ordinary code

    def check(self) -> None:
        """Run what a signal asked for, if it is due; :class:`Detach` past the stop budget."""
        if self.signum is None:
            return
        if self._announce_pending:
            self._announce_pending = False
            if self._announce is not None:
                self._announce(self._window)
        now = self._clock()
        if self._stop_at is not None and not self._stopped and now >= self._stop_at:
            self._stopped = True
            if self._stop is not None:
                self._stop()
        if self._deadline is not None and self._clock() >= self._deadline:
            raise Detach()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake early to run what a signal asked for."""
        until = self._clock() + seconds
        while True:
            self.check()
            now = self._clock()
            left = until - now
            if left <= 0:
                return
            if self._stopped and self._deadline is None:
                # Nothing more is due: wake no more often than asked.
                self._sleep(left)
                return
            step = min(SLICE, left)
            if self._deadline is not None:
                step = min(step, max(self._deadline - now, 0.0))
            self._sleep(step)
