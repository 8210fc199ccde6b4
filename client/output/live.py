"""The one live display the renderer may have: a progress bar or a phase's spinner.

Only on an interactive console (``console.is_interactive``: a real terminal,
see ``client.output.console``); elsewhere every method does nothing, so a CI log
never holds a redraw. Transient: a finished display leaves no trace, the
renderer's summary line takes its place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress


class LiveDisplay:
    """``clock`` (seconds) times the spinner; tests pass a fake one."""

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.clock = clock
        self._progress: Progress | None = None
        self._task: Any = None
        self._kind = ""

    def packaging(self, done: int, total: int) -> None:
        """Bytes of content packaged of all (a large file moves the bar as it is read)."""
        if self._kind != "packaging":
            self._start("packaging", total=total)
        self._update(done, total)

    def upload(self, total: int) -> None:
        """Bytes sent, rate and time left; :meth:`uploaded` moves it on."""
        self._start("upload", total=total)

    def uploaded(self, done: int, total: int) -> None:
        if self._kind == "upload":
            self._update(done, total)

    def spinner(self, label: str, running: float = 0.0) -> None:
        """Something running with nothing to show (yet), and for how long: ``running`` so far."""
        self._start("spinner", total=None, label=label, since=running)

    @property
    def active(self) -> bool:
        """A bar or spinner is on screen: output must go through rich to stay above it."""
        return self._progress is not None

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress, self._kind = None, ""

    def _start(self, kind: str, *, total: int | None, label: str = "", **fields: Any) -> None:
        self.stop()
        if not self.console.is_interactive:
            return
        from cbdeploy.client.output.bars import progress  # (rich.progress: only here)

        self._progress = progress(kind, label, self.console, self.clock)
        self._task = self._progress.add_task("", total=total, **fields)
        self._kind = kind
        self._progress.start()

    def _update(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)
