"""CodeBuild's batch builds in the emulator: a build graph run as real builds.

StartBuildBatch needs the project's ``buildBatchConfig`` (or the call's
override) naming a service role. A batch moves through CodeBuild's batch phases
(as aws-cli's ``batch-get-build-batches`` example shows them): SUBMITTED,
DOWNLOAD_BATCHSPEC (a first build, group ``DOWNLOAD_SOURCE``, fetches the
source and reads the buildspec's ``batch`` section), IN_PROGRESS (one real
build per task, each with its own log stream; a task starts once every task it
``depend-on`` has succeeded, or failed with ``ignore-failure``; independent tasks
run in parallel), COMBINE_ARTIFACTS, then a last phase named after the outcome
(SUCCEEDED, FAILED or STOPPED) that has no end.

A failed task that does not ignore failure fails the batch; its dependants never
start. With ``batch/fast-fail: true`` the running builds are stopped and nothing
new starts; otherwise (CodeBuild's default) the running builds complete and
independent tasks still run. StopBuildBatch stops every running build; the
batch's ``timeoutInMins`` stops them too and the batch ends TIMED_OUT.
``buildGroups`` lists DOWNLOAD_SOURCE and then the tasks, each with the summary
of its current build once it has one; ``buildBatchStatus`` stays IN_PROGRESS until
the last build has ended.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cbdeploy.emulator import backends
from cbdeploy.emulator import codebuild_api as cb
from cbdeploy.emulator.batch_state import BuildBatch, BuildGroup, validate_batch_config
from cbdeploy.emulator.batchspec import BatchSpec, BatchTask, parse_batchspec
from cbdeploy.emulator.builds import Build, BuildSettings
from cbdeploy.emulator.buildspec import BuildspecError
from cbdeploy.emulator.runner import BuildRunner, Interrupted, PhaseFailed
from cbdeploy.emulator.source import SourceError, extract_zip, fetch_zip
from cbdeploy.emulator.watchdog import WATCHDOG

if TYPE_CHECKING:
    from cbdeploy.emulator.codebuild_api import CodeBuildApi

BATCH_OPERATIONS = frozenset({
    "StartBuildBatch", "BatchGetBuildBatches", "StopBuildBatch", "ListBuildBatches",
    "ListBuildBatchesForProject", "DeleteBuildBatch",
})
STATUSES = {"SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "IN_PROGRESS", "STOPPED"}
POLL_SECONDS = 0.05


# -- the first build: fetch the source, read the batch section ---------------


class BatchspecRunner(BuildRunner):
    """The DOWNLOAD_SOURCE build: provisions, downloads the source and reads ``batch``."""

    batchspec: BatchSpec | None = None

    def _run(self) -> tuple[str, list[tuple[str, str]]]:
        for phase in ("SUBMITTED", "QUEUED"):
            self.build.enter(phase)
            self.build.leave("SUCCEEDED")
        try:
            self._phase("PROVISIONING", self._provision)
            self.batchspec = self._phase("DOWNLOAD_SOURCE", self._read_batchspec)
        except PhaseFailed:
            return "FAILED", []
        except Interrupted:
            return self._interrupted_status(), []
        return "SUCCEEDED", []

    def _read_batchspec(self) -> BatchSpec:
        self.log.container("Phase is DOWNLOAD_SOURCE")
        self.workdir = Path(tempfile.mkdtemp(prefix="cbdeploy-batch-"))
        WATCHDOG.dir_created(str(self.workdir))
        src = self.workdir / "src"
        src.mkdir()
        source = self.settings.source
        if source.get("type") == "S3":
            try:
                extract_zip(fetch_zip(source.get("location", ""), self.settings.source_version), src)
            except SourceError as error:
                raise PhaseFailed("CLIENT_ERROR", str(error)) from error
        self.log.container(f"CODEBUILD_SRC_DIR={src}")
        text, location = self._buildspec_text(src)
        self.log.container(f"YAML location is {location}")
        try:
            spec = parse_batchspec(text)
        except BuildspecError as error:
            raise PhaseFailed("YAML_FILE_ERROR", str(error)) from error
        self.log.container(f"Batch build tasks found in YAML: {len(spec.tasks)}")
        return spec


# -- the coordinator -----------------------------------------------------------


class BatchRunner:
    """Moves one batch through its phases, starting and stopping its builds."""

    def __init__(self, api: CodeBuildApi, batch: BuildBatch) -> None:
        self.api = api
        self.batch = batch
        self.deadline = batch.start_time + int(batch.config["timeoutInMins"]) * api.minute_seconds

    def run(self) -> None:
        status = "FAULT"
        try:
            status = self._run()
        finally:
            self.batch.finish(status)

    def _run(self) -> str:
        batch = self.batch
        batch.enter("SUBMITTED")
        batch.leave("SUCCEEDED")
        batch.enter("DOWNLOAD_BATCHSPEC")
        group = BuildGroup("DOWNLOAD_SOURCE", None)
        batch.add_group(group)
        build, runner = self.api.launch_build(batch.settings, BatchspecRunner)
        batch.set_build(group, build)
        interrupted = self._wait([build])
        if interrupted:
            batch.leave(interrupted)
            return interrupted
        assert isinstance(runner, BatchspecRunner)
        spec = runner.batchspec
        if build.status != "SUCCEEDED" or spec is None:
            batch.leave("FAILED", [_failure_context(build)])
            return "FAILED"
        refusal = self._refusal(spec)
        if refusal is not None:
            batch.leave("FAILED", [("CLIENT_ERROR", refusal)])
            return "FAILED"
        batch.leave("SUCCEEDED")
        batch.enter("IN_PROGRESS")
        groups = [BuildGroup(t.identifier, t.depend_on, t.ignore_failure, t) for t in spec.tasks]
        for task_group in groups:
            batch.add_group(task_group)
        status = self._run_graph(spec, groups)
        batch.leave(status)
        if status == "SUCCEEDED":
            batch.enter("COMBINE_ARTIFACTS")
            batch.leave("SUCCEEDED")
        return status

    def _run_graph(self, spec: BatchSpec, groups: list[BuildGroup]) -> str:
        pending = list(groups)
        running: list[BuildGroup] = []
        outcome: dict[str, str] = {}
        failed = False
        while True:
            interrupted = self._interruption()
            if interrupted:
                self._stop([g.current for g in running if g.current is not None])
                return interrupted
            for group in list(running):
                assert group.current is not None
                if group.current.complete:
                    running.remove(group)
                    outcome[group.identifier] = group.current.status
                    if group.current.status != "SUCCEEDED" and not group.ignore_failure:
                        failed = True
            if failed and spec.fast_fail:
                self._stop([g.current for g in running if g.current is not None])
                return "FAILED"
            for group in list(pending):
                states = [self._dependency_state(d, groups, outcome) for d in group.depends_on or ()]
                if "blocked" in states:
                    pending.remove(group)  # a dependency failed: this task never runs
                elif all(state == "done" for state in states):
                    pending.remove(group)
                    assert group.task is not None
                    build, _ = self.api.launch_build(self._task_settings(group.task))
                    self.batch.set_build(group, build)
                    running.append(group)
            if not running and not pending:
                return "FAILED" if failed else "SUCCEEDED"
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _dependency_state(name: str, groups: list[BuildGroup], outcome: dict[str, str]) -> str:
        if name not in outcome:
            return "waiting"
        ignore = next(g.ignore_failure for g in groups if g.identifier == name)
        return "done" if outcome[name] == "SUCCEEDED" or ignore else "blocked"

    def _task_settings(self, task: BatchTask) -> BuildSettings:
        s = self.batch.settings
        environment = json.loads(json.dumps(s.environment))
        for key, value in (("computeType", task.compute_type), ("image", task.image),
                           ("type", task.environment_type), ("privilegedMode", task.privileged_mode)):
            if value is not None:
                environment[key] = value
        merged = {v["name"]: v for v in environment.get("environmentVariables", [])}
        for name, value in task.variables.items():
            merged[name] = {"name": name, "value": value, "type": "PLAINTEXT"}
        environment["environmentVariables"] = list(merged.values())
        source = dict(s.source)
        if task.buildspec:
            source["buildspec"] = task.buildspec
        return dataclasses.replace(s, environment=environment, source=source)

    def _refusal(self, spec: BatchSpec) -> str | None:
        """Why the batch's restrictions refuse this build graph, or None."""
        restrictions = self.batch.config.get("restrictions", {})
        maximum = int(restrictions.get("maximumBuildsAllowed", 100))
        if len(spec.tasks) > maximum:
            return (f"The batch has {len(spec.tasks)} builds, more than the "
                    f"{maximum} that restrictions.maximumBuildsAllowed allows")
        allowed = restrictions.get("computeTypesAllowed")
        if allowed:
            for task in spec.tasks:
                compute = task.compute_type or self.batch.settings.environment.get("computeType")
                if compute not in allowed:
                    return f"Compute type {compute} of {task.identifier} is not in restrictions.computeTypesAllowed"
        return None

    def _interruption(self) -> str | None:
        if self.batch.stop_requested.is_set():
            return "STOPPED"
        if time.time() >= self.deadline:
            return "TIMED_OUT"
        return None

    def _wait(self, builds: list[Build]) -> str | None:
        """Wait for ``builds``; STOPPED or TIMED_OUT (after stopping them) if interrupted first."""
        while not all(b.complete for b in builds):
            interrupted = self._interruption()
            if interrupted:
                self._stop(builds)
                return interrupted
            time.sleep(POLL_SECONDS)
        return None

    @staticmethod
    def _stop(builds: list[Build]) -> None:
        for build in builds:
            build.stop_requested.set()
        for build in builds:
            build.finished.wait(10.0)


def _failure_context(build: Build) -> tuple[str, str]:
    with build.lock:
        for phase in reversed(build.phases):
            if phase.status not in (None, "SUCCEEDED") and phase.contexts:
                return phase.contexts[0]
    return ("CLIENT_ERROR", f"The build that reads the batch section ended {build.status}")


# -- the API -------------------------------------------------------------------


class BatchService:
    """The batch operations of the emulator's CodeBuild."""

    def __init__(self, api: CodeBuildApi) -> None:
        self.api = api
        self._lock = threading.Lock()
        self._batches: dict[str, BuildBatch] = {}  # by id, in start order
        self._counters: dict[tuple[str, str], int] = {}
        self._tokens: dict[tuple[str, str], tuple[str, str, float]] = {}

    def handle(
        self, operation: str, region: str, body: dict[str, Any], access_key: str | None
    ) -> dict[str, Any]:
        if operation == "StartBuildBatch":
            return self.start(region, body, access_key)
        if operation == "BatchGetBuildBatches":
            return self.batch_get(region, body)
        if operation == "StopBuildBatch":
            return self.stop(region, body)
        if operation == "ListBuildBatches":
            return self.list(region, body, None)
        if operation == "ListBuildBatchesForProject":
            name = cb._project_name(body.get("projectName", ""))
            self.api.project(region, name)
            return self.list(region, body, name)
        if operation == "DeleteBuildBatch":
            return self.delete(region, body)
        raise cb.ApiError("UnknownOperationException", f"Unknown operation {operation}")

    def stop_all(self) -> None:
        with self._lock:
            batches = list(self._batches.values())
        for batch in batches:
            batch.stop_requested.set()

    def start(self, region: str, body: dict[str, Any], access_key: str | None) -> dict[str, Any]:
        name = cb._project_name(body.get("projectName", ""))
        project = self.api.project(region, name)
        if self.api.closed:
            raise cb.ApiError("ServiceUnavailableException", "The emulator is shutting down")
        token = body.get("idempotencyToken")
        fingerprint = hashlib.sha256(
            json.dumps({k: v for k, v in body.items() if k != "idempotencyToken"}, sort_keys=True).encode()
        ).hexdigest()
        if token:
            with self._lock:
                previous = self._tokens.get((region, token))
            if previous and time.time() - previous[2] < cb.IDEMPOTENCY_SECONDS:
                if previous[1] != fingerprint:
                    raise cb.invalid("Parameter mismatch for idempotency token")
                return {"buildBatch": self._batches[previous[0]].to_api()}
        config = body.get("buildBatchConfigOverride") or project.get("buildBatchConfig")
        if not config:
            raise cb.invalid(
                f"Batch builds are not enabled for project {name}: "
                "set its buildBatchConfig (a serviceRole) or pass buildBatchConfigOverride"
            )
        config = validate_batch_config(config)
        build_body = {k: v for k, v in body.items() if k != "buildTimeoutInMinutesOverride"}
        if "buildTimeoutInMinutesOverride" in body:
            build_body["timeoutInMinutesOverride"] = body["buildTimeoutInMinutesOverride"]
        settings = self.api.build_settings(region, project, build_body, backends.initiator(access_key, region))
        with self._lock:
            number = self._counters.get((region, name), 0) + 1
            self._counters[(region, name)] = number
            batch_id = f"{name}:{uuid.uuid4()}"
            arn = f"arn:aws:codebuild:{region}:{settings.account}:build-batch/{batch_id}"
            batch = BuildBatch(batch_id, number, dataclasses.replace(settings, build_batch_arn=arn), config)
            self._batches[batch.id] = batch
            if token:
                now = time.time()
                self._tokens = {k: v for k, v in self._tokens.items() if now - v[2] < cb.IDEMPOTENCY_SECONDS}
                self._tokens[(region, token)] = (batch.id, fingerprint, now)
        submitted = batch.to_api()
        self.api.start_thread(BatchRunner(self.api, batch).run, f"batch {batch.id}")
        return {"buildBatch": submitted}

    def batch_get(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("ids") or []
        if not ids or len(ids) > 100:
            raise cb.invalid("ids must hold between 1 and 100 build batch ids")
        found, missing = [], []
        for given in ids:
            batch = self._find(region, given)
            (found.append(batch.to_api()) if batch else missing.append(given))
        return {"buildBatches": found, "buildBatchesNotFound": missing}

    def stop(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        given = body.get("id", "")
        batch = self._find(region, given)
        if batch is None:
            raise cb.ApiError("ResourceNotFoundException", f"Build batch {given} does not exist")
        if not batch.complete:
            batch.stop_requested.set()
            batch.finished.wait(5.0)
        return {"buildBatch": batch.to_api()}

    def delete(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        given = body.get("id", "")
        batch = self._find(region, given)
        if batch is None:
            raise cb.ApiError("ResourceNotFoundException", f"Build batch {given} does not exist")
        if not batch.complete:
            raise cb.invalid(f"Build batch {given} is still in progress")
        with self._lock:
            self._batches.pop(batch.id, None)
        return {"statusCode": "BATCH_DELETED", "buildsDeleted": [], "buildsNotDeleted": []}

    def list(self, region: str, body: dict[str, Any], project: str | None) -> dict[str, Any]:
        wanted = (body.get("filter") or {}).get("status")
        if wanted is not None and wanted not in STATUSES:
            raise cb.invalid(f"Invalid status filter {wanted!r}")
        with self._lock:
            batches = [
                b for b in self._batches.values()
                if b.settings.region == region and (project is None or b.settings.project_name == project)
            ]
        ids = [b.id for b in batches if wanted is None or b.status == wanted]
        size = int(body.get("maxResults") or cb.PAGE_SIZE)
        if not 1 <= size <= 100:
            raise cb.invalid("maxResults must be between 1 and 100")
        items = cb._ordered(ids, body)
        start = int(body["nextToken"]) if str(body.get("nextToken", "")).isdigit() else 0
        result: dict[str, Any] = {"ids": items[start:start + size]}
        if start + size < len(items):
            result["nextToken"] = str(start + size)
        return result

    def _find(self, region: str, given: str) -> BuildBatch | None:
        batch_id = given.split(":build-batch/", 1)[1] if ":build-batch/" in given else given
        with self._lock:
            batch = self._batches.get(batch_id)
        return batch if batch is not None and batch.settings.region == region else None
