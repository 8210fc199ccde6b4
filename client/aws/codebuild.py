"""The CodeBuild methods of :class:`client.aws.client.AwsClient` (a mixin; no boto3 here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cbdeploy.client.aws.methods import ServiceMethods
from cbdeploy.client.aws.results import Build, BuildBatch, batch_from_response, build_from_response
from cbdeploy.client.errors import AwsError, BuildConflictError, NotFoundError


class CodeBuildMethods(ServiceMethods):
    def get_project(self, name: str) -> dict[str, Any] | None:
        found = self.call("codebuild", "batch_get_projects", names=[name]).get("projects") or []
        return dict(found[0]) if found else None

    def create_project(self, **settings: Any) -> None:
        """CreateProject; a project that already exists (a retry after a lost answer) is updated."""
        try:
            self.call("codebuild", "create_project", **settings)
        except AwsError as error:
            if error.code != "ResourceAlreadyExistsException":
                raise
            self.update_project(**settings)

    def update_project(self, **settings: Any) -> None:
        self.call("codebuild", "update_project", **settings)

    def delete_project(self, name: str) -> None:
        self._settle("codebuild", "delete_project", {"ResourceNotFoundException"}, name=name)

    def start_build(self, **kwargs: Any) -> Build:
        """StartBuild. A stage already building raises :class:`BuildConflictError` naming the build."""
        try:
            return build_from_response(self.call("codebuild", "start_build", **kwargs)["build"])
        except AwsError as error:
            if error.code != "AccountLimitExceededException":
                raise
            project = str(kwargs.get("projectName", ""))
            running = self._running_build(project)
            if running is None:
                raise BuildConflictError(
                    f"CodeBuild refused to start a build of {project}: the account's concurrent build limit is reached.",
                    "Wait for running builds to finish, or raise the CodeBuild quota.",
                ) from error
            where = f"--region {self.region}{self.endpoint.flags}"
            raise BuildConflictError(
                f"A build of {project} is already running: {running}",
                f"Follow it with 'cbdeploy logs {running} --follow {where}' "
                f"or stop it with 'cbdeploy stop {running} {where}'.",
                running_build_id=running,
            ) from error

    def _running_build(self, project: str) -> str | None:
        try:
            ids = self.list_build_ids(project, limit=10)
        except AwsError:
            return None
        running = [b.id for b in self.get_builds(ids) if not b.complete]
        return running[-1] if running else None  # newest first; the oldest holds the slot

    def get_builds(self, ids: Sequence[str]) -> list[Build]:
        """BatchGetBuilds in chunks of 100, in the order of ``ids``; unknown ids are left out."""
        builds: dict[str, Build] = {}
        for start in range(0, len(ids), 100):
            chunk = list(ids[start : start + 100])
            for data in self.call("codebuild", "batch_get_builds", ids=chunk).get("builds") or ():
                build = build_from_response(data)
                builds[build.id] = build
        return [builds[i] for i in ids if i in builds]

    def get_build(self, build_id: str) -> Build:
        found = self.get_builds([build_id])
        if not found:
            hint = "Check the id with 'cbdeploy builds' (and --region)."
            if self.endpoint.in_process:
                hint = ("--local found no standing emulator, and the builds of an emulator run "
                        "by a command end with it: start 'cbdeploy emulator' in another terminal, "
                        "then deploy with --local again.")
            raise NotFoundError(f"No build {build_id!r} in {self.region}.", hint,
                                code="ResourceNotFoundException")
        return found[0]

    def stop_build(self, build_id: str) -> Build:
        return build_from_response(self.call("codebuild", "stop_build", id=build_id)["build"])

    def list_build_ids(self, project: str, limit: int = 20) -> list[str]:
        """Ids of the project's builds, newest first."""
        ids: list[str] = []
        params: dict[str, Any] = {"projectName": project, "sortOrder": "DESCENDING"}
        while len(ids) < limit:
            page = self.call("codebuild", "list_builds_for_project", **params)
            ids.extend(page.get("ids") or ())
            if not page.get("nextToken"):
                break
            params["nextToken"] = page["nextToken"]
        return ids[:limit]

    # -- batch builds (build graphs)

    def batch_get_build_batches(self, ids: Sequence[str]) -> list[BuildBatch]:
        """BatchGetBuildBatches in chunks of 100, in the order of ``ids``; unknown ids left out."""
        batches: dict[str, BuildBatch] = {}
        for start in range(0, len(ids), 100):
            chunk = list(ids[start : start + 100])
            found = self.call("codebuild", "batch_get_build_batches", ids=chunk)
            for data in found.get("buildBatches") or ():
                batch = batch_from_response(data)
                batches[batch.id] = batches[batch.arn] = batch
        return [batches[i] for i in ids if i in batches]

    def get_build_batch(self, batch_id: str) -> BuildBatch:
        found = self.batch_get_build_batches([batch_id])
        if not found:
            raise NotFoundError(f"No build or batch {batch_id!r} in {self.region}.",
                                "Check the id with 'cbdeploy builds' (and --region).",
                                code="ResourceNotFoundException")
        return found[0]

    def stop_build_batch(self, batch_id: str) -> BuildBatch:
        return batch_from_response(
            self.call("codebuild", "stop_build_batch", id=batch_id)["buildBatch"])

    def list_build_batches_for_project(self, project: str, limit: int = 20) -> list[str]:
        """Ids of the project's batch builds, newest first."""
        ids: list[str] = []
        params: dict[str, Any] = {"projectName": project, "sortOrder": "DESCENDING"}
        while len(ids) < limit:
            page = self.call("codebuild", "list_build_batches_for_project", **params)
            ids.extend(page.get("ids") or ())
            if not page.get("nextToken"):
                break
            params["nextToken"] = page["nextToken"]
        return ids[:limit]

    def start_build_batch(self, **kwargs: Any) -> BuildBatch:
        """StartBuildBatch (the project's ``buildBatchConfig`` names the batch role: bootstrap
        sets it); a workspace's deploy (client.deploy.batch_deploy)."""
        return batch_from_response(
            self.call("codebuild", "start_build_batch", **kwargs)["buildBatch"])
