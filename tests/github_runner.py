"""What GitHub's runner makes of a step's output: the workflow commands it would act on."""

from __future__ import annotations

import re


def workflow_commands(output: str) -> list[str]:
    """The commands GitHub's runner would act on in ``output`` (v2 ``::x::`` and v1 ``##[x]``).

    As the runner does: after ``::stop-commands::<token>`` nothing is a command
    until a line ``::<token>::``.
    """
    commands: list[str] = []
    stopped: str | None = None
    for line in output.splitlines():
        if stopped is not None:
            if line.strip() == f"::{stopped}::":
                stopped = None
            continue
        started = re.match(r"^\s*::stop-commands::(.+)$", line)
        if started:
            stopped = started.group(1)
        elif re.match(r"^\s*::[A-Za-z-]+( [^:]*)?::", line) or "##[" in line:
            commands.append(line.strip())
    return commands
