"""Translate botocore errors into cbdeploy's exceptions, once, by error code.

Never by message text: credential problems become :class:`CredentialsError`,
``ResourceNotFoundException`` :class:`NotFoundError`, an S3 refusal of a call
carrying ``ExpectedBucketOwner`` :class:`BucketOwnershipError`, anything else
:class:`AwsError` with its ``code`` for callers that expect one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import botocore.exceptions as bx

from client.errors import (
    AwsError,
    BucketOwnershipError,
    CbdeployError,
    CredentialsError,
    NotFoundError,
)

CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "IncompleteSignature",
        "AuthFailure",
    }
)
CREDENTIALS_HINT = (
    "Configure AWS credentials (aws configure, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
    "run 'aws sso login' if your profile uses SSO, or check --aws-profile."
)


def translate_error(
    error: Exception, service: str, operation: str, params: Mapping[str, Any]
) -> CbdeployError:
    """Map a botocore exception to cbdeploy's hierarchy, once, by error code."""
    where = f"{service} {operation}"
    if isinstance(error, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return CredentialsError("No usable AWS credentials were found.", CREDENTIALS_HINT)
    if isinstance(error, bx.ProfileNotFound):
        return CredentialsError(
            f"The AWS profile {error.kwargs.get('profile')!r} does not exist.",
            "Check --aws-profile (or AWS_PROFILE) against 'aws configure list-profiles'.",
        )
    if isinstance(error, (bx.SSOError, bx.TokenRetrievalError, bx.CredentialRetrievalError)):
        return CredentialsError(f"AWS credentials could not be loaded: {error}", CREDENTIALS_HINT)
    if isinstance(error, (bx.EndpointConnectionError, bx.ConnectionError, bx.ReadTimeoutError)):
        return AwsError(
            f"Could not reach AWS for {where}: {error}",
            "Check your network connection (and AWS_ENDPOINT_URL if you set one), then retry.",
        )
    if not isinstance(error, bx.ClientError):
        return AwsError(f"{where} failed: {error}")
    info = error.response.get("Error", {})
    code = str(info.get("Code", ""))
    message = info.get("Message") or code
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in CREDENTIAL_CODES:
        return CredentialsError(f"AWS did not accept the credentials ({code}).", CREDENTIALS_HINT)
    if code == "ResourceNotFoundException":
        return NotFoundError(message, code=code)
    if (
        service == "s3"
        and "ExpectedBucketOwner" in params
        and (status == 403 or code in ("AccessDenied", "403"))
    ):
        bucket = params.get("Bucket")
        return BucketOwnershipError(
            f"S3 refused bucket {bucket!r} for account {params['ExpectedBucketOwner']}: "
            "it belongs to another AWS account (or these credentials may not use it).",
            "cbdeploy never uses a bucket it does not own. Check that --aws-profile points at "
            "the intended account and that its credentials may use S3.",
            code=code or "AccessDenied",
        )
    return AwsError(f"AWS refused {where}: {message} ({code})", code=code)
