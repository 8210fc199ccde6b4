"""When a followed build has been quiet long enough to say so.

A build that prints nothing for a while is still running; the follower says
so with two events (``client.watch.events``): one :class:`Quiet` a few
seconds into each quiet stretch (a live terminal shows a spinner with the
running step and its time) and a :class:`StillRunning` every ``pulse``
seconds (plain output prints a heartbeat line, because some CI systems kill a
job that prints nothing for ten minutes). Both carry how long the running
pipeline step (or, before the first step, phase) has been running.
"""

from __future__ import annotations

from collections.abc import Iterator

from cbdeploy.client.watch.events import FollowEvent, MarkerEvent, PhaseChanged, Quiet, StillRunning

# A build quiet this long (seconds) gets a StillRunning: plain output prints a
# heartbeat, so a CI system that kills a job silent for ten minutes does not.
# The follower sleeps at most QUIET_CAP between checks: a heartbeat every < 60 s.
PULSE = 45.0
# A build quiet this long (seconds) gets one Quiet: a live terminal's spinner.
QUIET = 3.0


class Silence:
    """The news a follower yielded and when; the quiet events it is due (clock in seconds)."""

    def __init__(self, now: float, pulse: float = PULSE) -> None:
        self.pulse = pulse
        self.last_news = self.began = now  # the last event went out; the running step began
        self.hushed = False  # a Quiet went out since the last news

    def news(self, event: FollowEvent, now: float) -> None:
        """``event`` went out at ``now``."""
        if isinstance(event, Quiet):
            return  # (no news: the quiet goes on)
        self.last_news = now
        self.hushed = self.hushed and isinstance(event, StillRunning)
        match event:
            case PhaseChanged() if event.phase.status is None:
                self.began = now
            case MarkerEvent() if event.marker.event in ("step-start", "step-end"):
                self.began = now
            case _:
                pass

    def due(self, now: float) -> Iterator[Quiet | StillRunning]:
        """What a quiet poll at ``now`` of a running build should yield, if anything."""
        if now - self.last_news >= self.pulse:
            yield StillRunning(now - self.began)
        elif now - self.last_news >= QUIET and not self.hushed:
            self.hushed = True
            yield Quiet(now - self.began)
