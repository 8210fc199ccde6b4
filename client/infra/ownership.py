"""Refuse to touch a resource that exists but is tagged as another app's or stage's.

Both checks run before any write is planned (bootstrap) or any deletion (destroy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cbdeploy.client.errors import OwnershipError
from cbdeploy.client.infra.names import TAG_APP, TAG_STAGE, Names


def _tag_dict(entries: Any, key: str, value: str) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` (IAM) or ``[{"key": ..}]`` (CodeBuild) as a dict."""
    return {str(e.get(key)): str(e.get(value)) for e in entries or () if isinstance(e, Mapping)}


def check_owner(
    names: Names,
    project: Mapping[str, Any] | None,
    role: Mapping[str, Any] | None,
    log_group_tags: Mapping[str, str] | None,
    batch_role: Mapping[str, Any] | None = None,
) -> None:
    """Raise OwnershipError when an existing resource is not tagged as this stage's.

    ``None`` means the resource does not exist (nothing to check).
    """
    found: list[tuple[str, str, dict[str, str]]] = []
    if project is not None:
        found.append(("CodeBuild project", names.project, _tag_dict(project.get("tags"), "key", "value")))
    if role is not None:
        found.append(("IAM role", names.role, _tag_dict(role.get("Tags"), "Key", "Value")))
    if log_group_tags is not None:
        found.append(("log group", names.log_group, dict(log_group_tags)))
    if batch_role is not None:
        found.append(("IAM role", names.batch_role, _tag_dict(batch_role.get("Tags"), "Key", "Value")))
    wanted = names.tags
    for kind, name, tags in found:
        ours = {k: tags.get(k) for k in wanted}
        if ours == wanted:
            continue
        owner = _owner(tags)
        raise OwnershipError(
            f"The {kind} {name} {owner}, not app {names.app!r} stage {names.stage!r}; "
            "cbdeploy changes nothing it does not own, so nothing was changed.",
            f"If it is this stage's, tag it {TAG_APP}={names.app} and "
            f"{TAG_STAGE}={names.stage}; otherwise delete or rename it, or use another "
            "app name or stage.",
        )


def check_repository_owner(names: Names, repositories: Mapping[str, Mapping[str, Any]]) -> None:
    """OwnershipError when an [images] repository exists with another stage's tags (or none)."""
    for name, repository in sorted(repositories.items()):
        tags = _tag_dict(repository.get("tags"), "Key", "Value")
        if {k: tags.get(k) for k in names.tags} == names.tags:
            continue
        owner = _owner(tags)
        raise OwnershipError(
            f"The ECR repository {name} {owner}, not app {names.app!r} stage "
            f"{names.stage!r}; cbdeploy changes nothing it does not own, so nothing was changed.",
            f"Give the image another repository for this stage ([stages.{names.stage}.images.<name>] "
            "repository = ...) or leave repository unset (cbdeploy/<app>/<stage>/<name>); "
            f"if it is this stage's, tag it {TAG_APP}={names.app} and {TAG_STAGE}={names.stage}.",
        )


def _owner(tags: Mapping[str, str]) -> str:
    """Whose the resource says it is, as the end of "The <kind> <name> ..."."""
    app, stage = tags.get(TAG_APP), tags.get(TAG_STAGE)
    if app or stage:
        return f"is tagged as app {app!r} stage {stage!r}"
    return f"has no {TAG_APP} and {TAG_STAGE} tags"
