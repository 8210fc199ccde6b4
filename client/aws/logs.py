"""The CloudWatch Logs methods of :class:`client.aws.client.AwsClient` (a mixin; no boto3 here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cbdeploy.client.aws.methods import ServiceMethods
from cbdeploy.client.aws.results import LogEvent, LogPage


class LogsMethods(ServiceMethods):
    def get_log_events(self, group: str, stream: str, token: str | None) -> LogPage:
        """One page forward from ``token`` (from the head when None).

        Raises :class:`NotFoundError` while the stream does not exist yet.
        """
        params: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": True,
        }
        if token:
            params["nextToken"] = token
        page = self.call("logs", "get_log_events", **params)
        events = [
            LogEvent(
                timestamp=e["timestamp"],
                message=e.get("message", ""),
                ingestion_time=e.get("ingestionTime", 0),
            )
            for e in page.get("events") or ()
        ]
        return LogPage(events=events, next_token=page.get("nextForwardToken") or token or "")

    def get_log_group(self, name: str) -> dict[str, Any] | None:
        page = self.call("logs", "describe_log_groups", logGroupNamePrefix=name)
        return next(
            (dict(g) for g in page.get("logGroups") or () if g["logGroupName"] == name), None
        )

    def create_log_group(self, name: str, tags: Mapping[str, str] | None = None) -> None:
        params: dict[str, Any] = {"logGroupName": name}
        if tags:
            params["tags"] = dict(tags)
        self._settle("logs", "create_log_group", {"ResourceAlreadyExistsException"}, **params)

    def log_group_tags(self, group: Mapping[str, Any]) -> dict[str, str]:
        """The tags of a log group as DescribeLogGroups reported it."""
        arn = group.get("logGroupArn") or str(group.get("arn", "")).removesuffix(":*")
        return dict(self.call("logs", "list_tags_for_resource", resourceArn=arn).get("tags") or {})

    def put_retention(self, name: str, days: int) -> None:
        self.call("logs", "put_retention_policy", logGroupName=name, retentionInDays=days)

    def delete_log_group(self, name: str) -> None:
        self._settle("logs", "delete_log_group", {"ResourceNotFoundException"}, logGroupName=name)
