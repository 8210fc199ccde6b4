"""``runner/`` imports nothing but the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "runner"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_runner_imports_only_the_standard_library() -> None:
    files = sorted(RUNNER.glob("*.py"))
    assert len(files) >= 4
    for path in files:
        foreign = imported_modules(path) - set(sys.stdlib_module_names) - {"runner"}
        assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_runner_avoids_syntax_newer_than_python_39() -> None:
    """No ``match``, no runtime ``X | Y`` unions outside annotations, no tomllib."""
    for path in sorted(RUNNER.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, str(path), feature_version=(3, 9))
        if "def " in source:  # annotations must stay unevaluated on 3.9
            assert "from __future__ import annotations" in source, path.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                assert not any(isinstance(a, ast.BinOp) for a in node.args), path.name
        assert "tomllib" not in imported_modules(path)
