"""docs/config.md is the generator's output, covers every key the schema accepts, and its
examples load (issue 17, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cbdeploy.client.config.load import load_config
from cbdeploy.client.config.reference import KEYS, SCHEMA_TABLES, Key, example_table, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_docs_config_md_is_what_the_generator_prints() -> None:
    assert DOC.read_text() == render(), (
        "docs/config.md is stale: run 'make docs' (python -m cbdeploy.client.config.reference "
        "> docs/config.md) and commit it"
    )


@pytest.mark.parametrize("table", sorted(SCHEMA_TABLES))
def test_every_key_the_schema_accepts_is_documented(table: str) -> None:
    prefix = f"{table}." if table else ""
    documented = {k.key[len(prefix):].split(".")[0] for k in KEYS if k.key.startswith(prefix)}
    assert documented == set(SCHEMA_TABLES[table])


@pytest.mark.parametrize("entry", KEYS, ids=[k.key for k in KEYS])
def test_each_example_loads(entry: Key, tmp_path: Path) -> None:
    table = entry.key.rpartition(".")[0]
    text = entry.example
    if table and not text.startswith("["):
        text = f"[{example_table(table)}]\n{text}"
    if entry.key != "name":
        text = f'name = "shop"\n{text}'
    if entry.key.startswith("hooks."):
        text += '\n[scripts.migrate]\nexecuteCommand = "true"\n[scripts.smoke]\nexecuteCommand = "true"'
    (tmp_path / "cbdeploy.toml").write_text(text + "\n")
    (tmp_path / "buildspec.yml").write_text("version: 0.2\nphases:\n  build:\n    commands: [echo]\n")
    (tmp_path / "services" / "api").mkdir(parents=True)
    for folder in (tmp_path, tmp_path / "services" / "api"):
        (folder / "Dockerfile").write_text("FROM scratch\n")
    load_config(tmp_path, "prod")
