"""Factories for the typed results tests build by hand (one place, keyword overrides).

``make_build("FAILED", phases=..., log_stream=None)`` gives a :class:`Build` as
BatchGetBuilds would describe it: complete unless ``IN_PROGRESS``, with the
current phase that goes with that. Any field can be overridden by keyword.
"""

from __future__ import annotations

from datetime import datetime

from cbdeploy.client.aws.results import Build, Phase

BUILD_ID = "cbdeploy-app-dev:1234"
LOG_GROUP = "/cbdeploy/app"
LOG_STREAM = "dev/1234"


def make_build(
    status: str = "IN_PROGRESS",
    *,
    id: str = BUILD_ID,
    project: str | None = None,
    number: int | None = 1,
    phases: tuple[Phase, ...] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    log_group: str | None = LOG_GROUP,
    log_stream: str | None = LOG_STREAM,
    initiator: str | None = None,
    source_version: str | None = None,
    environment: tuple[tuple[str, str], ...] = (),
    compute_type: str | None = None,
    image: str | None = None,
    exported: tuple[tuple[str, str], ...] = (),
    log_link: str | None = None,
    buildspec: str | None = None,
) -> Build:
    """A build in ``status``; its project is the part of ``id`` before the colon."""
    complete = status != "IN_PROGRESS"
    return Build(
        id=id,
        arn=f"arn:aws:codebuild:us-east-1:123456789012:build/{id}",
        number=number,
        project=project if project is not None else id.partition(":")[0],
        status=status,
        current_phase="COMPLETED" if complete else "BUILD",
        complete=complete,
        start=start,
        end=end,
        phases=phases,
        log_group=log_group,
        log_stream=log_stream,
        initiator=initiator,
        source_version=source_version,
        environment=environment,
        compute_type=compute_type,
        image=image,
        exported=exported,
        log_link=log_link,
        buildspec=buildspec,
    )


def make_phase(
    name: str,
    status: str | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    duration: int | None = None,
    contexts: tuple[tuple[str, str], ...] = (),
) -> Phase:
    """A phase of a build; ``status`` None while it runs."""
    return Phase(name, status, start, end, duration, contexts)
