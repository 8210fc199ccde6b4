"""The bash script of one step: its commands, each echoed and checked.

Its own module (the standard library's ``shlex`` only) so that the client's
config check can measure a step's script without importing the pipeline and
what that needs (``urllib``, ``http.client`` for ECR) on every command's start.
"""

from __future__ import annotations

import shlex


def step_script(commands: tuple[str, ...]) -> str:
    """The bash script for one step (see ``runner.pipeline``'s docstring)."""
    lines = ["set -eo pipefail"]
    for command in commands:
        lines.append("printf '%s\\n' " + shlex.quote("$ " + command))
        lines.append(command)
        lines.append(
            '__cbdeploy_status=$?; [ "$__cbdeploy_status" -eq 0 ] || exit "$__cbdeploy_status"'
        )
    return "\n".join(lines) + "\n"
