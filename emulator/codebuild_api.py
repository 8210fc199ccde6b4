"""CodeBuild's JSON 1.1 API over the emulator's projects and builds.

Requests arrive as botocore sends them (``X-Amz-Target: CodeBuild_20161006.<Op>``,
a JSON body); errors go back as HTTP 400 ``{"__type", "message"}`` with
CodeBuild's error codes. Shapes and field names follow botocore's CodeBuild
service model. State is kept per region of the request's SigV4 scope.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from cbdeploy.emulator import backends, batch_state, batches
from cbdeploy.emulator.auth import Credentials
from cbdeploy.emulator.builds import Build, BuildSettings
from cbdeploy.emulator.runner import BuildRunner
from cbdeploy.emulator.source_overrides import SOURCE_TYPES, check_source, secondary_sources

IDEMPOTENCY_SECONDS = 300
PAGE_SIZE = 100
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_]{1,254}$")
SUPPORTED_SOURCE_TYPES = {"S3", "NO_SOURCE"}
ENV_TYPES = {"PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"}


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError("InvalidInputException", message)


class CodeBuildApi:
    """The emulator's CodeBuild: projects, builds and their runner threads."""

    def __init__(
        self,
        endpoint_url: Callable[[], str],
        minute_seconds: float = 60.0,
        credentials: Credentials | None = None,
    ) -> None:
        self._endpoint_url = endpoint_url
        # What builds sign their calls back to the endpoint with.
        self._credentials = credentials or Credentials("testing", "testing")
        self._minute_seconds = minute_seconds
        self._lock = threading.Lock()
        self._projects: dict[tuple[str, str], dict[str, Any]] = {}
        self._counters: dict[tuple[str, str], int] = {}
        self._builds: dict[str, Build] = {}  # by id, in start order
        self._tokens: dict[tuple[str, str], tuple[str, str, float]] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False  # shutting down: no new builds
        self.batches = batches.BatchService(self)

    # -- dispatch ------------------------------------------------------------

    def handle(
        self, operation: str, region: str, body: dict[str, Any], access_key: str | None = None
    ) -> dict[str, Any]:
        """Answer one CodeBuild operation; ApiError for CodeBuild's errors."""
        if operation == "StartBuild":
            return self.op_start_build(region, body, access_key)
        if operation in batches.BATCH_OPERATIONS:
            return self.batches.handle(operation, region, body, access_key)
        handler = getattr(self, "op_" + _snake(operation), None)
        if handler is None:
            raise ApiError("UnknownOperationException", f"Unknown operation {operation}")
        result: dict[str, Any] = handler(region, body)
        return result

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every running build and wait for their runners to finish."""
        with self._lock:
            self._closed = True
            builds = list(self._builds.values())
            threads = list(self._threads)
        self.batches.stop_all()
        for build in builds:
            build.stop_requested.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- projects ----------------------------------------------------------

    def op_create_project(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name", "")
        if not PROJECT_NAME.match(name):
            raise invalid(f"Invalid project name: {name!r}")
        project = self._validated_project(region, body, {})
        with self._lock:
            if (region, name) in self._projects:
                raise ApiError(
                    "ResourceAlreadyExistsException",
                    f"Project already exists: arn:aws:codebuild:{region}:{backends.ACCOUNT_ID}:project/{name}",
                )
            self._projects[(region, name)] = project
        return {"project": project}

    def op_update_project(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        name = _project_name(body.get("name", ""))
        with self._lock:
            current = self._projects.get((region, name))
        if current is None:
            raise self._project_not_found(region, name)
        updated = self._validated_project(region, {**body, "name": name}, current)
        with self._lock:
            self._projects[(region, name)] = updated
        return {"project": updated}

    def op_batch_get_projects(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("names") or []
        if not names or len(names) > 100:
            raise invalid("names must hold between 1 and 100 project names")
        found, missing = [], []
        with self._lock:
            for given in names:
                project = self._projects.get((region, _project_name(given)))
                (found.append(project) if project else missing.append(given))
        return {"projects": found, "projectsNotFound": missing}

    def op_delete_project(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        key = (region, _project_name(body.get("name", "")))
        with self._lock:
            if self._projects.pop(key, None) is not None:
                self._counters.pop(key, None)  # a project made again under this name starts at 1
        return {}

    def op_list_projects(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        sort_by = body.get("sortBy", "NAME")
        keys = {"NAME": "name", "CREATED_TIME": "created", "LAST_MODIFIED_TIME": "lastModified"}
        if sort_by not in keys:
            raise invalid(f"Invalid sortBy {sort_by!r}")
        with self._lock:
            projects = [p for (r, _), p in self._projects.items() if r == region]
        projects.sort(key=lambda p: p[keys[sort_by]], reverse=body.get("sortOrder") == "DESCENDING")
        return _page([p["name"] for p in projects], body.get("nextToken"), "projects")

    def _validated_project(
        self, region: str, body: dict[str, Any], current: dict[str, Any]
    ) -> dict[str, Any]:
        project = dict(current)
        project.update({key: value for key, value in body.items() if value is not None})
        name = project["name"]
        for key in ("source", "artifacts", "environment", "serviceRole"):
            if not project.get(key):
                raise invalid(f"{key} is required")
        source = project["source"]
        if source.get("type") not in SOURCE_TYPES:
            raise invalid(f"Invalid source type: {source.get('type')!r}")
        if source["type"] not in SUPPORTED_SOURCE_TYPES:
            raise invalid(f"Source type {source['type']} is not supported by the emulator: use S3 or NO_SOURCE")
        if source["type"] == "NO_SOURCE" and not source.get("buildspec"):
            raise invalid("Project buildspec cannot be empty when source type is NO_SOURCE")
        if source["type"] == "S3" and not source.get("location"):
            raise invalid("Project source location is required for source type S3")
        if project["artifacts"].get("type") != "NO_ARTIFACTS":
            raise invalid("Only artifacts of type NO_ARTIFACTS are supported by the emulator")
        _validate_environment(project["environment"])
        if not backends.role_exists(project["serviceRole"]):
            raise invalid(f"CodeBuild is not authorized to perform: sts:AssumeRole on {project['serviceRole']}")
        timeout = project.setdefault("timeoutInMinutes", 60)
        if not 5 <= int(timeout) <= 2160:
            raise invalid("timeoutInMinutes must be between 5 and 2160")
        project.setdefault("queuedTimeoutInMinutes", 480)
        limit = project.get("concurrentBuildLimit")
        if limit is not None and int(limit) == -1:
            del project["concurrentBuildLimit"]  # UpdateProject's way to remove the limit
        elif limit is not None and int(limit) < 1:
            raise invalid("concurrentBuildLimit must be at least 1, or -1 to remove it")
        project.setdefault("logsConfig", {"cloudWatchLogs": {"status": "ENABLED"}, "s3Logs": {"status": "DISABLED"}})
        project.setdefault("cache", {"type": "NO_CACHE"})
        project.setdefault("encryptionKey", f"arn:aws:kms:{region}:{backends.ACCOUNT_ID}:alias/aws/s3")
        project.setdefault("tags", [])
        project["environment"].setdefault("environmentVariables", [])
        project["environment"].setdefault("privilegedMode", False)
        project["arn"] = f"arn:aws:codebuild:{region}:{backends.ACCOUNT_ID}:project/{name}"
        now = time.time()
        project.setdefault("created", now)
        project["lastModified"] = now
        project.setdefault("badge", {"badgeEnabled": False})
        project.setdefault("projectVisibility", "PRIVATE")
        if project.get("buildBatchConfig"):
            project["buildBatchConfig"] = batch_state.validate_batch_config(project["buildBatchConfig"])
        else:
            project.pop("buildBatchConfig", None)
        return project

    def _project_not_found(self, region: str, name: str) -> ApiError:
        arn = f"arn:aws:codebuild:{region}:{backends.ACCOUNT_ID}:project/{name}"
        return ApiError("ResourceNotFoundException", f"Project cannot be found: {arn}")

    # -- builds --------------------------------------------------------------

    def op_start_build(
        self, region: str, body: dict[str, Any], access_key: str | None = None
    ) -> dict[str, Any]:
        name = _project_name(body.get("projectName", ""))
        token = body.get("idempotencyToken")
        fingerprint = hashlib.sha256(
            json.dumps({k: v for k, v in body.items() if k != "idempotencyToken"}, sort_keys=True).encode()
        ).hexdigest()
        with self._lock:
            project = self._projects.get((region, name))
            if project is None:
                raise self._project_not_found(region, name)
            if self._closed:
                raise ApiError("ServiceUnavailableException", "The emulator is shutting down")
            if token:
                previous = self._tokens.get((region, token))
                if previous and time.time() - previous[2] < IDEMPOTENCY_SECONDS:
                    if previous[1] != fingerprint:
                        raise invalid("Parameter mismatch for idempotency token")
                    return {"build": self._builds[previous[0]].to_api()}
            settings = self._settings(region, project, body, backends.initiator(access_key, region))
            limit = project.get("concurrentBuildLimit")
            active = sum(
                1 for b in self._builds.values()
                if b.settings.project_name == name and b.settings.region == region and not b.complete
            )
            if limit is not None and active >= int(limit):
                raise ApiError(
                    "AccountLimitExceededException",
                    f"Cannot have more than {limit} active builds for the project",
                )
            build, _, thread = self._launch_locked(settings, BuildRunner)
            if token:
                now = time.time()
                self._tokens = {
                    key: value for key, value in self._tokens.items()
                    if now - value[2] < IDEMPOTENCY_SECONDS
                }
                self._tokens[(region, token)] = (build.id, fingerprint, now)
            submitted = build.to_api()  # the answer describes the build as submitted
            thread.start()
        return {"build": submitted}

    def launch_build(
        self, settings: BuildSettings, runner_class: type[BuildRunner] = BuildRunner
    ) -> tuple[Build, BuildRunner]:
        """Number, register and start one build (a batch's builds come through here)."""
        with self._lock:
            if self._closed:
                raise ApiError("ServiceUnavailableException", "The emulator is shutting down")
            build, runner, thread = self._launch_locked(settings, runner_class)
            thread.start()
        return build, runner

    def start_thread(self, target: Callable[[], None], name: str) -> None:
        """Run ``target`` in a daemon thread that shutdown() waits for."""
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def project(self, region: str, name: str) -> dict[str, Any]:
        """The project's settings; ResourceNotFoundException when there is none."""
        with self._lock:
            project = self._projects.get((region, name))
        if project is None:
            raise self._project_not_found(region, name)
        return project

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def minute_seconds(self) -> float:
        return self._minute_seconds

    def build_settings(
        self, region: str, project: dict[str, Any], body: dict[str, Any], initiator: str
    ) -> BuildSettings:
        return self._settings(region, project, body, initiator)

    def _launch_locked(
        self, settings: BuildSettings, runner_class: type[BuildRunner]
    ) -> tuple[Build, BuildRunner, threading.Thread]:
        """Number and register a build; its runner's thread, not started yet."""
        key = (settings.region, settings.project_name)
        number = self._counters.get(key, 0) + 1
        self._counters[key] = number
        build = Build(f"{settings.project_name}:{uuid.uuid4()}", number, settings)
        self._builds[build.id] = build
        runner = runner_class(build, self._endpoint_url(), self._minute_seconds,
                              credentials=self._credentials)
        thread = threading.Thread(target=runner.run, name=f"build {build.id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        return build, runner, thread

    def op_batch_get_builds(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("ids") or []
        if not ids or len(ids) > 100:
            raise invalid("ids must hold between 1 and 100 build ids")
        found, missing = [], []
        for given in ids:
            build = self._find_build(region, given)
            (found.append(build.to_api()) if build else missing.append(given))
        return {"builds": found, "buildsNotFound": missing}

    def op_stop_build(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        given = body.get("id", "")
        build = self._find_build(region, given)
        if build is None:
            raise ApiError("ResourceNotFoundException", f"Build {given} does not exist")
        if not build.complete:
            build.stop_requested.set()
            build.finished.wait(3.0)
        return {"build": build.to_api()}

    def op_list_builds_for_project(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        name = _project_name(body.get("projectName", ""))
        with self._lock:
            if (region, name) not in self._projects:
                raise self._project_not_found(region, name)
            ids = [
                b.id for b in self._builds.values()
                if b.settings.region == region and b.settings.project_name == name
            ]
        return _page(_ordered(ids, body), body.get("nextToken"), "ids")

    def op_list_builds(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            ids = [b.id for b in self._builds.values() if b.settings.region == region]
        return _page(_ordered(ids, body), body.get("nextToken"), "ids")

    def _find_build(self, region: str, given: str) -> Build | None:
        build_id = given.split(":build/", 1)[1] if ":build/" in given else given
        with self._lock:
            build = self._builds.get(build_id)
        return build if build is not None and build.settings.region == region else None

    def _settings(
        self, region: str, project: dict[str, Any], body: dict[str, Any], initiator: str
    ) -> BuildSettings:
        source = dict(project["source"])
        if "sourceTypeOverride" in body:
            source = {"type": body["sourceTypeOverride"]}
            if source["type"] not in SUPPORTED_SOURCE_TYPES:
                raise invalid(f"Source type {source['type']} is not supported by the emulator")
        if "sourceLocationOverride" in body:
            source["location"] = body["sourceLocationOverride"]
        if body.get("buildspecOverride"):
            source["buildspec"] = body["buildspecOverride"]
        elif "sourceTypeOverride" in body and project["source"].get("buildspec"):
            source["buildspec"] = project["source"]["buildspec"]
        check_source(source, invalid)
        environment = json.loads(json.dumps(project["environment"]))
        for field, key in (("imageOverride", "image"), ("computeTypeOverride", "computeType"),
                           ("privilegedModeOverride", "privilegedMode"),
                           ("environmentTypeOverride", "type")):
            if field in body:
                environment[key] = body[field]
        if "environmentVariablesOverride" in body:
            merged = {v["name"]: v for v in environment.get("environmentVariables", [])}
            for variable in body["environmentVariablesOverride"]:
                merged[variable["name"]] = variable
            environment["environmentVariables"] = list(merged.values())
        _validate_environment(environment)
        timeout = int(body.get("timeoutInMinutesOverride", project["timeoutInMinutes"]))
        if not 5 <= timeout <= 2160:
            raise invalid("timeoutInMinutesOverride must be between 5 and 2160")
        artifacts = body.get("artifactsOverride") or project["artifacts"]
        if artifacts.get("type") != "NO_ARTIFACTS":
            raise invalid("Only artifacts of type NO_ARTIFACTS are supported by the emulator")
        role = body.get("serviceRoleOverride") or project["serviceRole"]
        if body.get("serviceRoleOverride") and not backends.role_exists(role):
            raise invalid(f"CodeBuild is not authorized to perform: sts:AssumeRole on {role}")
        logs_config = json.loads(json.dumps(body.get("logsConfigOverride") or project["logsConfig"]))
        logs_config.setdefault("cloudWatchLogs", {"status": "ENABLED"})
        logs_config.setdefault("s3Logs", {"status": "DISABLED"})
        return BuildSettings(
            project_name=project["name"],
            region=region,
            account=backends.ACCOUNT_ID,
            source=source,
            source_version=body.get("sourceVersion") or project.get("sourceVersion"),
            secondary_sources=secondary_sources(
                body.get("secondarySourcesOverride", project.get("secondarySources") or []), invalid
            ),
            environment=environment,
            service_role=role,
            timeout_in_minutes=timeout,
            queued_timeout_in_minutes=int(
                body.get("queuedTimeoutInMinutesOverride", project["queuedTimeoutInMinutes"])
            ),
            logs_config=logs_config,
            cache=body.get("cacheOverride") or project["cache"],
            artifacts=artifacts,
            initiator=initiator,
            encryption_key=body.get("encryptionKeyOverride") or project["encryptionKey"],
        )


def _validate_environment(environment: dict[str, Any]) -> None:
    for key in ("type", "image", "computeType"):
        if not environment.get(key):
            raise invalid(f"environment.{key} is required")
    for variable in environment.get("environmentVariables", []):
        name = variable.get("name", "")
        if not name or "value" not in variable:
            raise invalid("Environment variables need a name and a value")
        if name.startswith("CODEBUILD_"):
            raise invalid(f"Invalid environment variable name {name}: the CODEBUILD_ prefix is reserved")
        if variable.setdefault("type", "PLAINTEXT") not in ENV_TYPES:
            raise invalid(f"Invalid environment variable type {variable['type']!r} for {name}")


def _project_name(given: str) -> str:
    return given.split(":project/", 1)[1] if ":project/" in given else given


def _ordered(ids: list[str], body: dict[str, Any]) -> list[str]:
    # Newest first unless ASCENDING is asked for, as CodeBuild lists builds.
    return ids if body.get("sortOrder") == "ASCENDING" else list(reversed(ids))


def _page(items: list[str], token: str | None, key: str) -> dict[str, Any]:
    start = int(token) if token and token.isdigit() else 0
    page = items[start:start + PAGE_SIZE]
    result: dict[str, Any] = {key: page}
    if start + PAGE_SIZE < len(items):
        result["nextToken"] = str(start + PAGE_SIZE)
    return result


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
