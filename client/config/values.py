"""The small checks every table of ``cbdeploy.toml`` is read with.

Each raises :class:`Problem` with the dotted key it is about; ``client.config.load``
turns it into a ``ConfigError`` with the file and line.
"""

from __future__ import annotations

import difflib
from pathlib import PurePosixPath
from typing import Any


class Problem(Exception):
    def __init__(self, key: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.hint = hint


def need(condition: bool, key: str, message: str, hint: str | None = None) -> None:
    if not condition:
        raise Problem(key, message, hint)


def type_name(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def check_keys(table: dict[str, Any], allowed: frozenset[str] | set[str], prefix: str) -> None:
    for name in table:
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            close = difflib.get_close_matches(name, sorted(allowed), n=1)
            guess = f"Did you mean {close[0]}? " if close else ""
            raise Problem(prefix + name, "unknown key", f"{guess}Known keys here: {known}.")


def table(raw: Any, key: str, allowed: frozenset[str] | set[str] | None) -> dict[str, Any]:
    need(isinstance(raw, dict), key, f"must be a table, not {type_name(raw)}")
    if allowed is not None:
        check_keys(raw, allowed, key + ".")
    return dict(raw)


def string(raw: Any, key: str) -> str:
    need(isinstance(raw, str), key, f"must be a string, not {type_name(raw)}")
    no_nul(str(raw), key)
    return str(raw)


def boolean(raw: Any, key: str) -> bool:
    need(isinstance(raw, bool), key, f"must be true or false, not {type_name(raw)}")
    return bool(raw)


def str_list(raw: Any, key: str) -> tuple[str, ...]:
    need(isinstance(raw, list), key, f"must be an array of strings, not {type_name(raw)}")
    for item in raw:
        need(isinstance(item, str), key, f"must hold strings only, not {type_name(item)}")
        no_nul(item, key)
    return tuple(raw)


def no_nul(value: str, key: str) -> None:
    need(
        "\x00" not in value,
        key,
        "holds a NUL character (\\u0000), which no command line or environment variable "
        "can carry",
        "Remove the \\u0000 escape from the value.",
    )


def choice(raw: Any, key: str, allowed: tuple[str, ...]) -> str:
    value = string(raw, key)
    need(value in allowed, key, f"{value!r} is not allowed", "Use one of: " + ", ".join(allowed))
    return value


def relative_path(raw: Any, key: str) -> str:
    value = string(raw, key)
    posix = PurePosixPath(value.replace("\\", "/"))
    need(
        bool(value) and not posix.is_absolute() and ".." not in posix.parts,
        key,
        f"{value!r} must be a path inside the project",
        "Give a relative path without '..'.",
    )
    return posix.as_posix()
