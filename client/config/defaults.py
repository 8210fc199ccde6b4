"""Stored defaults for stage, region and AWS profile (``defaults:configure``).

Kept as JSON in ``$XDG_CONFIG_HOME/cbdeploy/defaults.json``
(``~/.config/cbdeploy/defaults.json`` when the variable is unset).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cbdeploy.client.errors import UsageError


@dataclass(frozen=True)
class Defaults:
    stage: str | None = None
    region: str | None = None
    profile: str | None = None


def path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cbdeploy" / "defaults.json"


def load() -> Defaults:
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Defaults()
    if not isinstance(data, dict):
        return Defaults()
    return Defaults(
        **{
            k: v
            for k, v in data.items()
            if k in ("stage", "region", "profile") and isinstance(v, str)
        }
    )


def save(values: Defaults) -> Path:
    """Write ``values`` (atomically); the file's path. Raises :class:`UsageError`."""
    target = path()
    tmp = target.with_suffix(".tmp")
    text = json.dumps({k: v for k, v in asdict(values).items() if v}, indent=2) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as error:
        raise UsageError(
            f"Cannot save the defaults to {target}: {error.strerror or error}.",
            "Make that directory writable, or point XDG_CONFIG_HOME at one that is.",
        ) from None
    return target
