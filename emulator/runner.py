"""Run one build through CodeBuild's phases, really executing its buildspec.

Phase transitions follow CodeBuild: a failure in INSTALL or PRE_BUILD goes
straight to FINALIZING; after a BUILD failure POST_BUILD still runs (with
``CODEBUILD_BUILD_SUCCEEDING=0``); ``on-failure: ABORT`` ends the phases at
once, ``on-failure: CONTINUE`` goes on with the next phase. The build times
out ``timeoutInMinutes`` after it started (a "minute" lasts ``minute_seconds``),
and a stop request kills the shell's process groups within about a second.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cbdeploy.emulator import backends, docker
from cbdeploy.emulator.auth import Credentials
from cbdeploy.emulator.builds import Build
from cbdeploy.emulator.buildspec import Buildspec, BuildspecError, parse_buildspec
from cbdeploy.emulator.logs import BuildLog, LineSplitter
from cbdeploy.emulator.shell import ShellSession
from cbdeploy.emulator.source import SourceError, extract_zip, fetch_zip
from cbdeploy.emulator.watchdog import WATCHDOG

logger = logging.getLogger(__name__)
T = TypeVar("T")

COMMAND_PHASES = ("INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD")


class PhaseFailed(Exception):
    """A setup phase failed: ``status`` (FAILED, FAULT) with one context."""

    def __init__(self, code: str, message: str, status: str = "FAILED") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class Interrupted(Exception):
    """The build was stopped or timed out."""


class BuildRunner:
    def __init__(
        self,
        build: Build,
        endpoint_url: str,
        minute_seconds: float = 60.0,
        *,
        credentials: Credentials | None = None,
    ) -> None:
        self.build = build
        # The endpoint checks signatures: builds call it back with its own key pair.
        self.credentials = credentials or Credentials("testing", "testing")
        self.settings = build.settings
        self.endpoint_url = endpoint_url
        self.deadline = build.start_time + build.settings.timeout_in_minutes * minute_seconds
        self.log = BuildLog(self.settings.region, build.log_group, build.log_stream)
        self.workdir: Path | None = None
        self.secondary_dirs: dict[str, Path] = {}
        self.session: ShellSession | None = None
        self.succeeding = True

    # -- the whole build ---------------------------------------------------

    def run(self) -> None:
        status = "FAILED"
        exported: list[tuple[str, str]] = []
        try:
            status, exported = self._run()
        except Exception as error:  # an emulator bug must not leave a build IN_PROGRESS
            logger.exception("build %s faulted", self.build.id)
            status = "FAULT"
            self._fail_current("FAULT", "CLIENT_ERROR", f"emulator error: {error!r}")
        finally:
            self._finalize(status, exported)

    def _finalize(self, status: str, exported: list[tuple[str, str]]) -> None:
        # Whatever fails here, the build must end: clients wait for buildComplete.
        # A stopped or timed-out build goes from that phase straight to COMPLETED, with no
        # FINALIZING phase (aws-cli's stop-build example and a timed-out sandbox in its
        # codebuild examples); the cleanup happens all the same.
        recorded = status not in ("STOPPED", "TIMED_OUT")
        if recorded:
            self.build.enter("FINALIZING")
        try:
            if self.session is not None:
                self.session.close()
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                WATCHDOG.dir_removed(str(self.workdir))
            if recorded:
                self.build.leave("SUCCEEDED")
            try:
                self.log.close()
            except Exception:
                logger.exception("flushing the logs of %s failed", self.build.id)
            self.build.finish(status, exported)

    def _run(self) -> tuple[str, list[tuple[str, str]]]:
        for phase in ("SUBMITTED", "QUEUED"):
            self.build.enter(phase)
            self.build.leave("SUCCEEDED")
        try:
            self._phase("PROVISIONING", self._provision)
            spec = self._phase("DOWNLOAD_SOURCE", self._download_source)
        except PhaseFailed:
            return "FAILED", []
        except Interrupted:
            return self._interrupted_status(), []
        outcome = self._command_phases(spec)
        self._log_background_output()
        exported = self._exported(spec)
        if outcome in ("STOPPED", "TIMED_OUT"):
            return outcome, exported
        return ("SUCCEEDED" if self.succeeding else "FAILED"), exported

    def _phase(self, name: str, body: Callable[[], T]) -> T:
        self.build.enter(name)
        self._check_interrupted()
        try:
            result = body()
        except PhaseFailed as failure:
            self._phase_complete(name, failure.status, failure.code, failure.message)
            raise
        self._check_interrupted()
        self._phase_complete(name, "SUCCEEDED")
        return result

    def _phase_complete(self, name: str, status: str, code: str = "", message: str = "") -> None:
        if name != "PROVISIONING":
            self.log.container(f"Phase complete: {name} State: {status}")
            self.log.container(f"Phase context status code: {code} Message: {message}")
        self.build.leave(status, [(code, message)])

    def _fail_current(self, status: str, code: str | None, message: str = "") -> None:
        """End the open phase, if any, with ``status`` and a context (none when ``code`` is None)."""
        with self.build.lock:
            open_phase = bool(self.build.phases) and self.build.phases[-1].end is None
        if open_phase:
            self.build.leave(status, [] if code is None else [(code, message)])

    # -- PROVISIONING and DOWNLOAD_SOURCE ----------------------------------

    def _provision(self) -> None:
        self.log.open()
        self.build.mark_logs_ready()
        self.log.container("Running on CodeBuild On-demand")
        self.log.container("Waiting for agent ping")
        self.log.container("Waiting for DOWNLOAD_SOURCE")

    def _download_source(self) -> Buildspec:
        # The opening lines are CodeBuild's, as public build logs show them (e.g.
        # aws-samples/mlops-e2e#68): ... "Waiting for DOWNLOAD_SOURCE", "Phase is
        # DOWNLOAD_SOURCE", "CODEBUILD_SRC_DIR=...", "YAML location is ...".
        self.log.container("Phase is DOWNLOAD_SOURCE")
        self.workdir = Path(tempfile.mkdtemp(prefix="cbdeploy-build-"))
        WATCHDOG.dir_created(str(self.workdir))  # removed even if the emulator is killed
        src = self.workdir / "src"
        src.mkdir()
        (self.workdir / "shell").mkdir()
        source = self.settings.source
        if source.get("type") == "S3":
            try:
                extract_zip(fetch_zip(source.get("location", ""), self.settings.source_version), src)
            except SourceError as error:
                raise PhaseFailed("CLIENT_ERROR", str(error)) from error
        for secondary in self.settings.secondary_sources:
            # Each in a directory of its own, named by CODEBUILD_SRC_DIR_<sourceIdentifier>.
            into = self.workdir / "secondary" / secondary["sourceIdentifier"]
            into.mkdir(parents=True)
            try:
                extract_zip(fetch_zip(secondary["location"], secondary.get("sourceVersion"),
                                      role="secondary"), into)
            except SourceError as error:
                raise PhaseFailed("CLIENT_ERROR", str(error)) from error
            self.secondary_dirs[secondary["sourceIdentifier"]] = into
        self.log.container(f"CODEBUILD_SRC_DIR={src}")
        text, location = self._buildspec_text(src)
        self.log.container(f"YAML location is {location}")
        try:
            spec = parse_buildspec(text)
        except BuildspecError as error:
            raise PhaseFailed("YAML_FILE_ERROR", str(error)) from error
        self.log.container("Processing environment variables")
        env = self._environment(spec, src)
        self.log.container(f"Moving to directory {src}")
        # Then, in public logs from 2018 to 2026: "Registering with agent", "Phases found
        # in YAML: N" and " PHASE: n commands" per phase (the cache lines between are left out).
        self.log.container("Registering with agent")
        self.log.container(f"Phases found in YAML: {len(spec.phases)}")
        for phase, phase_spec in spec.phases.items():
            self.log.container(f" {phase}: {len(phase_spec.commands)} commands")
        self.session = ShellSession(spec.shell, src, env, self.workdir / "shell")
        return spec

    def _buildspec_text(self, src: Path) -> tuple[str, str]:
        value = self.settings.source.get("buildspec") or ""
        if "\n" in value or value.lstrip().startswith(("version", "{")):
            # CodeBuild keeps an inline buildspec at /codebuild/readonly/buildspec.yml and
            # names that path (public logs, e.g. aws/aws-cdk#11769); ours has its own place.
            assert self.workdir is not None
            path = self.workdir / "readonly" / "buildspec.yml"
            path.parent.mkdir()
            path.write_text(value, encoding="utf-8")
            return value, str(path)
        if value.startswith("arn:aws:s3:::"):
            bucket, _, key = value[len("arn:aws:s3:::"):].partition("/")
            data = backends.read_object(bucket, key)
            if data is None:
                raise PhaseFailed("YAML_FILE_ERROR", f"buildspec {value} does not exist")
            return data.decode("utf-8", "replace"), value
        path = src / (value or "buildspec.yml")
        inside = os.path.realpath(path).startswith(os.path.realpath(src) + os.sep)
        if not inside or not path.is_file():
            raise PhaseFailed("YAML_FILE_ERROR", f"stat {path}: no such file or directory")
        return path.read_text(encoding="utf-8", errors="replace"), str(path)

    def _environment(self, spec: Buildspec, src: Path) -> dict[str, str]:
        """The build's environment: image, built-ins, buildspec, project, then StartBuild."""
        s = self.settings
        env = _image_environment()
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
                "AWS_REGION": s.region,
                "AWS_DEFAULT_REGION": s.region,
                "CODEBUILD_BUILD_ID": self.build.id,
                "CODEBUILD_BUILD_ARN": self.build.arn,
                "CODEBUILD_BUILD_NUMBER": str(self.build.number),
                "CODEBUILD_BUILD_IMAGE": str(s.environment.get("image", "")),
                "CODEBUILD_BUILD_URL": (
                    f"https://{s.region}.console.aws.amazon.com/codesuite/codebuild/"
                    f"{s.account}/projects/{s.project_name}/build/{self.build.id.replace(':', '%3A')}"
                ),
                "CODEBUILD_INITIATOR": s.initiator,
                "CODEBUILD_KMS_KEY_ID": s.encryption_key,
                "CODEBUILD_LOG_PATH": self.build.log_stream or "",
                "CODEBUILD_SRC_DIR": str(src),
                **{f"CODEBUILD_SRC_DIR_{name}": str(path) for name, path in self.secondary_dirs.items()},
                "CODEBUILD_START_TIME": str(int(self.build.start_time * 1000)),
                "CODEBUILD_SOURCE_VERSION": s.source_version or "",
                "CODEBUILD_RESOLVED_SOURCE_VERSION": s.source_version or "",
                "CODEBUILD_SOURCE_REPO_URL": (
                    f"s3://{s.source.get('location', '')}" if s.source.get("type") == "S3" else ""
                ),
                "CODEBUILD_CI": "true",
            }
        )
        assert self.workdir is not None
        env.update(docker.build_environment(bool(s.environment.get("privilegedMode")), self.workdir))
        env.update(spec.variables)
        kinds = {v.get("type", "PLAINTEXT") for v in s.environment.get("environmentVariables", [])}
        if spec.parameter_store or spec.secrets_manager or kinds - {"PLAINTEXT"}:
            self.log.container("Decrypting parameter store environment variables")
        for name, param in spec.parameter_store.items():
            env[name] = self._resolve("PARAMETER_STORE", param)
        for name, ref in spec.secrets_manager.items():
            env[name] = self._resolve("SECRETS_MANAGER", ref)
        for variable in s.environment.get("environmentVariables", []):
            env[variable["name"]] = self._resolve(variable.get("type", "PLAINTEXT"), variable["value"])
        key_id = env.get("AWS_ACCESS_KEY_ID", "")
        if re.fullmatch(r"\w{16,128}", key_id):  # IAM's shape of an access key id
            self.log.mask.add(key_id)
        return env

    def _resolve(self, kind: str, value: str) -> str:
        try:
            if kind == "PARAMETER_STORE":
                resolved = backends.parameter_value(self.settings.region, value)
            elif kind == "SECRETS_MANAGER":
                resolved = backends.secret_value(self.settings.region, value)
            else:
                return value
        except backends.ValueNotFound as error:
            code = "Decrypted Variables Error" if kind == "PARAMETER_STORE" else "Secrets Manager Error"
            raise PhaseFailed(code, str(error)) from error
        # CodeBuild shows these values as *** wherever they appear in the log.
        self.log.mask.add(resolved)
        return resolved

    # -- INSTALL .. POST_BUILD ---------------------------------------------

    def _command_phases(self, spec: Buildspec) -> str:
        """Run the command phases; 'DONE', or STOPPED / TIMED_OUT."""
        for name in COMMAND_PHASES:
            phase = spec.phases.get(name)
            self.build.enter(name)
            self.log.container(f"Entering phase {name}")
            ok, context = True, ("", "")
            try:
                ok, context = self._commands(phase.commands if phase else ())
                ok_finally, context_finally = self._commands(phase.finally_commands if phase else ())
                if ok and not ok_finally:
                    ok, context = ok_finally, context_finally
            except Interrupted:
                return self._interrupted_status()
            self._phase_complete(name, "SUCCEEDED" if ok else "FAILED", *context)
            if ok:
                continue
            on_failure = phase.on_failure if phase else None
            if on_failure == "CONTINUE":
                continue
            if on_failure == "ABORT" or name in ("INSTALL", "PRE_BUILD"):
                return "DONE"
        self.build.enter("UPLOAD_ARTIFACTS")
        self.log.container("Entering phase UPLOAD_ARTIFACTS")
        self._phase_complete("UPLOAD_ARTIFACTS", "SUCCEEDED")
        return "DONE"

    def _commands(self, commands: tuple[str, ...]) -> tuple[bool, tuple[str, str]]:
        assert self.session is not None
        splitter = LineSplitter(self.log)
        for command in commands:
            self.session.drain(splitter.feed)
            splitter.finish()
            self.log.container(f"Running command {command}")
            code = self.session.run(
                command,
                env={"CODEBUILD_BUILD_SUCCEEDING": "1" if self.succeeding else "0"},
                on_output=splitter.feed,
                interrupted=self._interrupted,
            )
            splitter.finish()
            if code is None:
                raise Interrupted()
            if code != 0:
                self.succeeding = False
                self.log.container(f"Command did not exit successfully {command} exit status {code}")
                message = f"Error while executing command: {command}. Reason: exit status {code}"
                # Reported by BatchGetBuilds, not the log: masked all the same.
                return False, ("COMMAND_EXECUTION_ERROR", self.log.mask(message))
        return True, ("", "")

    def _log_background_output(self) -> None:
        """Log what background processes printed after the last command."""
        if self.session is not None:
            splitter = LineSplitter(self.log)
            self.session.drain(splitter.feed)
            splitter.finish()

    def _exported(self, spec: Buildspec) -> list[tuple[str, str]]:
        if self.session is None or not spec.exported_variables:
            return []
        values = self.session.values(list(spec.exported_variables))
        return [(name, values.get(name, "")) for name in spec.exported_variables]

    # -- stop and timeout --------------------------------------------------

    def _interrupted(self) -> bool:
        return self.build.stop_requested.is_set() or time.time() >= self.deadline

    def _check_interrupted(self) -> None:
        if self._interrupted():
            raise Interrupted()

    def _interrupted_status(self) -> str:
        """STOPPED or TIMED_OUT; ends the current phase with that status."""
        if self.build.stop_requested.is_set():
            # CodeBuild gives the stopped phase no context (aws-cli's stop-build example).
            self._fail_current("STOPPED", None)
            return "STOPPED"
        # Code and message (trailing space included) as in aws-cli's codebuild examples.
        self._fail_current("TIMED_OUT", "BUILD_TIMED_OUT", "Build has timed out. ")
        return "TIMED_OUT"


def _image_environment() -> dict[str, str]:
    """What the build "image" (this host) provides: PATH led by this Python's bin dir."""
    env = {
        name: os.environ[name]
        for name in ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "USER", "LOGNAME", "TMPDIR", "TZ")
        if name in os.environ
    }
    host_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), host_path])
    return env
