"""The emulator's own access to moto's in-process state.

Builds read their source from S3, write their output to CloudWatch Logs and
resolve PARAMETER_STORE / SECRETS_MANAGER values straight through moto's
backends, never over HTTP: these internal calls share the state that clients
see through the endpoint, but fault injection never hits them.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

# moto's service models are imported where used: some are slow to import
# (SSM pulls in EC2, about a second), and moto's own server imports them on
# the first request to each service anyway.

ACCOUNT_ID = DEFAULT_ACCOUNT_ID


class ValueNotFound(Exception):
    """A parameter, secret or JSON key a build asked for does not exist."""


def logs(region: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[ACCOUNT_ID][region]


def read_object(bucket: str, key: str, version_id: str | None = None) -> bytes | None:
    """The bytes of ``s3://bucket/key`` (any owning account), or None when missing."""
    from moto.s3.models import s3_backends

    entry = s3_backends.bucket_accounts.get(bucket)
    if entry is None:
        return None
    partition, owner = entry
    try:
        obj = s3_backends[owner][partition].get_object(bucket, key, version_id=version_id)
    except Exception:
        return None
    return None if obj is None else bytes(obj.value)


def bucket_owner(bucket: str) -> str | None:
    """The account owning ``bucket`` in moto, or None when there is no such bucket."""
    from moto.s3.models import s3_backends

    entry = s3_backends.bucket_accounts.get(bucket)
    return None if entry is None else entry[1]


def initiator(access_key_id: str | None, region: str) -> str:
    """Who started a build, as CodeBuild reports it: the IAM user's name, or
    ``role-name/session-name`` for assumed-role credentials (moto's identity for the key)."""
    from moto.sts.models import sts_backends

    try:
        _, arn, _ = sts_backends[ACCOUNT_ID]["aws"].get_caller_identity(access_key_id or "", region)
    except Exception:
        return "moto"
    resource = str(arn).split(":", 5)[-1]
    if resource.startswith("assumed-role/"):
        return resource[len("assumed-role/"):]
    return resource.rsplit("/", 1)[-1]


def role_exists(role_arn: str) -> bool:
    from moto.iam.models import iam_backends

    name = role_arn.rsplit("/", 1)[-1]
    try:
        iam_backends[ACCOUNT_ID]["aws"].get_role(name)
    except Exception:
        return False
    return True


def parameter_value(region: str, name: str) -> str:
    """The decrypted value of SSM parameter ``name``; ValueNotFound when missing."""
    from moto.ssm.models import ssm_backends

    param = ssm_backends[ACCOUNT_ID][region].get_parameter(name)
    if param is None:
        raise ValueNotFound(f"parameter does not exist: {name}")
    value = param.decrypt(param.value)
    return "" if value is None else str(value)


def secret_value(region: str, reference: str) -> str:
    """Resolve a CodeBuild secrets reference ``secret-id[:json-key[:stage[:version-id]]]``.

    ``secret-id`` may be a full ARN (which holds colons itself). Missing
    secrets and keys raise ValueNotFound with the message CodeBuild reports.
    """
    parts = reference.split(":")
    if reference.startswith("arn:"):
        secret_id, rest = ":".join(parts[:7]), parts[7:]
    else:
        secret_id, rest = parts[0], parts[1:]
    rest += [""] * (3 - len(rest))
    json_key, stage, version_id = rest[:3]
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[ACCOUNT_ID][region]
    try:
        found = backend.get_secret_value(secret_id, version_id or None, stage or None)  # type: ignore[arg-type]
    except Exception as error:
        code = getattr(error, "error_type", None) or type(error).__name__
        message = getattr(error, "message", None) or str(error)
        if code in ("ResourceNotFoundException", "SecretNotFoundException"):
            code = "ResourceNotFoundException"
            message = "Secrets Manager can't find the specified secret."
        raise ValueNotFound(f"{code}: {message}") from error
    text = found.get("SecretString")
    if text is None:
        raise ValueNotFound(f"secret {secret_id} has no string value")
    if not json_key:
        return str(text)
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueNotFound(f"secret {secret_id} is not a JSON document") from error
    if not isinstance(document, dict) or json_key not in document:
        raise ValueNotFound(f"json key {json_key} not found in secret {secret_id}")
    value = document[json_key]
    return value if isinstance(value, str) else json.dumps(value)
