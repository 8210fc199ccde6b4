"""The config's data: frozen dataclasses for one stage's merged ``cbdeploy.toml``.

Read with :func:`cbdeploy.client.config.load.load_config`; validated in ``client/config/schema.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cbdeploy.client.config.images import ImageConfig
from cbdeploy.client.target import STAGE_RE as STAGE_RE

COMPUTE_TYPES = (
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
    "BUILD_LAMBDA_1GB",
    "BUILD_LAMBDA_2GB",
    "BUILD_LAMBDA_4GB",
    "BUILD_LAMBDA_8GB",
    "BUILD_LAMBDA_10GB",
)
ENVIRONMENT_TYPES = (
    "LINUX_CONTAINER",
    "LINUX_GPU_CONTAINER",
    "ARM_CONTAINER",
    "LINUX_LAMBDA_CONTAINER",
    "ARM_LAMBDA_CONTAINER",
)
CACHE_TYPES = ("none", "local", "s3")
CACHE_MODES = ("docker-layer", "source", "custom")
# The name goes into `cbdeploy-<name>_<stage>` (CodeBuild project, IAM role:
# 64 characters at most, with a 12-character stage) and into S3 keys (client/infra/names.py).
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
NAME_MAX = 40
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# cbdeploy sets these itself; CodeBuild rejects names starting with CODEBUILD_.
RESERVED_ENV = ("STAGE", "REGION", "CBDEPLOY_PROJECT")
RESERVED_ENV_PREFIXES = ("CODEBUILD_", "CBDEPLOY_")
SCRIPT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SSM_NAME_RE = re.compile(r"^/?[A-Za-z0-9_.\-/]+$")
POLICY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")

# What a build can run, checked before anything is created (else the build fails
# only after bootstrap and upload). CodeBuild's StartBuild refuses a variable of
# more than 4096 characters ("EnvironmentVariable should be at most 4096
# characters"); an inline buildspec holds at most 25,600 characters (see
# aws/aws-cdk#14974). Each step runs as one ``bash -c`` script, one execve
# argument: Linux caps a single argument or NAME=value string at 32 pages,
# 128 KiB (MAX_ARG_STRLEN, execve(2)), and all of them together at a quarter of
# the stack limit, 2 MiB by default (ARG_MAX); cbdeploy gives the variables it
# sets half of that, leaving the rest to the image's own environment.
ENV_VALUE_MAX = 4096
BUILDSPEC_MAX = 25600
ARG_STRLEN_MAX = 128 * 1024
ENV_TOTAL_MAX = 1024 * 1024


@dataclass(frozen=True)
class Pipeline:
    install: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    deploy: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hooks:
    before_deploy: tuple[str, ...] = ()
    after_deploy: tuple[str, ...] = ()


@dataclass(frozen=True)
class Script:
    """``[scripts.<name>]``: commands run as one hook step, with their own environment."""

    name: str
    commands: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None


@dataclass(frozen=True)
class CacheConfig:
    """``codebuild.cache``: ``type`` none/local/s3; local ``modes``; custom ``paths``."""

    type: str = "none"
    modes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeBuildConfig:
    compute_type: str = "BUILD_GENERAL1_SMALL"
    image: str = "aws/codebuild/standard:7.0"
    privileged_mode: bool = False
    timeout_in_minutes: int = 60
    policies: tuple[str, ...] = ()
    buildspec: str | None = None
    ecr_login: bool = False
    cache: CacheConfig = CacheConfig()
    environment_type: str = "LINUX_CONTAINER"


@dataclass(frozen=True)
class PackageConfig:
    include_submodules: bool = False
    follow_external_links: bool = False


@dataclass(frozen=True)
class ProjectConfig:
    """The merged config for one stage. ``path`` is the file, ``root`` the project."""

    name: str
    stage: str
    root: Path
    path: Path
    pipeline: Pipeline = Pipeline()
    hooks: Hooks = Hooks()
    scripts: Mapping[str, Script] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    # Each secret's key in the file (``secrets.X`` or ``stages.<stage>.secrets.X``).
    secret_keys: Mapping[str, str] = field(default_factory=dict)
    codebuild: CodeBuildConfig = CodeBuildConfig()
    outputs_file: str | None = None
    confirm: bool = False
    package: PackageConfig = PackageConfig()
    images: Mapping[str, ImageConfig] = field(default_factory=dict)  # [images.<name>]
