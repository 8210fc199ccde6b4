"""A command run at a real pseudo-terminal (stdlib ``pty``), as at a user's shell.

The pty is the command's stdin, stdout and stderr (stdout may go elsewhere,
as with ``> file``) and its controlling terminal, so a ^C written to it is a
SIGINT to the command, and closing it is a SIGHUP.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import termios
import time
from pathlib import Path
from typing import Any


def _own_terminal() -> None:
    """In the child: make the pty its controlling terminal, so ^C there is a SIGINT to it,
    and undo an inherited 'ignore SIGINT' (what a shell gives background jobs)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """``argv`` running with a pseudo-terminal as stdin, stdout (unless given) and stderr."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: Path, stdout: Any = None
    ) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=stdout or slave, stderr=slave, env=env, cwd=cwd,
            close_fds=True, start_new_session=True, preexec_fn=_own_terminal,
        )
        os.close(slave)
        self.seen = ""

    def _read(self, deadline: float) -> bool:
        """Read what is there; False at the end of output."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: every writer of the terminal is gone
            return False
        self.seen += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(data)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first match of the regular expression ``pattern`` (multiline) in all output."""
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.seen, re.MULTILINE)) is None:
            assert time.monotonic() < deadline and self._read(deadline), (pattern, self.seen)
        return found

    def expect(self, text: str, timeout: float = 30.0) -> None:
        """Wait until ``text`` has been written since the last expect(), and consume it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < deadline and self._read(deadline), (text, self.seen)
        self.seen = self.seen[self.seen.index(text) + len(text) :]

    def wait_until_reading(self, timeout: float = 10.0) -> None:
        """Wait until the command is blocked reading the terminal.

        A prompt's last character is written just before input() reads: a ^C in
        between is a SIGINT that Python notes while no read is under way to be
        interrupted, so the read then blocks for good. A user is never that
        fast; a test is, one time in four under load.
        """
        wchan = Path(f"/proc/{self.process.pid}/wchan")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if wchan.read_text() in {"wait_woken", "n_tty_read"}:
                    return
            except OSError:  # no /proc here: give it the time a user would
                time.sleep(0.5)
                return
            time.sleep(0.01)

    def answer(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")  # the terminal turns it into a SIGINT

    def close(self) -> None:
        """The terminal window is closed: the kernel sends SIGHUP, writes to it fail."""
        os.close(self.master)

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        """Read to the end of output; the exit status and all output since the last expect()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline):
            pass
        os.close(self.master)
        return self.process.wait(timeout=5), self.seen
