"""What a door to AWS makes once and keeps: made without the cyclic collector, then frozen.

Importing boto3 and making a client (botocore parses its JSON models: the service's
operations and shapes, its endpoint rules, a megabyte of endpoints for the first) make
hundreds of thousands of objects that live as long as the door, and no garbage to speak
of. The cyclic collector would walk them again and again while they pile up: a third of
the CPU that making a deploy's five clients takes. :func:`made_to_last` pauses it for
the block and then freezes everything made so far (``gc.freeze``), so later collections
(a build followed for hours) never walk the models either. Reference counting still
frees what the block dropped; a cycle it dropped stays until the process ends.
(``packaging.nogc`` does the same for a deploy's tables; ``aws`` may not import it.)
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0  # blocks running now, on any thread
_resume = False  # whether the collector was enabled when the first of them began


@contextmanager
def made_to_last() -> Iterator[None]:
    """No collection while the block runs (threads may run such blocks at once); then
    what exists is frozen and the collector resumes if it ran before the first block."""
    global _paused, _resume
    with _lock:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0:
                gc.freeze()
                if _resume:
                    gc.enable()
