"""Where the follower is in one log stream, and how CloudWatch's events become lines.

CloudWatch takes events of at most 256 KB, so CodeBuild writes a longer line as
several events, cut at the limit; only the last piece ends with the line's
newline. :func:`is_split_piece` recognises the pieces and :func:`joined` makes
one line of them again (see ``client.watch.follow``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cbdeploy.client.aws.results import LogEvent
from cbdeploy.client.watch.events import LogLine, MarkerEvent
from cbdeploy.client.watch.markers import MarkerReader

# CloudWatch Logs' largest event: 256 KB including 26 bytes of overhead. CodeBuild
# cuts a longer line into events of this size (less up to 3 bytes of a UTF-8
# character that did not fit), all but the last without a newline.
MAX_EVENT_BYTES = 256 * 1024 - 26
SPLIT_PIECE_BYTES = MAX_EVENT_BYTES - 3


def strip_newline(message: str) -> str:
    """Drop the one line ending CodeBuild leaves on each event, nothing else."""
    if message.endswith("\n"):
        message = message[:-1]
    if message.endswith("\r"):
        message = message[:-1]
    return message


def is_split_piece(message: str) -> bool:
    """Whether ``message`` is a piece of a longer line that the next event continues."""
    if message.endswith("\n") or len(message) * 4 < SPLIT_PIECE_BYTES:
        return False  # (the cheap tests first: nearly every event)
    return len(message.encode("utf-8")) >= SPLIT_PIECE_BYTES


def to_event(event: LogEvent, markers: MarkerReader) -> LogLine | MarkerEvent:
    text = strip_newline(event.message)
    marker = markers.read(text)
    if marker is not None:
        return MarkerEvent(marker, event.timestamp)
    return LogLine(event.timestamp, text)


@dataclass
class Cursor:
    """Where we are in one log stream."""

    group: str | None = None
    stream: str | None = None
    token: str | None = None
    at_end: bool = False  # the last read came back with the token unchanged
    missing: bool = True  # the stream did not exist at the last read
    failed: bool = False  # the last read raised a transient error
    # An event's identity is its position in the stream: ``delivered`` counts
    # them, and after a forced re-read from the head the first ``skip`` are
    # the ones already delivered.
    delivered: int = 0
    skip: int = 0
    # Pieces of a line longer than an event, waiting for the piece that ends it.
    pieces: list[LogEvent] = field(default_factory=list)

    def point_at(self, group: str | None, stream: str | None) -> None:
        if (group, stream) != (self.group, self.stream):
            self.group, self.stream = group, stream
            self.token, self.at_end, self.missing, self.failed = None, False, True, False
            self.delivered = self.skip = 0
            self.pieces = []

    def restart(self) -> None:
        """Read again from the head (the token was refused), skipping what was delivered."""
        self.token, self.at_end, self.skip = None, False, self.delivered


def joined(cursor: Cursor, markers: MarkerReader, last: LogEvent | None) -> LogLine | MarkerEvent:
    """One line from the pieces CloudWatch's size limit cut it into (and its last event)."""
    events = cursor.pieces + ([last] if last is not None else [])
    cursor.pieces = []
    first = events[0]
    text = "".join(e.message for e in events)
    whole = LogEvent(first.timestamp, text, first.ingestion_time)
    return to_event(whole, markers)


# GetLogEvents returns at most this many events, or this many bytes (messages plus
# 26 bytes each), in one page; a page short of both ended the stream when read.
PAGE_EVENTS = 10_000
PAGE_BYTES = 1_048_576


def may_be_full(events: list[LogEvent]) -> bool:
    """Whether a page may have stopped at GetLogEvents' limits rather than the stream's end
    (a byte count that another event of the largest size would not fit in counts as full)."""
    if len(events) >= PAGE_EVENTS:
        return True
    size = sum(len(e.message.encode("utf-8", "surrogatepass")) + 26 for e in events)
    return size > PAGE_BYTES - MAX_EVENT_BYTES - 26
