"""A batch build's state in the emulator: its checked config, phases, build groups.

:class:`BuildBatch` is changed by the batch's coordinator thread
(:mod:`cbdeploy.emulator.batches`) and read by the API threads; ``to_api`` gives
it as BatchGetBuildBatches describes a batch.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from cbdeploy.emulator import backends
from cbdeploy.emulator import codebuild_api as cb
from cbdeploy.emulator.batchspec import BatchTask
from cbdeploy.emulator.builds import Build, BuildSettings, PhaseRecord

REPORT_MODES = {"REPORT_INDIVIDUAL_BUILDS", "REPORT_AGGREGATED_BATCH"}
CONFIG_KEYS = {"serviceRole", "combineArtifacts", "restrictions", "timeoutInMins", "batchReportMode"}


def validate_batch_config(config: dict[str, Any]) -> dict[str, Any]:
    """A project's (or StartBuildBatch's) buildBatchConfig checked as CodeBuild checks it."""
    if not isinstance(config, dict):
        raise cb.invalid("buildBatchConfig must be an object")
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise cb.invalid(f"Unknown buildBatchConfig field {sorted(unknown)[0]}")
    role = config.get("serviceRole")
    if not role:
        raise cb.invalid("buildBatchConfig.serviceRole is required for batch builds")
    if not backends.role_exists(role):
        raise cb.invalid(f"CodeBuild is not authorized to perform: sts:AssumeRole on {role}")
    checked = json.loads(json.dumps(config))
    timeout = checked.setdefault("timeoutInMins", 480)
    if not isinstance(timeout, int) or not 5 <= timeout <= 2160:
        raise cb.invalid("buildBatchConfig.timeoutInMins must be between 5 and 2160")
    restrictions = checked.setdefault("restrictions", {})
    maximum = restrictions.setdefault("maximumBuildsAllowed", 100)
    if not isinstance(maximum, int) or maximum < 1:
        raise cb.invalid("buildBatchConfig.restrictions.maximumBuildsAllowed must be at least 1")
    allowed = restrictions.get("computeTypesAllowed")
    if allowed is not None and (
        not isinstance(allowed, list) or not all(isinstance(c, str) and c for c in allowed)
    ):
        raise cb.invalid("buildBatchConfig.restrictions.computeTypesAllowed must list compute types")
    mode = checked.get("batchReportMode")
    if mode is not None and mode not in REPORT_MODES:
        raise cb.invalid(f"Invalid batchReportMode {mode!r}")
    return checked


# -- records -----------------------------------------------------------------


@dataclasses.dataclass
class BuildGroup:
    identifier: str
    depends_on: tuple[str, ...] | None  # None: the DOWNLOAD_SOURCE group, which has no key
    ignore_failure: bool = False
    task: BatchTask | None = None
    current: Build | None = None
    prior: list[Build] = dataclasses.field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"identifier": self.identifier}
        if self.depends_on is not None:
            data["dependsOn"] = list(self.depends_on)
        data["ignoreFailure"] = self.ignore_failure
        if self.current is not None:
            data["currentBuildSummary"] = _summary(self.current, self.identifier)
        if self.prior:
            data["priorBuildSummaryList"] = [_summary(b, self.identifier) for b in self.prior]
        return data


def _summary(build: Build, identifier: str) -> dict[str, Any]:
    with build.lock:
        status = build.status
    return {
        "arn": build.arn,
        "requestedOn": build.start_time,
        "buildStatus": status,
        "primaryArtifact": {"type": "no_artifacts", "identifier": identifier},
        "secondaryArtifacts": [],
    }


class BuildBatch:
    """One batch's state, changed by its coordinator thread, read by the API threads."""

    def __init__(
        self, batch_id: str, number: int, settings: BuildSettings, config: dict[str, Any],
        *, clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = batch_id
        self.number = number
        self.settings = settings
        self.config = config
        self.arn = f"arn:aws:codebuild:{settings.region}:{settings.account}:build-batch/{batch_id}"
        self._clock = clock
        self.start_time = clock()
        self.end_time: float | None = None
        self.status = "IN_PROGRESS"
        self.complete = False
        self.phases: list[PhaseRecord] = []
        self.groups: list[BuildGroup] = []
        self.lock = threading.Lock()
        self.stop_requested = threading.Event()
        self.finished = threading.Event()

    def enter(self, phase: str) -> None:
        with self.lock:
            self.phases.append(PhaseRecord(phase, self._clock()))

    def leave(self, status: str, contexts: list[tuple[str, str]] | None = None) -> None:
        with self.lock:
            record = self.phases[-1]
            record.status = status
            record.end = max(self._clock(), record.start)
            record.contexts = list(contexts or [])

    def add_group(self, group: BuildGroup) -> None:
        with self.lock:
            self.groups.append(group)

    def set_build(self, group: BuildGroup, build: Build) -> None:
        with self.lock:
            if group.current is not None:
                group.prior.append(group.current)
            group.current = build

    def finish(self, status: str) -> None:
        """End the batch: the last phase is named after the outcome and stays open."""
        with self.lock:
            now = self._clock()
            final = {"SUCCEEDED": "SUCCEEDED", "STOPPED": "STOPPED"}.get(status, "FAILED")
            self.phases.append(PhaseRecord(final, now))
            self.status = status
            self.end_time = now
            self.complete = True
        self.finished.set()

    def to_api(self) -> dict[str, Any]:
        s = self.settings
        with self.lock:
            groups = list(self.groups)
            data: dict[str, Any] = {
                "id": self.id,
                "arn": self.arn,
                "startTime": self.start_time,
                "currentPhase": self.phases[-1].phase_type if self.phases else "SUBMITTED",
                "buildBatchStatus": self.status,
                "projectName": s.project_name,
                "phases": [p.to_api() for p in self.phases],
                "source": s.source,
                "secondarySources": [],
                "secondarySourceVersions": [],
                "artifacts": {"location": ""},
                "secondaryArtifacts": [],
                "cache": s.cache,
                "environment": s.environment,
                "serviceRole": s.service_role,
                "logConfig": s.logs_config,
                "buildTimeoutInMinutes": s.timeout_in_minutes,
                "queuedTimeoutInMinutes": s.queued_timeout_in_minutes,
                "complete": self.complete,
                "initiator": s.initiator,
                "encryptionKey": s.encryption_key,
                "buildBatchNumber": self.number,
                "buildBatchConfig": self.config,
            }
            if self.end_time is not None:
                data["endTime"] = self.end_time
            if s.source_version:
                data["sourceVersion"] = s.source_version
        data["buildGroups"] = [g.to_api() for g in groups]
        return data
