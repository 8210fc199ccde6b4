"""Whether the user is there to answer: a question, or a second Ctrl-C, needs a terminal.

A leaf module, so that the deploy service (which decides whether it may ask)
and the output layer (which asks) both import it from below.
"""

from __future__ import annotations

import sys
from typing import TextIO


def stdin_is_terminal(stream: TextIO | None = None) -> bool:
    """Whether a question can be asked: standard input (or ``stream``) is a terminal."""
    stream = stream if stream is not None else sys.stdin
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # closed
        return False
