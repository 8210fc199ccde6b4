"""The SSM, Secrets Manager and ECR methods of :class:`client.aws.client.AwsClient` (a mixin).

Reads that check what a config names exists, and the ECR repositories of ``[images]``; no boto3 here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cbdeploy.client.aws.methods import ServiceMethods
from cbdeploy.client.errors import AwsError, NotFoundError


class LookupMethods(ServiceMethods):
    def parameter_exists(self, name: str) -> bool:
        """Whether the SSM parameter ``name`` exists: DescribeParameters, never its value."""
        page = self.call(
            "ssm",
            "describe_parameters",
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}],
        )
        return any(p.get("Name") == name for p in page.get("Parameters") or ())

    def describe_secret(self, secret_id: str) -> dict[str, Any] | None:
        """DescribeSecret (name or ARN; never the value), or None when there is no such secret."""
        try:
            return dict(self.call("secretsmanager", "describe_secret", SecretId=secret_id))
        except NotFoundError:
            return None

    # ----------------------------------------------------------------- ECR

    def get_repository(self, name: str) -> dict[str, Any] | None:
        """The ECR repository with its ``tags`` (``[{"Key", "Value"}]``), or None."""
        try:
            page = self.call("ecr", "describe_repositories", repositoryNames=[name])
        except AwsError as error:
            if error.code == "RepositoryNotFoundException":
                return None
            raise
        repository = dict(page["repositories"][0])
        listed = self.call("ecr", "list_tags_for_resource", resourceArn=repository["repositoryArn"])
        repository["tags"] = list(listed.get("tags") or ())
        return repository

    def create_repository(self, name: str, tags: Mapping[str, str]) -> None:
        self._settle(
            "ecr",
            "create_repository",
            {"RepositoryAlreadyExistsException"},
            repositoryName=name,
            tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
