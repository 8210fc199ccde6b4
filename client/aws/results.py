"""Typed results of the AWS door: builds, phases and log pages as frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Phase:
    name: str
    status: str | None
    start: datetime | None
    end: datetime | None
    duration: int | None
    contexts: tuple[tuple[str, str], ...]  # (statusCode, message)


@dataclass(frozen=True)
class Build:
    id: str
    arn: str
    number: int | None
    project: str
    status: str
    current_phase: str
    complete: bool
    start: datetime | None
    end: datetime | None
    phases: tuple[Phase, ...]
    log_group: str | None
    log_stream: str | None
    initiator: str | None
    source_version: str | None
    environment: tuple[tuple[str, str], ...]  # PLAINTEXT variables only
    compute_type: str | None
    image: str | None
    exported: tuple[tuple[str, str], ...]
    log_link: str | None = None
    buildspec: str | None = None  # the buildspec the build ran, when BatchGetBuilds tells it


@dataclass(frozen=True)
class LogEvent:
    timestamp: int  # ms since the epoch
    message: str
    ingestion_time: int  # ms since the epoch


@dataclass(frozen=True)
class LogPage:
    events: list[LogEvent]
    next_token: str  # nextForwardToken; unchanged when the stream has nothing more


def build_from_response(data: Mapping[str, Any]) -> Build:
    """Turn one entry of BatchGetBuilds/StartBuild/StopBuild into a :class:`Build`."""
    phases = tuple(
        Phase(
            name=p.get("phaseType", ""),
            status=p.get("phaseStatus"),
            start=p.get("startTime"),
            end=p.get("endTime"),
            duration=p.get("durationInSeconds"),
            contexts=tuple(
                (c.get("statusCode", ""), c.get("message", "")) for c in p.get("contexts") or ()
            ),
        )
        for p in data.get("phases") or ()
    )
    logs = data.get("logs") or {}
    env = data.get("environment") or {}
    return Build(
        id=data["id"],
        arn=data.get("arn", ""),
        number=data.get("buildNumber"),
        project=data.get("projectName", ""),
        status=data.get("buildStatus", ""),
        current_phase=data.get("currentPhase", ""),
        complete=bool(data.get("buildComplete")),
        start=data.get("startTime"),
        end=data.get("endTime"),
        phases=phases,
        log_group=logs.get("groupName"),
        log_stream=logs.get("streamName"),
        initiator=data.get("initiator"),
        source_version=data.get("sourceVersion") or data.get("resolvedSourceVersion"),
        environment=tuple(
            (v["name"], v.get("value", ""))
            for v in env.get("environmentVariables") or ()
            if v.get("type", "PLAINTEXT") == "PLAINTEXT"
        ),
        compute_type=env.get("computeType"),
        image=env.get("image"),
        exported=tuple(
            (v["name"], v.get("value", "")) for v in data.get("exportedEnvironmentVariables") or ()
        ),
        log_link=logs.get("deepLink"),
        buildspec=(data.get("source") or {}).get("buildspec"),
    )
