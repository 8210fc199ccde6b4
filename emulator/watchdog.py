"""Builds die with the emulator, however the emulator ends, SIGKILL included.

The emulator stops its builds when it is told to stop (Ctrl-C, SIGTERM,
SIGHUP, the end of ``--local``), but a process killed outright runs no
cleanup: its builds' shells, each in a process group of its own, would go on
under PID 1 and their work directories stay in the temp folder.

So the first build starts a small watchdog process (this interpreter,
isolated, in a session of its own so that a terminal's signals do not reach
it). It reads the emulator's notes on a pipe: process groups and work
directories as they come and go. The write end lives in the emulator only
(not inherited by builds), so when the emulator dies the watchdog reads EOF,
kills every group still listed and removes every directory still listed.
A pipe is used rather than ``PR_SET_PDEATHSIG``: that fires when the *thread*
that started a child ends, is lost by grandchildren, and is Linux-only.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

logger = logging.getLogger(__name__)

_SOURCE = r"""
import os, shutil, signal, sys, time
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
groups, dirs = set(), set()
for line in sys.stdin.buffer:
    op, _, arg = line.rstrip(b"\n").partition(b" ")
    if op == b"+g": groups.add(int(arg))
    elif op == b"-g": groups.discard(int(arg))
    elif op == b"+d": dirs.add(os.fsdecode(arg))
    elif op == b"-d": dirs.discard(os.fsdecode(arg))
def signal_all(sig):
    for group in groups:
        try:
            os.killpg(group, sig)
        except OSError:
            pass
if groups:
    signal_all(signal.SIGTERM)
    time.sleep(0.5)
    signal_all(signal.SIGKILL)
for path in dirs:
    shutil.rmtree(path, ignore_errors=True)
"""


class Watchdog:
    """The emulator's side of the pipe. Every method is thread-safe and never raises."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._write_fd: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def group_started(self, group: int) -> None:
        self._send(f"+g {group}\n".encode())

    def groups_ended(self, groups: list[int]) -> None:
        self._send(b"".join(f"-g {g}\n".encode() for g in groups))

    def dir_created(self, path: str) -> None:
        self._send(b"+d " + os.fsencode(path) + b"\n")

    def dir_removed(self, path: str) -> None:
        self._send(b"-d " + os.fsencode(path) + b"\n")

    def _send(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            try:
                fd = self._ensure_started()
                os.write(fd, data)  # small writes to a pipe are atomic
            except OSError:
                logger.warning("the build watchdog is gone; builds may outlive a killed emulator")

    def _ensure_started(self) -> int:
        if self._write_fd is not None:
            return self._write_fd
        read_fd, write_fd = os.pipe()  # not inheritable: builds never hold the write end
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _SOURCE],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        self._write_fd = write_fd
        return write_fd


WATCHDOG = Watchdog()
