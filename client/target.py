"""Where a command acts: the :class:`Target` every AWS-facing command resolves from its options.

A plain frozen dataclass with no click, boto3 or rich behind it, so the deploy
service, the AWS door and the tests can name it without loading the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cbdeploy.client.errors import UsageError

# A stage's name, part of every resource's name (client/infra/names.py), as the
# config's [stages.<name>] and --stage give it.
STAGE_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")


@dataclass(frozen=True)
class Target:
    """Where a command acts: stage, region, credentials, config, endpoint."""

    stage: str
    region: str
    profile: str | None
    config_path: Path | None
    local: bool
    log_level: str

    @property
    def project_root(self) -> Path:
        """The project directory: the config file's folder, else the working directory."""
        return project_directory(self.config_path)


def project_directory(config_path: Path | None) -> Path:
    """The config file's folder, else the working directory. Raises :class:`UsageError`.

    The working directory may have been deleted (or be unreachable) under us:
    ``getcwd()`` then fails, which is the user's situation to fix, not a bug.
    """
    try:
        return config_path.resolve().parent if config_path else Path.cwd()
    except OSError as error:
        raise UsageError(
            f"Cannot use the current directory: {error.strerror or error}.",
            "cd into your project directory (one you can read) and run the command again, "
            "or pass --config-path.",
        ) from None
