"""Where a build's phases start and end, from BatchGetBuilds and the log's own lines.

CodeBuild logs "Entering phase X" and "Phase complete: X State: S" for the
phases it runs in the container; those lines place the phase events between
the lines around them and time the phase. BatchGetBuilds tells the other
phases (see ``client.watch.follow``'s docstring for the ordering rules).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone

from cbdeploy.client.aws.results import Build, Phase
from cbdeploy.client.watch.events import LogLine, PhaseChanged

# CodeBuild writes this line into the log as a phase starts. Taking phase starts
# from the log, once it exists, puts them exactly between the lines of the
# phases around them; BatchGetBuilds is polled at its own pace and would show
# a phase start late, after lines of that phase.
ENTERING_PHASE = re.compile(r"^\[Container\] \S+ \S+ Entering phase ([A-Z_]+)")
# ... and this one as a phase ends, after the phase's last line. Its time and
# the start's give the phase's duration at once, to the millisecond.
PHASE_COMPLETE = re.compile(r"^\[Container\] \S+ \S+ Phase complete: ([A-Z_]+) State: (\w+)")
# The phases that run buildspec commands, whose start CodeBuild logs that way.
LOGGED_PHASES = frozenset({"INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"})
# The phases whose end CodeBuild logs ("Phase complete"). BatchGetBuilds tells
# these ends late or early, so its word on them waits for the end of the build
# (a stopped or timed-out build may never log the end).
LOGGED_ENDS = LOGGED_PHASES | {"DOWNLOAD_SOURCE", "UPLOAD_ARTIFACTS"}
# The phases before the container's, which precede every line the build prints.
# BatchGetBuilds' word on any other phase (UPLOAD_ARTIFACTS, FINALIZING,
# COMPLETED, a phase CodeBuild may add) may come while the log's last lines are
# still unread: it waits for the log's own line on that phase or its end.
BEFORE_THE_LOG = frozenset({"SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE"})


class Phases:
    """Which phase starts and ends were yielded, and when each phase began.

    A phase's start and its end are each yielded once, from whichever source
    tells it first at its right place: the log's "Entering phase" and "Phase
    complete" lines where CodeBuild writes them, BatchGetBuilds for the rest
    (and, once the build is complete, for ends the log never told).
    """

    def __init__(self) -> None:
        self.seen: set[tuple[str, bool]] = set()  # (phase, ended)
        self.began: dict[str, datetime] = {}

    def from_build(self, build: Build, *, final: bool = False) -> Iterator[PhaseChanged]:
        from_log = build.log_stream is not None and not final
        for phase in build.phases:
            ended = phase.status is not None
            if phase.start is not None:
                self.began.setdefault(phase.name, phase.start)
            if from_log and phase.name not in BEFORE_THE_LOG | LOGGED_PHASES:
                continue  # (the log's own line on it, or the end of the log, places it)
            if not (from_log and phase.name in LOGGED_PHASES):
                # A phase over before a poll saw it running still starts first.
                yield from self._start(build, phase.name, phase.start)
            if not ended or (phase.name, True) in self.seen:
                continue
            if from_log and phase.name in LOGGED_ENDS:
                continue
            yield from self._start(build, phase.name, phase.start)
            self.seen.add((phase.name, True))
            yield PhaseChanged(build, phase)

    def _start(self, build: Build, name: str, at: datetime | None) -> Iterator[PhaseChanged]:
        """The start of ``name`` unless it was yielded: every end comes after its start."""
        if (name, False) not in self.seen:
            self.seen.add((name, False))
            yield PhaseChanged(build, Phase(name, None, at, None, None, ()))

    def from_line(self, build: Build, line: LogLine) -> Iterator[PhaseChanged]:
        if not line.message.startswith("[Container] "):
            return  # (most lines: no regular expression for them)
        entering = ENTERING_PHASE.match(line.message)
        if entering is not None:
            name, at = entering.group(1), _moment(line.timestamp)
            self.began[name] = at  # the log's clock, like the end's
            yield from self._start(build, name, at)
            return
        complete = PHASE_COMPLETE.match(line.message)
        if complete is not None:
            name, status = complete.group(1), complete.group(2)
            if (name, True) in self.seen:
                return
            yield from self._start(build, name, self.began.get(name))
            self.seen.add((name, True))
            end = _moment(line.timestamp)
            start = self.began.get(name)
            seconds = None if start is None else max(0, int((end - start).total_seconds()))
            yield PhaseChanged(build, Phase(name, status, start, end, seconds, ()))


def phase_seconds(phase: Phase) -> float | None:
    """How long ``phase`` took, to the precision known (CodeBuild's own field is whole seconds)."""
    if phase.start is not None and phase.end is not None:
        return max(0.0, (phase.end - phase.start).total_seconds())
    return None if phase.duration is None else float(phase.duration)


def _moment(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
