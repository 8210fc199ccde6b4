"""Build and push the plan's ``images`` (the ``images`` step), in parallel.

For each image: log Docker in to ECR (``runner.ecr``), build the image from
its context, push it with the tag ``<commit>[-dirty]`` (never only
``latest``), and report ``IMAGE_URI_<NAME>`` (``<repository uri>@sha256:...``)
and ``IMAGE_TAG_<NAME>`` to the later steps and as outputs.

The layer cache lives in the image's own repository, so a build on a fresh
host (every CodeBuild build) reuses the layers of any earlier build of the
stage. How, depends on what the build image's Docker offers
(:func:`choose_builder`):

- ``buildx``: buildx with a builder that exports caches (docker-container
  driver, created when needed): BuildKit's registry cache with ``mode=max``
  at ``<repository>:cbdeploy-cache-<stage>``, every stage's layers included.
- ``buildkit``: BuildKit through ``docker build`` (buildx with the docker
  driver, or a client older than 23): inline cache metadata in the image,
  which is also pushed as ``cbdeploy-cache-<stage>`` and named in ``--cache-from``.
- ``legacy``: the classic builder: pull ``cbdeploy-cache-<stage>`` (when
  there is one) and build with ``--cache-from`` it.

``IMAGE_BUILDER`` (buildx, buildkit or legacy) in the build's environment
picks one instead. ``cache = false`` builds without any of that. Each image's output lines are
prefixed with ``[<name>]`` since the builds run side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import ecr
from .markers import say

BUILDERS = ("buildx", "buildkit", "legacy")
BUILDX_BUILDER = "cbdeploy"


class ImageError(Exception):
    """An image could not be built or pushed; the message says what is missing or failed."""


@dataclass(frozen=True)
class ImageSpec:
    name: str
    env_suffix: str
    context: str
    dockerfile: str
    repository: str
    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    platform: str | None = None
    cache: bool = True


@dataclass(frozen=True)
class Command:
    """One docker invocation: ``argv``, extra environment, optional stdin text."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: str | None = None
    may_fail: bool = False  # e.g. pulling a cache image that does not exist yet


@dataclass(frozen=True)
class Built:
    spec: ImageSpec
    uri: str  # <registry>/<repository>@sha256:...
    tag: str


def load_images(data: Sequence[Any]) -> tuple[ImageSpec, ...]:
    return tuple(
        ImageSpec(
            name=str(i["name"]),
            env_suffix=str(i["envSuffix"]),
            context=str(i["context"]),
            dockerfile=str(i["dockerfile"]),
            repository=str(i["repository"]),
            build_args=tuple((str(k), str(v)) for k, v in (i.get("buildArgs") or {}).items()),
            target=i.get("target"),
            platform=i.get("platform"),
            cache=bool(i.get("cache", True)),
        )
        for i in data
    )


def image_tag(environ: Mapping[str, str]) -> str:
    """``<commit[:12]>`` plus ``-dirty`` for uncommitted changes; ``build-<n>`` outside git."""
    commit = environ.get("CBDEPLOY_GIT_COMMIT", "")
    if commit:
        dirty = environ.get("CBDEPLOY_GIT_DIRTY") == "true"
        return commit[:12] + ("-dirty" if dirty else "")
    return "build-" + (environ.get("CODEBUILD_BUILD_NUMBER") or str(int(time.time())))


def cache_ref(repository_uri: str, stage: str) -> str:
    return f"{repository_uri}:cbdeploy-cache-{stage}"


def build_commands(
    spec: ImageSpec, builder: str, repository_uri: str, tag: str, stage: str, metadata: str
) -> list[Command]:
    """The docker commands that build and push ``spec`` with ``builder`` (data, for tests)."""
    image = f"{repository_uri}:{tag}"
    cache = cache_ref(repository_uri, stage)
    dockerfile = f"{spec.context.rstrip('/')}/{spec.dockerfile}"
    options: list[str] = ["-f", dockerfile, "-t", image]
    if spec.target:
        options += ["--target", spec.target]
    if spec.platform:
        options += ["--platform", spec.platform]
    for key, value in spec.build_args:
        options += ["--build-arg", f"{key}={value}"]
    if builder == "buildx":
        if spec.cache:
            options += [
                "--cache-from", f"type=registry,ref={cache}",
                "--cache-to",
                f"type=registry,ref={cache},mode=max,image-manifest=true,oci-mediatypes=true",
            ]
        argv = ("docker", "buildx", "build", "--builder", BUILDX_BUILDER, "--progress", "plain",
                *options, "--push", "--metadata-file", metadata, spec.context)
        return [Command(argv)]
    commands: list[Command] = []
    if spec.cache:
        if builder == "legacy":
            commands.append(Command(("docker", "pull", cache), may_fail=True))
        options += ["--cache-from", cache, "--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    if builder == "buildkit":
        argv = ("docker", "build", "--progress", "plain", *options, spec.context)
        commands.append(Command(argv, {"DOCKER_BUILDKIT": "1"}))
    else:
        commands.append(Command(("docker", "build", *options, spec.context), {"DOCKER_BUILDKIT": "0"}))
    commands.append(Command(("docker", "push", image)))
    if spec.cache:
        commands.append(Command(("docker", "tag", image, cache)))
        commands.append(Command(("docker", "push", cache)))
    return commands


@dataclass
class ImageBuilder:
    """Builds ``images`` under ``root``, writing their output (prefixed) to ``out``."""

    images: tuple[ImageSpec, ...]
    root: Path
    out: TextIO
    environ: Mapping[str, str]
    stage: str
    region: str
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _children: set[subprocess.Popen[bytes]] = field(default_factory=set)
    _stopped: int | None = None

    def stop(self, signum: int) -> None:
        """Pass ``signum`` to the running docker commands; start no more."""
        with self._lock:
            self._stopped = signum
            for child in self._children:
                child.send_signal(signum)

    def run(self) -> list[Built]:
        """Build and push every image; raises ImageError on the first problem."""
        self._check_engine()
        builder = self.choose_builder()
        say(f"building {len(self.images)} image(s) with the {builder} builder", self.out)
        try:
            login = ecr.login(self.environ, self.region)
        except ecr.EcrError as error:
            raise ImageError(f"cannot log Docker in to ECR: {error}") from None
        self._run("login", Command(
            ("docker", "login", "--username", login.username, "--password-stdin", login.registry),
            stdin=login.password,
        ))
        tag = image_tag(self.environ)
        with ThreadPoolExecutor(max_workers=len(self.images), thread_name_prefix="image") as pool:
            futures = [
                pool.submit(self._build, spec, builder, f"{login.registry}/{spec.repository}", tag)
                for spec in self.images
            ]
            errors: list[str] = []
            built: list[Built] = []
            for future in futures:
                try:
                    built.append(future.result())
                except ImageError as error:
                    errors.append(str(error))
        if errors:
            raise ImageError("; ".join(errors))
        return built

    # ------------------------------------------------------------------ engine

    def _check_engine(self) -> None:
        if shutil.which("docker", path=self.environ.get("PATH")) is None:
            raise ImageError(
                "docker is not installed in this build image, so [images] cannot be built; "
                "use an image with Docker (aws/codebuild/standard:7.0 has it) or, locally, "
                "install docker.io"
            )
        result = self._quiet(("docker", "version"))  # exits non-zero when no daemon answers
        if result.returncode != 0:
            lines = (result.stderr + "\n" + result.stdout).strip().splitlines()
            # Docker 20.10 prints a template error before the reason: prefer the daemon line.
            detail = [line for line in lines if "daemon" in line.lower()] or lines
            raise ImageError(
                "no Docker engine answers ("
                + (detail[-1] if detail else f"docker info exit {result.returncode}")
                + "); [images] need privileged mode on CodeBuild (cbdeploy sets it when images "
                "are declared) and, with the local emulator, a running dockerd on the host"
            )

    def choose_builder(self) -> str:
        forced = self.environ.get("IMAGE_BUILDER", "")
        if forced in BUILDERS:
            return forced
        has_buildx = self._quiet(("docker", "buildx", "version")).returncode == 0
        if has_buildx and self._container_builder():
            return "buildx"
        version = self._quiet(("docker", "version", "--format", "{{.Client.Version}}")).stdout
        try:
            major = int(version.strip().split(".")[0])
        except ValueError:
            major = 0
        return "buildkit" if has_buildx or 0 < major < 23 else "legacy"

    def _container_builder(self) -> bool:
        """A buildx builder that can export a registry cache (docker-container driver)."""
        if self._quiet(("docker", "buildx", "inspect", BUILDX_BUILDER)).returncode == 0:
            return True
        created = self._quiet(
            ("docker", "buildx", "create", "--name", BUILDX_BUILDER, "--driver", "docker-container")
        )
        return created.returncode == 0

    def _quiet(self, argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                argv, cwd=self.root, env=dict(self.environ), capture_output=True, text=True,
                stdin=subprocess.DEVNULL, timeout=120, check=False,
            )
        except (OSError, subprocess.SubprocessError) as error:
            return subprocess.CompletedProcess(argv, 127, "", str(error))

    # ------------------------------------------------------------------ one image

    def _build(self, spec: ImageSpec, builder: str, repository_uri: str, tag: str) -> Built:
        with tempfile.TemporaryDirectory(prefix="cbdeploy-image-") as scratch:
            metadata = os.path.join(scratch, "metadata.json")
            for command in build_commands(spec, builder, repository_uri, tag, self.stage, metadata):
                code = self._run(spec.name, command)
                if code != 0 and not command.may_fail:
                    raise ImageError(
                        f"image {spec.name}: {' '.join(command.argv[:3])} failed with exit status {code}"
                    )
            digest = self._digest(spec, builder, repository_uri, tag, metadata)
        self._print(spec.name, f"pushed {repository_uri}:{tag} ({digest})\n")
        return Built(spec=spec, uri=f"{repository_uri}@{digest}", tag=tag)

    def _digest(
        self, spec: ImageSpec, builder: str, repository_uri: str, tag: str, metadata: str
    ) -> str:
        if builder == "buildx":
            try:
                with open(metadata, encoding="utf-8") as handle:
                    return str(json.load(handle)["containerimage.digest"])
            except (OSError, ValueError, KeyError) as error:
                raise ImageError(f"image {spec.name}: no digest from buildx: {error!r}") from None
        result = self._quiet(
            ("docker", "image", "inspect", "--format", "{{json .RepoDigests}}", f"{repository_uri}:{tag}")
        )
        try:
            digests = json.loads(result.stdout or "[]")
        except ValueError:
            digests = []
        for entry in digests:
            name, _, digest = str(entry).partition("@")
            if name == repository_uri and digest.startswith("sha256:"):
                return digest
        raise ImageError(f"image {spec.name}: the pushed image has no digest for {repository_uri}")

    def _run(self, name: str, command: Command) -> int:
        env = {**self.environ, **command.env}
        with self._lock:
            if self._stopped is not None:
                raise ImageError(f"image {name}: stopped by signal {self._stopped}")
        try:
            child = subprocess.Popen(
                command.argv, cwd=self.root, env=env,
                stdin=subprocess.PIPE if command.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
        except OSError as error:
            raise ImageError(f"image {name}: cannot run {command.argv[0]}: {error}") from None
        with self._lock:
            self._children.add(child)
        shown = " ".join(command.argv)
        self._print(name, f"$ {shown}\n")
        if command.stdin is not None:
            assert child.stdin is not None
            child.stdin.write(command.stdin.encode())
            child.stdin.close()
        assert child.stdout is not None
        for raw in child.stdout:
            self._print(name, raw.decode("utf-8", "replace"))
        code = child.wait()
        with self._lock:
            self._children.discard(child)
        return code

    def _print(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"[{name}] {line if line.endswith(chr(10)) else line + chr(10)}")
            self.out.flush()
