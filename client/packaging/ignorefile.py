"""``.cbdeployignore``: gitignore lines handed to git as command-line excludes.

git gives patterns passed with ``--exclude`` the highest precedence of all
ignore sources, so passing the file's rules that way applies them "on top" of
every ``.gitignore`` with git's own matcher: a ``!`` rule brings back a file
or directory git ignores, and a directory excluded here cannot have files
re-included, exactly as gitignore(5) says. Command-line patterns skip git's
line processing, so comments, blank lines and trailing spaces are handled
here the way git reads an ignore file.
"""

from __future__ import annotations

from pathlib import Path

from cbdeploy.client.errors import PackagingError

IGNORE_FILE = ".cbdeployignore"
_GLOB_SPECIAL = "\\*?["


def read_rules(root: Path) -> list[str]:
    """The effective pattern lines of ``<root>/.cbdeployignore`` (empty when absent)."""
    path = root / IGNORE_FILE
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    except OSError as error:
        # Packaging without its rules would ship what the user meant to keep out.
        raise PackagingError(
            f"Cannot read {path}: {error.strerror or error}.",
            f"Make {IGNORE_FILE} readable (check its permissions), or remove it.",
        ) from None
    return parse_rules(data)


def parse_rules(data: bytes) -> list[str]:
    """Lines of an ignore file as git's ``add_patterns_from_buffer`` keeps them."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    rules: list[str] = []
    for raw in data.split(b"\n"):
        if raw.startswith(b"#"):
            continue
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        line = _trim_trailing_spaces(raw)
        if line:
            rules.append(line.decode("utf-8", "surrogateescape"))
    return rules


def _trim_trailing_spaces(line: bytes) -> bytes:
    # Mirrors git's trim_trailing_spaces(): unescaped trailing spaces go, "\ " stays.
    last_space: int | None = None
    i = 0
    while i < len(line):
        char = line[i : i + 1]
        if char == b" ":
            if last_space is None:
                last_space = i
        elif char == b"\\":
            i += 1
            if i >= len(line):
                return line
            last_space = None
        else:
            last_space = None
        i += 1
    return line if last_space is None else line[:last_space]


def rebase_rules(rules: list[str], prefix: str) -> list[str]:
    """Rewrite root-relative rules for a git work tree whose top is ``prefix`` above the root.

    git matches command-line patterns from the top of the work tree; a rule of
    ``.cbdeployignore`` in ``examples/site`` must only see paths below it.
    ``prefix`` is ``git rev-parse --show-prefix`` ("" or ending in "/").
    """
    if not prefix:
        return list(rules)
    base = "/" + "".join("\\" + c if c in _GLOB_SPECIAL else c for c in prefix.rstrip("/")) + "/"
    rebased = []
    for rule in rules:
        negate = rule.startswith("!")
        body = rule[1:] if negate else rule
        dir_only = body.endswith("/")
        core = body[:-1] if dir_only else body
        if not core:
            continue
        if "/" in core:  # anchored to the ignore file's directory
            new = base + (core[1:] if core.startswith("/") else core)
        else:  # a basename, at any depth below the root
            new = base + "**/" + core
        rebased.append(("!" if negate else "") + new + ("/" if dir_only else ""))
    return rebased


def exclude_args(rules: list[str]) -> list[str]:
    return [f"--exclude={rule}" for rule in rules]
