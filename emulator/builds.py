"""Build records: what BatchGetBuilds reports, updated as the build runs.

A :class:`Build` is shared between the API threads (which read it) and its
runner thread (which moves it through the phases); every access takes the
build's lock. Times are epoch seconds, which is how JSON 1.1 carries them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

PHASES = (
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
)


@dataclass(frozen=True)
class BuildSettings:
    """Everything a build runs with: the project's settings with StartBuild's overrides applied."""

    project_name: str
    region: str
    account: str
    source: dict[str, Any]
    source_version: str | None
    environment: dict[str, Any]
    service_role: str
    timeout_in_minutes: int
    queued_timeout_in_minutes: int
    logs_config: dict[str, Any]
    cache: dict[str, Any]
    artifacts: dict[str, Any]
    initiator: str
    encryption_key: str
    build_batch_arn: str | None = None  # set for the builds of a batch build
    secondary_sources: tuple[dict[str, Any], ...] = ()


@dataclass
class PhaseRecord:
    phase_type: str
    start: float
    status: str | None = None
    end: float | None = None
    contexts: list[tuple[str, str]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"phaseType": self.phase_type, "startTime": self.start}
        if self.end is not None:
            data["phaseStatus"] = self.status
            data["endTime"] = self.end
            data["durationInSeconds"] = int(self.end - self.start)
            if self.contexts:
                data["contexts"] = [{"statusCode": c, "message": m} for c, m in self.contexts]
        return data


class Build:
    """One build's state. Methods that change it are called by its runner only."""

    def __init__(
        self,
        build_id: str,
        number: int,
        settings: BuildSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = build_id
        self.number = number
        self.settings = settings
        self.arn = f"arn:aws:codebuild:{settings.region}:{settings.account}:build/{build_id}"
        self.uuid = build_id.split(":", 1)[1]
        self._clock = clock
        self.start_time = clock()
        self.end_time: float | None = None
        self.status = "IN_PROGRESS"
        self.complete = False
        self.phases: list[PhaseRecord] = []
        self.exported: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.stop_requested = threading.Event()
        self.finished = threading.Event()
        self.log_group, self.log_stream = _log_names(settings, self.uuid)
        # CodeBuild names the group and stream once it has created them (PROVISIONING).
        self.logs_ready = False

    def mark_logs_ready(self) -> None:
        with self.lock:
            self.logs_ready = True

    def enter(self, phase: str) -> None:
        with self.lock:
            self.phases.append(PhaseRecord(phase, self._clock()))

    def leave(self, status: str, contexts: list[tuple[str, str]] | None = None) -> None:
        """End the current phase. As in CodeBuild's answers (the aws-cli examples of
        batch-get-builds and stop-build), SUBMITTED and QUEUED carry no contexts and
        every later phase carries one, ``("", "")`` when it succeeded."""
        with self.lock:
            record = self.phases[-1]
            if contexts is None and record.phase_type not in ("SUBMITTED", "QUEUED"):
                contexts = [("", "")]
            record.status = status
            record.end = max(self._clock(), record.start)
            record.contexts = list(contexts or [])

    def finish(self, status: str, exported: list[tuple[str, str]]) -> None:
        """Enter COMPLETED and report the final status."""
        with self.lock:
            now = self._clock()
            self.phases.append(PhaseRecord("COMPLETED", now))
            self.status = status
            self.end_time = now
            self.exported = exported
            self.complete = True
        self.finished.set()

    def to_api(self) -> dict[str, Any]:
        s = self.settings
        with self.lock:
            data: dict[str, Any] = {
                "id": self.id,
                "arn": self.arn,
                "buildNumber": self.number,
                "startTime": self.start_time,
                "currentPhase": self.phases[-1].phase_type if self.phases else "SUBMITTED",
                "buildStatus": self.status,
                "projectName": s.project_name,
                "phases": [p.to_api() for p in self.phases],
                "source": s.source,
                "secondarySources": [dict(x) for x in s.secondary_sources],
                "secondarySourceVersions": [],
                "artifacts": {"location": ""},
                "secondaryArtifacts": [],
                "cache": s.cache,
                "environment": s.environment,
                "serviceRole": s.service_role,
                "logs": self._logs_api(),
                "timeoutInMinutes": s.timeout_in_minutes,
                "queuedTimeoutInMinutes": s.queued_timeout_in_minutes,
                "buildComplete": self.complete,
                "initiator": s.initiator,
                "encryptionKey": s.encryption_key,
            }
            if self.end_time is not None:
                data["endTime"] = self.end_time
            if s.source_version:
                data["sourceVersion"] = s.source_version
            if s.build_batch_arn:
                data["buildBatchArn"] = s.build_batch_arn
            if self.complete and self.exported:
                data["exportedEnvironmentVariables"] = [
                    {"name": n, "value": v} for n, v in self.exported
                ]
            return data

    def _logs_api(self) -> dict[str, Any]:
        cw = self.settings.logs_config.get("cloudWatchLogs", {})
        s3 = self.settings.logs_config.get("s3Logs", {"status": "DISABLED"})
        if self.log_group is None or self.log_stream is None or not self.logs_ready:
            return {"cloudWatchLogs": dict(cw), "s3Logs": s3}
        region = self.settings.region
        return {
            "groupName": self.log_group,
            "streamName": self.log_stream,
            "deepLink": (
                f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
                f"#logEvent:group={quote(self.log_group, safe='')};stream={quote(self.log_stream, safe='')}"
            ),
            "cloudWatchLogsArn": (
                f"arn:aws:logs:{region}:{self.settings.account}:log-group:{self.log_group}"
                f":log-stream:{self.log_stream}"
            ),
            "cloudWatchLogs": dict(cw),
            "s3Logs": s3,
        }


def _log_names(settings: BuildSettings, uuid: str) -> tuple[str | None, str | None]:
    """CodeBuild's naming: group ``/aws/codebuild/<project>`` or the configured one;
    stream ``<uuid>``, or ``<streamName>/<uuid>`` when logsConfig names a stream."""
    cw = settings.logs_config.get("cloudWatchLogs", {})
    if cw.get("status", "ENABLED") == "DISABLED":
        return None, None
    group = cw.get("groupName") or f"/aws/codebuild/{settings.project_name}"
    prefix = cw.get("streamName")
    return group, f"{prefix}/{uuid}" if prefix else uuid
