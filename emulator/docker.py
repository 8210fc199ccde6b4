"""Docker in the emulator's builds, as CodeBuild has it.

With privileged mode the build's commands reach the host's Docker engine
(``DOCKER_HOST`` passed through when set, else Docker's default socket);
without it ``DOCKER_HOST`` names a socket that does not exist, so ``docker``
fails as on CodeBuild: "Cannot connect to the Docker daemon at ...".
Each build gets its own ``DOCKER_CONFIG`` (as a fresh CodeBuild host would),
so ``docker login`` in a build never writes the host user's credentials file.
"""

from __future__ import annotations

import os
from pathlib import Path

NO_DAEMON_SOCKET = "no-docker-without-privileged-mode.sock"


def build_environment(privileged: bool, workdir: Path) -> dict[str, str]:
    """The Docker variables of a build whose scratch directory is ``workdir``."""
    config = workdir / "docker-config"
    config.mkdir(exist_ok=True)
    env = {"DOCKER_CONFIG": str(config)}
    if not privileged:
        env["DOCKER_HOST"] = f"unix://{workdir / NO_DAEMON_SOCKET}"
    elif os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env
