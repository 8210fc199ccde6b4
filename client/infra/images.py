"""What the ``[images]`` of a config become: ECR grants for the stage's role, the runner's plan.

Repository names come from :func:`client.infra.names.repository_name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cbdeploy.client.config.images import ImageConfig
from cbdeploy.client.infra.names import repository_arn, repository_name

IMAGES_STEP = "images"
# What a push and a pull need on the repository itself (GetAuthorizationToken is on "*").
REPOSITORY_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


def plan_images(app: str, stage: str, images: Mapping[str, ImageConfig]) -> list[dict[str, Any]]:
    """The runner's ``images`` entries (plan.json), in name order."""
    return [
        {
            "name": image.name,
            "envSuffix": image.env_suffix,
            "context": image.context,
            "dockerfile": image.dockerfile,
            "repository": repository_name(app, stage, image.name, image.repository),
            "buildArgs": dict(sorted(image.build_args.items())),
            "target": image.target,
            "platform": image.platform,
            "cache": image.cache,
        }
        for image in sorted(images.values(), key=lambda i: i.name)
    ]


def ecr_statements(
    repositories: tuple[str, ...], *, partition: str, region: str, account: str
) -> list[dict[str, Any]]:
    """The role's ECR grants: push and pull on exactly ``repositories``, and the login."""
    if not repositories:
        return []
    return [
        {
            "Sid": "EcrRepositories",
            "Effect": "Allow",
            "Action": list(REPOSITORY_ACTIONS),
            "Resource": [repository_arn(partition, region, account, r) for r in repositories],
        },
    ]
