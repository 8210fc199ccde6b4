"""Translate botocore errors into cbdeploy's exceptions, once, by error code.

Never by message text: missing or rejected credentials become
:class:`CredentialsError`, expired tokens and SSO logins
:class:`ExpiredCredentialsError` (saying how to refresh them), a refused
permission :class:`AccessDeniedError` naming the IAM action,
``ResourceNotFoundException`` :class:`NotFoundError`, an S3 refusal of a call
carrying ``ExpectedBucketOwner`` :class:`BucketOwnershipError`, anything else
:class:`AwsError` with its ``code`` for callers that expect one.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cbdeploy.client.errors import (
    AccessDeniedError,
    AwsError,
    BucketOwnershipError,
    CbdeployError,
    ConfigError,
    CredentialsError,
    ExpiredCredentialsError,
    NotFoundError,
)

if TYPE_CHECKING:
    import botocore.exceptions as bx

EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
CREDENTIAL_CODES = EXPIRED_CODES | frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "IncompleteSignature",
        "AuthFailure",
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# The codes a bare HTTP 403 comes with (S3 answers HEAD requests without a body).
_NO_CODE = frozenset({"", "403", "Forbidden"})
CREDENTIALS_HINT = (
    "Configure AWS credentials (aws configure, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
    "run 'aws sso login' if your profile uses SSO, or check --aws-profile. "
    "To try cbdeploy without an AWS account, add --local."
)
# S3's IAM actions are not its operation names.
S3_ACTIONS = {
    "HeadBucket": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListParts": "ListMultipartUploadParts",
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "DeleteObjects": "DeleteObject",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
}


def is_transient(error: BaseException) -> bool:
    """Whether a poller may take ``error`` as a passing failure and try again: ours
    (translated) or botocore's own (a dropped connection, a read timeout) when one slips
    past the door. Only a process that loaded botocore can raise botocore's, and this
    module does not load it: the deploy's process, whose door is its AWS agent, never does."""
    if isinstance(error, AwsError):
        return True
    botocore_errors = sys.modules.get("botocore.exceptions")
    return botocore_errors is not None and isinstance(error, botocore_errors.BotoCoreError)


def iam_action(service: str, operation: str) -> str:
    """The IAM action a call needs: ``codebuild:StartBuild``, ``s3:PutObject`` for UploadPart."""
    if service == "s3":
        operation = S3_ACTIONS.get(operation, operation)
    return f"{service}:{operation}"


def refresh_hint(profile: str | None) -> str:
    """How to get fresh credentials for ``profile`` (None or 'default': the default chain)."""
    if profile and profile != "default":
        return (
            f"Refresh them: 'aws sso login --profile {profile}' if that profile uses SSO, "
            "otherwise get new temporary credentials for it; then run cbdeploy again."
        )
    return (
        "Refresh them: 'aws sso login' if you sign in with SSO, or export new temporary "
        "keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); then run "
        "cbdeploy again."
    )


def translate_error(
    error: Exception,
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    profile: str | None = None,
) -> CbdeployError:
    """Map a botocore exception to cbdeploy's hierarchy, once, by error code.

    ``operation`` is the API name (``StartBuild``); ``profile`` the AWS
    profile in use, for the hint on refreshing expired credentials.
    """
    import botocore.exceptions as bx  # (loaded by the door that raised ``error``)

    where = f"{service} {operation}"
    if isinstance(error, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return CredentialsError("No usable AWS credentials were found.", CREDENTIALS_HINT)
    if isinstance(error, bx.ProfileNotFound):
        return CredentialsError(
            f"The AWS profile {error.kwargs.get('profile')!r} does not exist.",
            "Check --aws-profile, AWS_PROFILE or the stored default ('cbdeploy defaults:list') "
            "against 'aws configure list-profiles'.",
        )
    # botocore's ways of saying an SSO login is over (or never happened).
    if isinstance(error, (bx.UnauthorizedSSOTokenError, bx.SSOTokenLoadError,
                          bx.TokenRetrievalError)):
        named = f" of profile {profile!r}" if profile and profile != "default" else ""
        login = f"aws sso login --profile {profile}" if named else "aws sso login"
        return ExpiredCredentialsError(
            f"The AWS SSO login{named} has expired (or you have not signed in yet).",
            f"Sign in again with '{login}', then run cbdeploy again.",
        )
    if isinstance(error, bx.ConfigParseError):
        return ConfigError(
            f"The AWS configuration file {error.kwargs.get('path')} cannot be parsed.",
            "Fix its syntax ('[section]' headers, then 'key = value' lines, as 'aws configure' "
            "writes them), or point AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE elsewhere.",
        )
    if isinstance(error, (bx.SSOError, bx.CredentialRetrievalError)):
        return CredentialsError(f"AWS credentials could not be loaded: {error}", CREDENTIALS_HINT)
    if isinstance(error, (bx.EndpointConnectionError, bx.ConnectionError, bx.ReadTimeoutError)):
        return AwsError(
            f"Could not reach AWS for {where}: {error}",
            "Check your network connection (and AWS_ENDPOINT_URL if you set one), then retry.",
        )
    if not isinstance(error, bx.ClientError):
        return AwsError(f"{where} failed: {error}")
    return _client_error(error, service, operation, params, profile)


def _client_error(
    error: bx.ClientError,
    service: str,
    operation: str,
    params: Mapping[str, Any],
    profile: str | None,
) -> CbdeployError:
    info = error.response.get("Error", {})
    code = str(info.get("Code", ""))
    message = info.get("Message") or code
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in EXPIRED_CODES:
        clock = (
            " (RequestExpired can also mean this machine's clock is wrong: check it)"
            if code == "RequestExpired"
            else ""
        )
        return ExpiredCredentialsError(
            f"The AWS credentials have expired ({code}){clock}.", refresh_hint(profile), code=code
        )
    if code in CREDENTIAL_CODES:
        return CredentialsError(f"AWS did not accept the credentials ({code}).", CREDENTIALS_HINT)
    if code == "ResourceNotFoundException":
        return NotFoundError(message, code=code)
    denied = code in ACCESS_DENIED_CODES or (status == 403 and code in _NO_CODE)
    action = iam_action(service, operation)
    if service == "s3" and "ExpectedBucketOwner" in params and (denied or status == 403):
        bucket = params.get("Bucket")
        return BucketOwnershipError(
            f"S3 refused {action} on bucket {bucket!r} for account "
            f"{params['ExpectedBucketOwner']}: it belongs to another AWS account "
            "(or these credentials may not use it).",
            "cbdeploy never uses a bucket it does not own. Check that --aws-profile points at "
            f"the intended account and that its credentials may use S3 ({action}).",
            code=code or "AccessDenied",
        )
    if denied:
        detail = f": {message}" if message and message not in (code, "Forbidden") else ""
        return AccessDeniedError(
            f"AWS denied {action} to these credentials ({code or status}){detail}",
            f"Allow {action} in the IAM policy of the user or role you deploy with (see which "
            "one with 'aws sts get-caller-identity'), or use another --aws-profile.",
            code=code or "AccessDenied",
            action=action,
        )
    return AwsError(f"AWS refused {service} {operation}: {message} ({code})", code=code)
