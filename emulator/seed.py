"""The seed file: SSM parameters and Secrets Manager secrets loaded at start.

A project's ``[secrets]`` refer to values that live in AWS; locally they must
exist in the emulator before a build asks for them. The seed is a TOML file
(keep it out of git: it holds the values themselves)::

    region = "eu-west-1"        # optional: default, the emulator's region

    [parameters]                # SSM Parameter Store
    "/myapp/dev/db-url" = "postgres://user:pw@db/app"      # a SecureString
    "/myapp/dev/flag" = { value = "on", type = "String" }  # or String, StringList

    [secrets]                   # Secrets Manager
    "myapp/dev/api-token" = "abc123"                       # a SecretString
    "myapp/dev/db" = { username = "app", password = "pw" } # a JSON document

Values are written through moto's Python API, as the builds read them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbdeploy.emulator import backends

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

PARAMETER_TYPES = ("String", "StringList", "SecureString")
MAX_SEED_BYTES = 1024 * 1024


class SeedError(ValueError):
    """The seed file cannot be read or says something we cannot load (the message says what)."""


@dataclass(frozen=True)
class Seed:
    region: str | None
    parameters: dict[str, tuple[str, str]]  # name -> (value, type)
    secrets: dict[str, str]  # name -> SecretString


def load_seed(path: Path) -> Seed:
    """Read and check the seed file; :class:`SeedError` names the first problem."""
    try:
        if not path.is_file():
            raise SeedError(f"{path} is not a regular file")
        with path.open("rb") as file:
            raw = file.read(MAX_SEED_BYTES + 1)
        if len(raw) > MAX_SEED_BYTES:
            raise SeedError(f"{path} is larger than 1 MB")
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as error:
        raise SeedError(f"cannot read {path}: {error.strerror or error}") from error
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as error:
        raise SeedError(f"{path} is not valid TOML: {error}") from error
    unknown = set(data) - {"region", "parameters", "secrets"}
    if unknown:
        raise SeedError(f"unknown key {sorted(unknown)[0]!r} (expected region, [parameters], [secrets])")
    region = data.get("region")
    if region is not None and (not isinstance(region, str) or not region):
        raise SeedError("region must be a region name such as us-east-1")
    return Seed(region, _parameters(data.get("parameters", {})), _secrets(data.get("secrets", {})))


def _parameters(table: Any) -> dict[str, tuple[str, str]]:
    if not isinstance(table, dict):
        raise SeedError("[parameters] must be a table of name = value")
    result: dict[str, tuple[str, str]] = {}
    for name, entry in table.items():
        if isinstance(entry, str):
            value, kind = entry, "SecureString"
        elif isinstance(entry, dict) and isinstance(entry.get("value"), str):
            value, kind = entry["value"], entry.get("type", "SecureString")
            if kind not in PARAMETER_TYPES or set(entry) - {"value", "type"}:
                raise SeedError(f"parameters.{name}: type must be one of {', '.join(PARAMETER_TYPES)}")
        else:
            raise SeedError(f'parameters.{name}: give a string, or {{ value = "...", type = "String" }}')
        if not value:
            raise SeedError(f"parameters.{name}: SSM does not store an empty value")
        result[name] = (value, kind)
    return result


def _secrets(table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise SeedError("[secrets] must be a table of name = value")
    result: dict[str, str] = {}
    for name, entry in table.items():
        if isinstance(entry, str):
            result[name] = entry
        elif isinstance(entry, dict):
            result[name] = json.dumps(entry)
        else:
            raise SeedError(f"secrets.{name}: give a string, or a table (stored as JSON)")
    return result


def apply(seed: Seed, region: str) -> None:
    """Create (or overwrite) every parameter and secret of ``seed`` in ``seed.region or region``."""
    from moto.secretsmanager.models import secretsmanager_backends
    from moto.ssm.models import ssm_backends

    where = seed.region or region
    ssm = ssm_backends[backends.ACCOUNT_ID][where]
    for name, (value, kind) in seed.parameters.items():
        ssm.put_parameter(
            name=name, description="cbdeploy emulator seed", value=value, parameter_type=kind,
            allowed_pattern="", keyid="alias/aws/ssm" if kind == "SecureString" else "",
            overwrite=True, tags=[], data_type="text", tier=None, policies=None,
        )
    secrets = secretsmanager_backends[backends.ACCOUNT_ID][where]
    for name, text in seed.secrets.items():
        if name in secrets.secrets:
            secrets.put_secret_value(name, text, None, None, ["AWSCURRENT"])  # type: ignore[arg-type]
        else:
            secrets.create_secret(
                name=name, secret_string=text, secret_binary=None,
                description="cbdeploy emulator seed", tags=[], kms_key_id=None,
                client_request_token=None, replica_regions=[], force_overwrite=False,
            )
