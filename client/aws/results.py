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
    batch_arn: str | None = None  # the batch build it belongs to, if any


@dataclass(frozen=True)
class LogEvent:
    timestamp: int  # ms since the epoch
    message: str
    ingestion_time: int  # ms since the epoch


@dataclass(frozen=True)
class LogPage:
    events: list[LogEvent]
    next_token: str  # nextForwardToken; unchanged when the stream has nothing more


@dataclass(frozen=True)
class BuildGroup:
    """One group of a batch: a build-graph task (or CodeBuild's own DOWNLOAD_SOURCE)."""

    identifier: str
    depends_on: tuple[str, ...]
    build_id: str | None  # its current build, once it has one
    build_status: str | None


@dataclass(frozen=True)
class BuildBatch:
    id: str
    arn: str
    project: str
    status: str
    current_phase: str
    complete: bool
    start: datetime | None
    end: datetime | None
    phases: tuple[Phase, ...]
    groups: tuple[BuildGroup, ...]
    initiator: str | None
    environment: tuple[tuple[str, str], ...] = ()  # PLAINTEXT variables only


def _phases(data: Mapping[str, Any]) -> tuple[Phase, ...]:
    return tuple(
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


def build_id_of(arn_or_id: str) -> str:
    """A build's id from its ARN (``arn:...:build/<project>:<uuid>``); an id stays as it is."""
    return arn_or_id.split(":build/", 1)[1] if ":build/" in arn_or_id else arn_or_id


def batch_from_response(data: Mapping[str, Any]) -> BuildBatch:
    """Turn one entry of BatchGetBuildBatches/StartBuildBatch/StopBuildBatch into a batch."""
    groups = []
    for g in data.get("buildGroups") or ():
        current = g.get("currentBuildSummary") or {}
        groups.append(BuildGroup(
            identifier=g.get("identifier", ""),
            depends_on=tuple(g.get("dependsOn") or ()),
            build_id=build_id_of(current["arn"]) if current.get("arn") else None,
            build_status=current.get("buildStatus"),
        ))
    return BuildBatch(
        id=data["id"], arn=data.get("arn", ""), project=data.get("projectName", ""),
        status=data.get("buildBatchStatus", ""), current_phase=data.get("currentPhase", ""),
        complete=bool(data.get("complete")), start=data.get("startTime"),
        end=data.get("endTime"), phases=_phases(data), groups=tuple(groups),
        initiator=data.get("initiator"),
        environment=_variables(data.get("environment") or {}),
    )


def _variables(environment: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (v["name"], v.get("value", ""))
        for v in environment.get("environmentVariables") or ()
        if v.get("type", "PLAINTEXT") == "PLAINTEXT"
    )


def build_from_response(data: Mapping[str, Any]) -> Build:
    """Turn one entry of BatchGetBuilds/StartBuild/StopBuild into a :class:`Build`."""
    phases = _phases(data)
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
        environment=_variables(env),
        compute_type=env.get("computeType"),
        image=env.get("image"),
        exported=tuple(
            (v["name"], v.get("value", "")) for v in data.get("exportedEnvironmentVariables") or ()
        ),
        log_link=logs.get("deepLink"),
        buildspec=(data.get("source") or {}).get("buildspec"),
        batch_arn=data.get("buildBatchArn"),
    )
