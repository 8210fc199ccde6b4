"""Run the plan's steps in order; the first failing step stops the pipeline.

How a step runs: all its commands go into ONE bash process (so ``cd`` and
``export`` carry from one command to the next, as in a CodeBuild phase), with
``set -eo pipefail`` and an explicit status check after every command, so a
command fails the step as soon as it exits non-zero (even ``false && true``,
which ``set -e`` alone lets through). Before each command bash prints
``$ <command>``. The step's stdout and stderr go through one pipe and are
copied to the runner's stdout chunk by chunk as they arrive (nothing added to
its lines); when a step's output does not end with a newline, one is added so
the next marker starts its own line. stdin is /dev/null: nobody can answer a
prompt inside a build.

A step of kind ``images`` runs no commands: the runner builds and pushes the
plan's ``images`` (``runner.images``) and every later step also sees their
``IMAGE_URI_<NAME>`` and ``IMAGE_TAG_<NAME>``, which lead the reported outputs.

Every step sees the build's environment, plus ``STAGE``, ``REGION`` and
``CBDEPLOY_PROJECT`` from the plan, plus a script's own ``environment``.
The environment is never printed, and what the runner prints itself (markers,
its own lines) has the values of the plan's ``secretNames`` variables and AWS
access key ids replaced with ``***`` (``runner.masking``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from .images import ImageBuilder, ImageError, ImageSpec, load_images
from .markers import emit, say
from .masking import Masker, masked, secret_values
from .script import step_script

# CloudWatch Logs takes events up to 256 KiB; keep the outputs marker well below.
MAX_OUTPUTS_BYTES = 200_000
PIPE_GRACE_SECONDS = 1.0
# What stopping a build sends (CodeBuild, the emulator: the whole process group).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class PlanError(Exception):
    """The plan file is missing or malformed (a cbdeploy bug or a hand-edited plan)."""


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    commands: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None


@dataclass(frozen=True)
class Plan:
    project: str
    stage: str
    region: str | None
    outputs_file: str | None
    steps: tuple[Step, ...]
    secret_names: tuple[str, ...] = ()  # variables whose values are never printed
    images: tuple[ImageSpec, ...] = ()  # built and pushed by the step of kind "images"
    # A workspace's service: its folder (POSIX, relative to the shipped workspace root),
    # where the pipeline runs; None: the project is the root itself.
    folder: str | None = None


def load_plan(path: Path) -> Plan:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PlanError(f"cannot read the plan {path}: {error}") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise PlanError(f"{path} is not a version 1 cbdeploy plan")
    try:
        steps = tuple(
            Step(
                name=str(s["name"]),
                kind=str(s["kind"]),
                commands=tuple(str(c) for c in s["commands"]),
                environment={str(k): str(v) for k, v in (s.get("environment") or {}).items()},
                working_directory=s.get("workingDirectory"),
            )
            for s in data["steps"]
        )
        return Plan(
            project=str(data["project"]),
            stage=str(data["stage"]),
            region=data.get("region"),
            outputs_file=data.get("outputsFile"),
            steps=steps,
            secret_names=tuple(str(n) for n in data.get("secretNames") or ()),
            images=load_images(data.get("images") or ()),
            folder=_folder(data.get("folder")),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise PlanError(f"{path} is malformed: {error!r}") from None


def _folder(value: Any) -> str | None:
    if value is None or value == ".":
        return None
    parts = str(value).split("/")
    if not value or str(value).startswith("/") or ".." in parts:
        raise PlanError(f"the plan's folder {value!r} is not a folder inside the project")
    return str(value)


def step_environment(plan: Plan, step: Step, base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    region = (
        plan.region
        or base.get("REGION")
        or base.get("AWS_REGION")
        or base.get("AWS_DEFAULT_REGION", "")
    )
    env.update({"STAGE": plan.stage, "REGION": region, "CBDEPLOY_PROJECT": plan.project})
    env.update(step.environment)
    return env


@dataclass
class Runner:
    """Executes a plan under ``root``; output goes to ``out`` (the build log)."""

    plan: Plan
    root: Path
    out: TextIO = sys.stdout
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], float] = time.monotonic
    _child: subprocess.Popen[bytes] | None = None
    _stop_signal: int | None = None
    _killed_by: int | None = None  # the signal that killed the last step's shell, if one did
    # IMAGE_URI_<NAME> / IMAGE_TAG_<NAME> once the images step ran: later steps' environment
    # and outputs.
    image_variables: dict[str, str] = field(default_factory=dict)
    _images: ImageBuilder | None = None  # while the images step runs

    def __post_init__(self) -> None:
        # Everything the runner writes itself goes through the mask; a step's own
        # output goes straight to the descriptor (see _Pump), masked by CodeBuild.
        masker = Masker(secret_values(self.plan.secret_names, self.environ))
        self.out = masked(self.out, masker)

    def run(self) -> int:
        """Run every step; returns the process exit status (0 when all succeeded).

        A step ended because the build is being stopped (a SIGTERM or SIGINT
        reached the runner, or killed the step's shell) is reported as
        ``stopped``, not as failed: its ``step-end`` and the ``pipeline-end``
        say ``"status": "stopped"`` and no step failed. The exit status is
        then 128 + the signal's number, as a shell reports it.
        """
        total = len(self.plan.steps)
        failed: Step | None = None
        stopped: Step | None = None
        status = 0
        for index, step in enumerate(self.plan.steps, start=1):
            if self._stop_signal is not None:
                stopped, status = step, 128 + self._stop_signal
                say(f"stopped by signal {self._stop_signal} before step {step.name}", self.out)
                break
            emit("step-start", self.out, step=step.name, index=index, total=total)
            started = self.clock()
            code = self._run_step(step)
            if self._stop_signal is None and self._killed_by in STOP_SIGNALS:
                # The step's shell itself was killed by a stop signal that has
                # not reached us (yet): the build is being stopped all the same.
                self._stop_signal = self._killed_by
            if self._stop_signal is not None and code == 0:
                # Asked to stop (the build is being stopped): no further step runs.
                code = 128 + self._stop_signal
            duration = round(self.clock() - started, 3)
            outcome = "ok" if code == 0 else "failed"
            if code != 0 and self._stop_signal is not None:
                outcome = "stopped"
            emit("step-end", self.out, step=step.name, status=outcome, exitCode=code,
                 duration=duration)
            if outcome == "stopped":
                stopped, status = step, code
                say(f"step {step.name} stopped by signal {self._stop_signal}: the build is "
                    "being stopped", self.out)
                break
            if code != 0:
                failed, status = step, code
                say(
                    f"step {step.name} failed with exit status {code}; the pipeline stops here",
                    self.out,
                )
                break
        if stopped is None and (failed is None or failed.kind == "afterDeploy"):
            self._report_outputs()
        if stopped is not None:
            emit("pipeline-end", self.out, status="stopped", stoppedStep=stopped.name,
                 exitCode=status)
        else:
            emit(
                "pipeline-end",
                self.out,
                status="ok" if failed is None else "failed",
                failedStep=failed.name if failed else None,
                exitCode=status,
            )
        return 0 if failed is None and stopped is None else min(max(status, 1), 255)

    def _run_step(self, step: Step) -> int:
        self._killed_by = None
        if step.kind == "images":
            return self._build_images()
        cwd = self.root / step.working_directory if step.working_directory else self.root
        if not cwd.is_dir():
            say(
                f"working directory {step.working_directory} of step {step.name} does not exist",
                self.out,
            )
            return 1
        self.out.flush()
        try:
            # No start_new_session: whoever stops the build kills our process group,
            # and the step's processes must go with it.
            self._child = subprocess.Popen(
                ["bash", "-c", step_script(step.commands)],
                cwd=str(cwd),
                env=step_environment(self.plan, step, {**self.environ, **self.image_variables}),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except OSError as error:
            say(f"cannot start bash for step {step.name}: {error}", self.out)
            return 127
        assert self._child.stdout is not None
        pump = _Pump(self._child.stdout.fileno(), self.out)
        pump.start()
        code = self._child.wait()
        # A background process the step started may hold the pipe open: stop waiting
        # for it after a moment (its output still flows through the pump).
        pump.join(timeout=PIPE_GRACE_SECONDS)
        if not pump.ends_with_newline:
            # Markers must start a line of their own.
            self.out.write("\n")
            self.out.flush()
        self._child = None
        self._killed_by = -code if code < 0 else None
        # Killed by a signal: report it the way a shell does.
        return 128 - code if code < 0 else code

    def _build_images(self) -> int:
        region = step_environment(self.plan, Step("images", "images", ()), self.environ)["REGION"]
        builder = ImageBuilder(
            self.plan.images, self.root, self.out, self.environ, self.plan.stage, region
        )
        self._images = builder
        try:
            built = builder.run()
        except ImageError as error:
            say(f"cannot build the images: {error}", self.out)
            return 1
        finally:
            self._images = None
        for image in built:
            self.image_variables[f"IMAGE_URI_{image.spec.env_suffix}"] = image.uri
            self.image_variables[f"IMAGE_TAG_{image.spec.env_suffix}"] = image.tag
        return 0

    def forward_signal(self, signum: int, _frame: FrameType | None) -> None:
        """A stop signal: pass it to the running step, which ends as stopped; no step follows."""
        self._stop_signal = signum
        if self._child is not None:
            self._child.send_signal(signum)
        if self._images is not None:
            self._images.stop(signum)

    def _report_outputs(self) -> None:
        """The outputs file's object, after the images' IMAGE_URI_/IMAGE_TAG_ variables."""
        outputs: dict[str, Any] = dict(sorted(self.image_variables.items()))
        written = self._outputs_file()
        if written is not None and len(json.dumps(written)) > MAX_OUTPUTS_BYTES:
            say(f"warning: the outputs file {self.plan.outputs_file} is too large to report", self.out)
            written = None
        outputs.update(written or {})
        if outputs or written is not None:
            emit("outputs", self.out, outputs=outputs)

    def _outputs_file(self) -> dict[str, Any] | None:
        name = self.plan.outputs_file
        if not name:
            return None
        path = self.root / name
        try:
            outputs = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            say(f"warning: the outputs file {name} was not written; no outputs to report", self.out)
            return None
        except (OSError, ValueError) as error:
            say(
                f"warning: the outputs file {name} is not valid JSON ({error}); no outputs",
                self.out,
            )
            return None
        if not isinstance(outputs, dict):
            say(
                f"warning: the outputs file {name} does not hold a JSON object; no outputs",
                self.out,
            )
            return None
        return outputs


class _Pump(threading.Thread):
    """Copy a step's output to ``out`` as it comes, chunk by chunk, unchanged."""

    def __init__(self, fd: int, out: TextIO) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.out = out
        self.ends_with_newline = True

    def run(self) -> None:
        try:
            out_fd: int | None = self.out.fileno()
        except (AttributeError, OSError, ValueError):
            out_fd = None
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.ends_with_newline = chunk.endswith(b"\n")
            if out_fd is not None:
                _write_all(out_fd, chunk)
            else:
                self.out.write(chunk.decode("utf-8", "replace"))
                self.out.flush()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def install_signal_forwarding(runner: Runner) -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, runner.forward_signal)
