"""The renderer's ways of writing a line: ok, warning, note, label rows, remote text.

Everything goes through a rich ``Console`` passed in. Remote text (build
logs) is written with markup and highlighting off and without the control
sequences that could act on the terminal (``client.output.text``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

from cbdeploy.client.output.live import LiveDisplay
from cbdeploy.client.output.text import plain_text, terminal_text


class Lines:
    """One console and its one live display (bars and spinners, on a live terminal only)."""

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.live = LiveDisplay(console, clock)

    @property
    def spinning(self) -> bool:
        """Whether a running build is shown by a live spinner here (no heartbeat lines then)."""
        return self.console.is_interactive  # (a colour CI log, FORCE_COLOR, has none)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        # Never hard-wrap: ids and commands must stay copyable; the terminal wraps.
        kwargs.setdefault("soft_wrap", True)
        self.console.print(*objects, **kwargs)

    def ok(self, text: str) -> None:
        self.print(Text.assemble(("✓ ", "green"), text))

    def warn(self, text: str) -> None:
        self.print(Text.assemble(("! ", "yellow bold"), (text, "yellow")))

    def note(self, text: str) -> None:
        self.print(Text("  " + text, style="dim"))

    def rows(self, rows: Iterable[tuple[str, str | Text]]) -> None:
        for label, value in rows:
            shown = value if isinstance(value, Text) else Text(value, style="cyan")
            self.print(Text.assemble(f"  {label + ':':<10}", shown))

    def remote(self, message: str, style: str | None = None) -> None:
        # No markup, no highlighting, no wrapping, and no control sequence that
        # could act on the terminal (client.output.text): at a terminal SGR
        # colours stay and a carriage return starts a new line; in plain output
        # (--json's stderr, a pipe, a CI log) no sequence stays and carriage
        # returns are kept, so the text is the build's, byte for byte otherwise.
        terminal = self.console.is_terminal
        if terminal:
            text = terminal_text(message, colours=self.console.color_system is not None)
        else:
            text = plain_text(message)
        if not terminal or (style is None and not self.live.active):
            # The common case, in bursts of thousands: written as it is (rich
            # would drop carriage returns and turn tabs into spaces).
            self.console.file.write(text + "\n")
            self.console.file.flush()
            return
        self.console.out(text, style=style, highlight=False)

    def close(self) -> None:
        """Take down a live progress bar or spinner (also on an error or a Ctrl-C)."""
        self.live.stop()
