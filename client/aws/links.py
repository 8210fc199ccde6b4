"""Links into the AWS console for what cbdeploy starts: people click them, CI prints them."""

from __future__ import annotations

from urllib.parse import quote


def console_host(region: str) -> str:
    if region.startswith("cn-"):
        return f"{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return f"{region}.console.amazonaws-us-gov.com"
    return f"{region}.console.aws.amazon.com"


def build_console_url(region: str, build_id: str) -> str:
    """The CodeBuild console page of one build (``project:uuid``), as the console links it."""
    project = build_id.split(":", 1)[0]
    return (
        f"https://{console_host(region)}/codesuite/codebuild/projects/{quote(project, safe='')}"
        f"/build/{quote(build_id, safe='')}/?region={region}"
    )


def batch_console_url(region: str, batch_id: str) -> str:
    """The CodeBuild console page of one batch build (``project:uuid``)."""
    return build_console_url(region, batch_id).replace("/build/", "/batch/", 1)
