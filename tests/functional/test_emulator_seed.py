"""The seed file: its format, and what it puts into the endpoint's SSM and Secrets Manager."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cbdeploy.emulator.seed import SeedError, apply, load_seed


def test_seeded_values_are_read_back_through_the_endpoint(
    boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    seed = tmp_path / "seed.toml"
    seed.write_text(
        f'region = "eu-west-2"\n[parameters]\n"/{tag}/secure" = "s3cr3t"\n'
        f'"/{tag}/plain" = {{ value = "on", type = "String" }}\n'
        f'[secrets]\n"{tag}/token" = "abc"\n"{tag}/db" = {{ user = "u", port = 5432 }}\n',
        encoding="utf-8",
    )
    apply(load_seed(seed), "us-east-1")
    apply(load_seed(seed), "us-east-1")  # again: values are overwritten, not refused
    ssm = boto_client("ssm", region="eu-west-2")
    secure = ssm.get_parameter(Name=f"/{tag}/secure", WithDecryption=True)["Parameter"]
    assert (secure["Value"], secure["Type"]) == ("s3cr3t", "SecureString")
    assert ssm.get_parameter(Name=f"/{tag}/plain")["Parameter"]["Type"] == "String"
    secrets = boto_client("secretsmanager", region="eu-west-2")
    assert secrets.get_secret_value(SecretId=f"{tag}/token")["SecretString"] == "abc"
    assert json.loads(secrets.get_secret_value(SecretId=f"{tag}/db")["SecretString"]) == {
        "user": "u", "port": 5432}


@pytest.mark.parametrize(("text", "problem"), [
    ("[parameters]\n\"/x\" = 3\n", "parameters./x"),
    ("[parameters]\n\"/x\" = \"\"\n", "empty value"),
    ("[parameters]\n\"/x\" = { value = \"v\", type = \"Bogus\" }\n", "type must be one of"),
    ("[secrets]\n\"x\" = 3\n", "secrets.x"),
    ("[secret]\n", "unknown key 'secret'"),
    ("[parameters\n", "not valid TOML"),
])
def test_bad_seed_files_name_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(text, encoding="utf-8")
    with pytest.raises(SeedError, match=problem):
        load_seed(seed)


def test_a_seed_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="not a regular file"):
        load_seed(tmp_path)
