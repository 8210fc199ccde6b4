"""Ctrl-C sent to a running cbdeploy subprocess at a chosen moment, and how long it took to end."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable


def interrupt_when(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    what: str,
    just_before: Callable[[], None] = lambda: None,
) -> float:
    """Wait until ``ready()`` (the process still running), 0.3 s more, call ``just_before``,
    send SIGINT: the seconds the process took to exit. It is killed if anything fails."""
    try:
        deadline = time.monotonic() + 30
        while not ready():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"never {what}"
            time.sleep(0.01)
        time.sleep(0.3)  # well into what it is doing
        just_before()
        assert proc.poll() is None, f"it ended before the interrupt: {what}"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        return time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
