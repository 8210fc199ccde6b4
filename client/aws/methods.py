"""What the per-service method groups of :class:`client.aws.client.AwsClient` rely on.

Each service's methods are a mixin (:mod:`client.aws.codebuild`, :mod:`client.aws.logs`,
:mod:`client.aws.iam`, :mod:`client.aws.lookups`, :mod:`client.aws.s3`); ``AwsClient``
supplies :meth:`call`, the one place a boto3 client is called. No boto3 here.
"""

from __future__ import annotations

from typing import Any

from cbdeploy.client.aws.endpoint import Endpoint
from cbdeploy.client.errors import AwsError


class ServiceMethods:
    """The base of every per-service mixin: what they may use of :class:`AwsClient`."""

    region: str

    def call(self, service: str, operation: str, **params: Any) -> Any:
        raise NotImplementedError

    def account_id(self) -> str:
        raise NotImplementedError

    @property
    def endpoint(self) -> Endpoint:
        raise NotImplementedError

    def _settle(self, service: str, operation: str, done: set[str], **params: Any) -> None:
        """A create or delete whose ``done`` codes mean the work is already done.

        botocore retries a call whose answer was lost; the retry then finds the
        role created or the group deleted, which is success, not an error.
        """
        try:
            self.call(service, operation, **params)
        except AwsError as error:
            if error.code not in done:
                raise
