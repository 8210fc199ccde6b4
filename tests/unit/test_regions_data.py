"""``--region`` is checked against botocore's endpoint data without importing botocore's
loader where the loader would read botocore's own file (issue 16, target 4: a tenth of a
second before every deploy). Same answer as the loader, which still serves a user's
``~/.aws/models/endpoints.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.loaders import create_loader

from cbdeploy.client.aws.regions import known_regions


def loader_regions() -> frozenset[str]:
    partitions = create_loader().load_data("endpoints")["partitions"]
    return frozenset(r for partition in partitions for r in partition["regions"])


def test_the_regions_read_directly_are_the_loaders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws/models here
    assert known_regions() == loader_regions()


def test_checking_a_region_imports_no_botocore(tmp_path: Path) -> None:
    probe = ("import sys\nfrom cbdeploy.client.cli.options import validate_region\n"
             "validate_region('eu-west-1')\n"
             "print(sorted(m for m in sys.modules if m.startswith('botocore')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "HOME": str(tmp_path)}, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_a_users_own_endpoint_data_is_still_read_through_the_loader(tmp_path: Path) -> None:
    """In a fresh interpreter: botocore fixes the loader's paths from HOME when imported."""
    models = tmp_path / ".aws" / "models"
    models.mkdir(parents=True)
    (models / "endpoints.json").write_text(json.dumps(
        {"version": 3, "partitions": [{"partition": "aws", "regions": {"mars-1": {}}}]}))
    probe = ("from cbdeploy.client.aws.regions import known_regions\n"
             "print(sorted(known_regions()))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "HOME": str(tmp_path)}, timeout=60, check=True)
    assert done.stdout.strip() == "['mars-1']"
