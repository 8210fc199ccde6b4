"""Every runtime dependency is used and explained; shared constants are written once.

The declared dependencies come from pyproject.toml; "used" means some module
of client/ imports it, "explained" that the README's list of runtime
dependencies names it. The tomllib shim, the config file's name and each
compiled pattern (the stage regex among them) exist once in client/.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client"
# distribution name -> the module it is imported as (where they differ)
IMPORT_NAMES = {"pyyaml": "yaml", "gitpython": "git"}


def declared() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = pyproject["project"]["dependencies"]
    return [re.match(r"[A-Za-z0-9_.-]+", name).group(0).lower() for name in names]  # type: ignore[union-attr]


def trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in CLIENT.rglob("*.py")}


def imported_roots(tree: ast.Module) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_runtime_dependency_is_imported_by_the_client() -> None:
    used = set().union(*(imported_roots(tree) for tree in trees().values()))
    unused = [name for name in declared() if IMPORT_NAMES.get(name, name) not in used]
    assert unused == []


def test_the_readme_says_why_each_runtime_dependency_is_there() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("Runtime dependencies", 1)[1].split("\n\n", 2)[1]
    listed = {m.lower() for m in re.findall(r"^- `([^`]+)`", section, flags=re.M)}
    assert listed == set(declared())


def test_one_tomllib_shim() -> None:
    shims = [
        path for path, tree in trees().items() if {"tomli", "tomllib"} & imported_roots(tree)
    ]
    assert [p.relative_to(CLIENT).as_posix() for p in shims] == ["config/toml.py"]


def _string_constants(tree: ast.Module) -> list[str]:
    """The string values of the module's top-level ``NAME = "..."`` assignments."""
    return [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]


def test_the_config_file_name_is_one_constant() -> None:
    holders = [
        path.relative_to(CLIENT).as_posix()
        for path, tree in trees().items()
        if "cbdeploy.toml" in _string_constants(tree)
    ]
    assert holders == ["config/find.py"]


def test_no_pattern_is_compiled_twice() -> None:
    """The stage regex (and every other) has one home; others import it."""
    patterns: Counter[str] = Counter()
    for tree in trees().values():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "compile"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                patterns[str(node.args[0].value)] += 1
    assert [pattern for pattern, count in patterns.items() if count > 1] == []
