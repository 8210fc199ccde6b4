"""Preflight: check that every secret the config references exists, before anything is created.

CodeBuild resolves ``[secrets]`` only when the build starts: a parameter or
secret that does not exist fails the build in DOWNLOAD_SOURCE, after the bucket,
role, project and upload were made. This check asks first, without reading any
value: SSM ``DescribeParameters`` filtered on the exact name, Secrets Manager
``DescribeSecret`` (which also tells the version stages and ids, so a reference
to a missing version is caught too). When the deployer may not make these calls
(AccessDenied) the check says so at debug level and lets the build find out.

:func:`references` is the plan (from the config alone); :func:`find_missing`
asks AWS; :func:`check_secrets` raises one :class:`ConfigError` naming each
missing reference's config key and line and the command that creates it.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cbdeploy.client.config.load import locate
from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.config.schema import secret_reference
from cbdeploy.client.errors import AccessDeniedError, ConfigError

logger = logging.getLogger(__name__)


class SecretsDoor(Protocol):
    """The two calls of :class:`client.aws.client.AwsClient` the preflight makes."""

    region: str

    def account_id(self) -> str: ...

    def parameter_exists(self, name: str) -> bool: ...

    def describe_secret(self, secret_id: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Reference:
    """One ``[secrets]`` entry: its key in the file and what it points at."""

    key: str  # "secrets.DB_URL" or "stages.prod.secrets.DB_URL"
    reference: str  # as written: "ssm:/app/db", "secretsmanager:app/token:apiToken"
    kind: str  # PARAMETER_STORE or SECRETS_MANAGER
    name: str  # the parameter name, or the secret's name or ARN
    json_key: str = ""
    version_stage: str = ""
    version_id: str = ""


@dataclass(frozen=True)
class Missing:
    reference: Reference
    what: str  # "does not exist", "has no version labelled AWSPREVIOUS" ...


def references(config: ProjectConfig) -> tuple[Reference, ...]:
    """The config's secret references, in the file's order (pure: no AWS)."""
    found = []
    for variable, written in config.secrets.items():
        key = config.secret_keys.get(variable, f"secrets.{variable}")
        kind, value = secret_reference(written)
        if kind == "PARAMETER_STORE":
            found.append(Reference(key, written, kind, value))
            continue
        # secret-id[:json-key[:version-stage[:version-id]]]; an ARN id holds 7 parts itself.
        parts = value.split(":")
        id_parts = 7 if value.startswith("arn:") else 1
        extra = [*parts[id_parts:], "", "", ""]
        found.append(
            Reference(
                key, written, kind, ":".join(parts[:id_parts]), extra[0], extra[1], extra[2]
            )
        )
    return tuple(found)


def find_missing(aws: SecretsDoor, wanted: tuple[Reference, ...]) -> list[Missing]:
    """Ask AWS about each reference; those that certainly do not resolve.

    A call the credentials may not make is logged at debug level and skipped.
    """
    missing: list[Missing] = []
    for ref in wanted:
        try:
            if ref.kind == "PARAMETER_STORE":
                if not aws.parameter_exists(ref.name):
                    missing.append(Missing(ref, "does not exist"))
                continue
            if _elsewhere(ref.name, aws):
                # Another account's or region's secret: DescribeSecret here cannot tell.
                logger.debug("Preflight: not checking %s (another account or region).", ref.name)
                continue
            secret = aws.describe_secret(ref.name)
        except AccessDeniedError as error:
            logger.debug(
                "Preflight: cannot check %s (%s); the build will tell.", ref.reference, error
            )
            continue
        if secret is None:
            missing.append(Missing(ref, "does not exist"))
            continue
        problem = (
            "is scheduled for deletion"
            if secret.get("DeletedDate")
            else _version_problem(ref, secret.get("VersionIdsToStages") or {})
        )
        if problem:
            missing.append(Missing(ref, problem))
    return missing


def _elsewhere(secret_id: str, aws: SecretsDoor) -> bool:
    if not secret_id.startswith("arn:"):
        return False
    _, _, _, region, account, *_ = secret_id.split(":")
    return region != aws.region or account != aws.account_id()


def _version_problem(ref: Reference, versions: Mapping[str, Any]) -> str:
    if ref.version_id and ref.version_id not in versions:
        return f"has no version {ref.version_id}"
    if ref.version_stage:
        stages = (
            versions.get(ref.version_id, ())
            if ref.version_id
            else [s for labels in versions.values() for s in labels]
        )
        if ref.version_stage not in stages:
            return f"has no version labelled {ref.version_stage}"
    return ""


def create_command(ref: Reference, region: str) -> str:
    """The AWS CLI command that creates what ``ref`` points at (the value left to fill in)."""
    if ref.kind == "PARAMETER_STORE":
        return (
            f"aws ssm put-parameter --region {region} --name {shlex.quote(ref.name)} "
            "--type SecureString --value '...'"
        )
    value = f'{{"{ref.json_key}": "..."}}' if ref.json_key else "..."
    name = ref.name.split(":")[6] if ref.name.startswith("arn:") else ref.name
    return (
        f"aws secretsmanager create-secret --region {region} --name {shlex.quote(name)} "
        f"--secret-string {shlex.quote(value)}"
    )


def check_secrets(aws: SecretsDoor, config: ProjectConfig) -> None:
    """Raise :class:`ConfigError` when a ``[secrets]`` reference does not resolve in AWS."""
    missing = find_missing(aws, references(config))
    if not missing:
        return
    raise ConfigError(*describe(missing, config.path, aws.region))


def describe(missing: list[Missing], path: Path, region: str) -> tuple[str, str]:
    """The error message and hint for ``missing`` references of the file at ``path``."""
    lines = [
        f"{locate(path, m.reference.key)}: {m.reference.key}: {m.reference.reference} "
        f"{m.what} in {region}."
        for m in missing
    ]
    creatable = [m for m in missing if m.what == "does not exist"]
    hint_lines = []
    if creatable:
        hint_lines.append(
            "Create " + ("it" if len(creatable) == 1 else "them") + " (with the real value), "
            "then deploy again:"
        )
        hint_lines += ["  " + create_command(m.reference, region) for m in creatable]
    for m in missing:
        secret = shlex.quote(m.reference.name)
        if m.what == "is scheduled for deletion":
            hint_lines.append(
                f"Restore {m.reference.name} (or create another): aws secretsmanager "
                f"restore-secret --region {region} --secret-id {secret}"
            )
        elif m not in creatable:
            hint_lines.append(
                f"See the versions of {m.reference.name}: aws secretsmanager describe-secret "
                f"--region {region} --secret-id {secret}"
            )
    hint_lines.append(
        "Or correct the reference in the config (and check --region and --aws-profile)."
    )
    if len(lines) == 1:
        message = lines[0]
    else:
        message = "Secrets the build needs are missing:\n" + "\n".join("  " + x for x in lines)
    return message, "\n".join(hint_lines)
