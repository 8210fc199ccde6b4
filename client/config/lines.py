"""Find the line of a dotted key in TOML text (tomllib reports no positions).

Best effort over the forms a config uses: ``[table.headers]``, ``dotted.keys =``,
quoted keys and one-line inline tables (``cache = { type = "s3" }``). Lines
inside multi-line strings are skipped.
"""

from __future__ import annotations

import re

_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER_RE = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_ASSIGN_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_KEY_PART)


def _parts(dotted: str) -> tuple[str, ...]:
    parts = []
    for raw in _PART_RE.findall(dotted):
        if raw[:1] in "\"'":
            raw = raw[1:-1]
        parts.append(raw)
    return tuple(parts)


def find_key_line(text: str, dotted_key: str) -> int | None:
    """The 1-based line where ``dotted_key`` (``a.b.c``) is written, or None."""
    target = tuple(dotted_key.split("."))
    table: tuple[str, ...] = ()
    in_string: str | None = None
    best: tuple[int, int] | None = None  # (matched parts, line) of the longest prefix
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _HEADER_RE.match(line)
        assign = None if header else _ASSIGN_RE.match(line)
        if header:
            table = _parts(header.group(1))
            path = table
            rest_text = ""
        elif assign:
            path = table + _parts(assign.group(1))
            rest_text = line[assign.end() :]
        else:
            continue
        if path == target:
            return number
        if target[: len(path)] == path:
            remaining = target[len(path) :]
            if rest_text and re.search(
                r"[{,]\s*" + r"\s*\.\s*".join(map(re.escape, remaining)) + r"\s*=", rest_text
            ):
                return number
            if best is None or len(path) > best[0]:
                best = (len(path), number)
        for quote in ('"""', "'''"):
            if assign and rest_text.count(quote) % 2 == 1:
                in_string = quote
    return best[1] if best else None
