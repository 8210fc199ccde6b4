"""Start the AWS agent's process, and nothing more (issue 16).

``cbdeploy deploy`` starts its agent before anything else, so that the agent's
import of boto3 begins as early as it can: this module loads only what a start
needs (the command line of :mod:`client.interpreter`, two pipes, ``subprocess``),
not the AWS methods, the wire format or the door of :mod:`.remote`, which takes
the process (a :class:`Spawned`) and talks to it. The agent loads boto3 before it
reads its first request (see :mod:`.agent`), so nothing is lost by telling it its
target a little later.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from typing import NamedTuple

from cbdeploy.client.interpreter import helper_command

_log = logging.getLogger(__name__)


def agent_command(requests_fd: int, replies_fd: int) -> list[str]:
    """The agent's command line (as the packaging workers', see :mod:`client.interpreter`)."""
    return helper_command(
        f"from cbdeploy.client.aws.agent import main; main({requests_fd}, {replies_fd})")


class Spawned(NamedTuple):
    """An agent process and this process's ends of its two pipes (file descriptors)."""

    popen: subprocess.Popen[bytes]
    requests: int  # written here, read by the agent
    replies: int  # written by the agent, read here

    def close(self) -> None:
        """End an agent that no connection took (it has only loaded modules)."""
        self.popen.kill()
        self.popen.wait()
        for fd in (self.requests, self.replies):
            os.close(fd)


class Early:
    """An agent started now (:func:`spawn_agent`), until a door takes it (:meth:`take`);
    :meth:`close` ends it if none did (a command that failed before it opened a door)."""

    def __init__(self) -> None:
        self._spawned = spawn_agent()

    def take(self) -> Spawned | None:
        spawned, self._spawned = self._spawned, None
        return spawned

    def close(self) -> None:
        spawned, self._spawned = self._spawned, None
        if spawned is not None:
            spawned.close()


def spawn(command: Callable[[int, int], list[str]] | None = None) -> Spawned:
    """The agent started now (``command``: its command line for the two pipes' ends it
    gets); raises OSError when it cannot start."""
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    try:
        argv = (command or agent_command)(requests_read, replies_write)
        popen = subprocess.Popen(
            argv, stdin=None, stdout=2, pass_fds=(requests_read, replies_write)
        )
    except BaseException:
        for fd in (requests_read, requests_write, replies_read, replies_write):
            os.close(fd)
        raise
    os.close(requests_read)
    os.close(replies_write)
    return Spawned(popen, requests_write, replies_read)


def spawn_agent() -> Spawned | None:
    """The agent started now, or None where it cannot start (the door then opens later,
    as :func:`.remote.open_agent` decides)."""
    if not sys.executable:
        return None
    try:
        return spawn()
    except OSError as error:
        _log.debug("the AWS agent cannot start (%s)", error)
        return None
