"""The shape of the code: no file over 450 lines, no function over 60 lines.

Read with ``ast`` over ``client/``, ``runner/`` and ``emulator/``. A function's
length runs from its ``def`` line to its last line (decorators not counted,
its docstring counted). Nested functions count on their own and inside the
function that holds them.

A **data table** may be longer: a function whose body, after an optional
docstring, is one ``return`` of a dict, list, tuple or set display (not a
comprehension), like a policy document written out. Anything else over the
limit is split, or named in ``ALLOWED`` with its reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("client", "runner", "emulator")
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 60

# Longer than the limits on purpose: "path" or "path::function" -> why.
ALLOWED: dict[str, str] = {}

# TEMPORARY: offenders that other branches of issue 12 are splitting (h/pkg,
# h/speed). Delete each entry when its split lands on main; this list
# must end empty.
PENDING_SPLITS: dict[str, str] = {
}


def sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def is_data_table(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, (ast.Dict, ast.List, ast.Tuple, ast.Set))
    )


def offenders(name: str, text: str) -> dict[str, int]:
    """``{"name" or "name::function": lines}`` of what is over the limits in one file."""
    found: dict[str, int] = {}
    lines = len(text.splitlines())
    if lines > MAX_FILE_LINES:
        found[name] = lines
    for node in ast.walk(ast.parse(text, filename=name)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and not is_data_table(node):
                found[f"{name}::{node.name}"] = length
    return found


def all_offenders() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sources():
        found.update(offenders(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")))
    return found


def test_no_file_or_function_is_over_the_limits() -> None:
    over = {
        name: lines for name, lines in all_offenders().items()
        if name not in ALLOWED and name not in PENDING_SPLITS
    }
    assert over == {}, (
        f"Over {MAX_FILE_LINES} lines a file or {MAX_FUNCTION_LINES} a function; split them: "
        + ", ".join(f"{name} ({lines})" for name, lines in sorted(over.items()))
    )


def test_every_exception_is_still_needed() -> None:
    """An entry whose file or function is now short enough (or gone) is deleted."""
    over = all_offenders()
    stale = sorted(name for name in {**ALLOWED, **PENDING_SPLITS} if name not in over)
    assert stale == [], f"No longer over the limits; delete from the lists: {stale}"


def test_a_long_function_is_found_and_a_data_table_is_not() -> None:
    long_body = "".join(f"    x{i} = {i}\n" for i in range(60))
    table = "".join(f'        "k{i}": {i},\n' for i in range(70))
    text = (
        f"def long():\n{long_body}    return x0\n\n\n"
        f'def table():\n    """A data table."""\n    return {{\n{table}    }}\n\n\n'
        "def short():\n    return 1\n"
    )
    assert offenders("m.py", text) == {"m.py::long": 62}


def test_a_long_file_is_found() -> None:
    assert offenders("m.py", "x = 1\n" * (MAX_FILE_LINES + 1)) == {"m.py": MAX_FILE_LINES + 1}
    assert offenders("m.py", "x = 1\n" * MAX_FILE_LINES) == {}
