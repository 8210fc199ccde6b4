"""One BatchGetBuilds for every build of a batch: the door the batch's followers share.

Each build of a batch is followed by its own
:class:`~cbdeploy.client.watch.follow.Follower`, which polls its build with
``get_build`` about once a second. :class:`SharedBuilds` answers those polls
from one BatchGetBuilds for all the batch's running builds: a poll within
:data:`FRESH` seconds of the last call gets that call's answer, so the calls
per second stay about one however many builds run. A complete build no longer
changes and is never asked for again. Log reads go to the door as they are
(each build has its own stream).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from cbdeploy.client.errors import NotFoundError

if TYPE_CHECKING:
    from cbdeploy.client.aws.results import Build, LogPage

# Seconds an answer serves every follower: the follower's own fastest build poll.
FRESH = 1.0


class FollowDoor(Protocol):
    """What a follower calls: its build and its log (an ``AwsClient`` has both)."""

    def get_build(self, build_id: str) -> Build: ...
    def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage: ...


class BuildsDoor(FollowDoor, Protocol):
    def get_builds(self, ids: list[str]) -> list[Build]: ...


class SharedBuilds:
    """``get_build`` from one BatchGetBuilds for all builds; safe to call from several threads."""

    def __init__(
        self, aws: BuildsDoor, *, clock: Callable[[], float] = time.monotonic, fresh: float = FRESH
    ) -> None:
        self._aws = aws
        self._clock = clock
        self._fresh = fresh
        self._lock = threading.Lock()
        self._builds: dict[str, Build] = {}
        self._asked: set[str] = set()  # the ids a follower polls: each call asks for all
        self._at = float("-inf")  # when the last call was made

    def add(self, build: Build) -> None:
        """A build as just read (the batch's poll found it): its follower polls it from now on."""
        with self._lock:
            self._builds.setdefault(build.id, build)
            self._asked.add(build.id)

    def get_build(self, build_id: str) -> Build:
        with self._lock:
            known = self._builds.get(build_id)
            if known is not None and (known.complete or self._clock() - self._at < self._fresh):
                return known
            self._asked.add(build_id)
            ids = sorted(i for i in self._asked if not self._complete(i)) or [build_id]
            began = self._clock()
            found = self._aws.get_builds(ids)
            self._at = began
            for build in found:
                self._builds[build.id] = build
            if build_id not in {b.id for b in found}:
                raise NotFoundError(f"No build {build_id!r}.", code="ResourceNotFoundException")
            return self._builds[build_id]

    def _complete(self, build_id: str) -> bool:
        build = self._builds.get(build_id)
        return build is not None and build.complete

    def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
        return self._aws.get_log_events(group, stream, token)
