"""The IAM methods of :class:`client.aws.client.AwsClient` (a mixin; no boto3 here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cbdeploy.client.aws.methods import ServiceMethods
from cbdeploy.client.errors import AwsError


class IamMethods(ServiceMethods):
    def get_role(self, name: str) -> dict[str, Any] | None:
        """The role (AssumeRolePolicyDocument decoded to a dict), or None."""
        try:
            return dict(self.call("iam", "get_role", RoleName=name)["Role"])
        except AwsError as error:
            if error.code == "NoSuchEntity":
                return None
            raise

    def create_role(
        self,
        name: str,
        trust_policy: Mapping[str, Any],
        description: str,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        try:
            role = self.call(
                "iam",
                "create_role",
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust_policy),
                Description=description,
                Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            )["Role"]
        except AwsError as error:
            if error.code != "EntityAlreadyExists":
                raise
            role = self.call("iam", "get_role", RoleName=name)["Role"]
        return str(role["Arn"])

    def update_trust_policy(self, name: str, trust_policy: Mapping[str, Any]) -> None:
        self.call(
            "iam",
            "update_assume_role_policy",
            RoleName=name,
            PolicyDocument=json.dumps(trust_policy),
        )

    def attached_policies(self, role: str) -> list[str]:
        arns: list[str] = []
        params: dict[str, Any] = {"RoleName": role}
        while True:
            page = self.call("iam", "list_attached_role_policies", **params)
            arns.extend(p["PolicyArn"] for p in page.get("AttachedPolicies") or ())
            if not page.get("IsTruncated"):
                return arns
            params["Marker"] = page["Marker"]

    def policy_exists(self, arn: str) -> bool:
        try:
            self.call("iam", "get_policy", PolicyArn=arn)
        except AwsError as error:
            if error.code == "NoSuchEntity":
                return False
            raise
        return True

    def attach_policy(self, role: str, arn: str) -> None:
        self.call("iam", "attach_role_policy", RoleName=role, PolicyArn=arn)

    def detach_policy(self, role: str, arn: str) -> None:
        self._settle("iam", "detach_role_policy", {"NoSuchEntity"}, RoleName=role, PolicyArn=arn)

    def inline_policy_names(self, role: str) -> list[str]:
        return list(self.call("iam", "list_role_policies", RoleName=role).get("PolicyNames") or ())

    def get_inline_policy(self, role: str, policy: str) -> dict[str, Any] | None:
        try:
            document = self.call("iam", "get_role_policy", RoleName=role, PolicyName=policy)[
                "PolicyDocument"
            ]
        except AwsError as error:
            if error.code == "NoSuchEntity":
                return None
            raise
        return dict(json.loads(document) if isinstance(document, str) else document)

    def put_inline_policy(self, role: str, policy: str, document: Mapping[str, Any]) -> None:
        self.call(
            "iam",
            "put_role_policy",
            RoleName=role,
            PolicyName=policy,
            PolicyDocument=json.dumps(document),
        )

    def delete_inline_policy(self, role: str, policy: str) -> None:
        self._settle(
            "iam", "delete_role_policy", {"NoSuchEntity"}, RoleName=role, PolicyName=policy
        )

    def delete_role(self, name: str) -> None:
        self._settle("iam", "delete_role", {"NoSuchEntity"}, RoleName=name)
