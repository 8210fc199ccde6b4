"""StartBuild's source checks, as CodeBuild answers them (InvalidInputException).

``invalid`` makes the API's error (``codebuild_api.invalid``); it is passed in
so that this module needs nothing of the API's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Invalid = Callable[[str], Exception]
SOURCE_TYPES = {
    "CODECOMMIT", "CODEPIPELINE", "GITHUB", "GITLAB", "GITLAB_SELF_MANAGED", "S3", "BITBUCKET",
    "GITHUB_ENTERPRISE", "NO_SOURCE",
}


def check_source(source: dict[str, Any], invalid: Invalid) -> None:
    """The primary source after StartBuild's overrides."""
    if source["type"] == "S3" and "/" not in source.get("location", ""):
        raise invalid("Invalid S3 source location: expected bucket/key")
    if source["type"] == "NO_SOURCE" and not source.get("buildspec"):
        raise invalid("Buildspec cannot be empty when source type is NO_SOURCE")


SOURCE_IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,127}")


def secondary_sources(sources: Any, invalid: Invalid) -> tuple[dict[str, Any], ...]:
    """CodeBuild's checks of secondary sources: a list of at most 12, each with a unique
    ``sourceIdentifier`` (fewer than 128 letters, digits and underscores) and, for S3, a
    ``bucket/key`` location."""
    if not isinstance(sources, list):
        raise invalid("secondarySourcesOverride must be a list")
    if len(sources) > 12:
        raise invalid("A build can have at most 12 secondary sources")
    seen: set[str] = set()
    result = []
    for source in sources:
        if not isinstance(source, dict):
            raise invalid("Each secondary source must be an object")
        identifier = source.get("sourceIdentifier")
        if not isinstance(identifier, str) or not SOURCE_IDENTIFIER.fullmatch(identifier):
            raise invalid(
                f"Invalid secondary source identifier {identifier!r}: it must be fewer than "
                "128 characters of letters, digits and underscores"
            )
        if identifier in seen:
            raise invalid(f"Duplicate secondary source identifier {identifier!r}")
        seen.add(identifier)
        if source.get("type") not in SOURCE_TYPES:
            raise invalid(f"Invalid source type: {source.get('type')!r}")
        if source["type"] != "S3":
            raise invalid(f"Secondary source type {source['type']} is not supported by the emulator: use S3")
        if "/" not in str(source.get("location", "")):
            raise invalid("Invalid S3 source location: expected bucket/key")
        result.append(dict(source))
    return tuple(result)
