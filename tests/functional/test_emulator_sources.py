"""Build inputs: the source zip from S3, buildspecs, PARAMETER_STORE and SECRETS_MANAGER values."""

from __future__ import annotations

import io
import json
import stat
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ECHO_SPEC = "version: 0.2\nphases:\n  build:\n    commands: [\"echo ran\"]\n"


@pytest.fixture
def codebuild(boto_client: Callable[..., Any]) -> Any:
    return boto_client("codebuild")


@pytest.fixture
def bucket(boto_client: Callable[..., Any]) -> str:
    name = f"emu-src-{uuid.uuid4().hex[:12]}"
    boto_client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def upload(boto_client: Callable[..., Any], bucket: str) -> Callable[[bytes], str]:
    """``upload(zip_bytes)``: the ``bucket/key.zip`` location of the uploaded archive."""

    def put(data: bytes) -> str:
        key = f"sources/{uuid.uuid4().hex}.zip"
        boto_client("s3").put_object(Bucket=bucket, Key=key, Body=data)
        return f"{bucket}/{key}"

    return put


@pytest.fixture
def run_s3_build(codebuild: Any, codebuild_project: Callable[..., str],
                 build_waiter: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def run(location: str, spec: str | None = ECHO_SPEC, **overrides: Any) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "projectName": codebuild_project(),
            "sourceTypeOverride": "S3",
            "sourceLocationOverride": location,
            **overrides,
        }
        if spec is not None:
            arguments["buildspecOverride"] = spec
        build = codebuild.start_build(**arguments)["build"]
        return build_waiter(codebuild, build["id"])

    return run


def make_zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A zip whose entries carry unix modes (``external_attr``) like ``zip -y`` writes them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.create_system = 3
            archive.writestr(info, data)
    return buffer.getvalue()


def statuses(build: dict[str, Any]) -> dict[str, str | None]:
    return {p["phaseType"]: p.get("phaseStatus") for p in build["phases"]}


def context(build: dict[str, Any], phase: str) -> dict[str, str]:
    return next(p for p in build["phases"] if p["phaseType"] == phase)["contexts"][0]


def test_zip_source_keeps_modes_and_symlinks(upload, run_s3_build, log_messages):
    data = make_zip([
        ("bin/", b"", stat.S_IFDIR | 0o755),
        ("bin/run.sh", b"#!/bin/sh\necho script ran\n", stat.S_IFREG | 0o755),
        ("conf/private.txt", b"secret-ish", stat.S_IFREG | 0o600),
        ("run-link", b"bin/run.sh", stat.S_IFLNK | 0o777),
        ("conf-link", b"conf", stat.S_IFLNK | 0o777),
    ])
    spec = """version: 0.2
phases:
  build:
    commands:
      - ./bin/run.sh
      - ./run-link
      - echo "link=$(readlink run-link)"
      - echo "mode=$(stat -c %a conf/private.txt)"
      - cat conf-link/private.txt; echo
"""
    build = run_s3_build(upload(data), spec)
    lines = log_messages(build)

    assert build["buildStatus"] == "SUCCEEDED", lines
    assert lines.count("script ran") == 2
    assert "link=bin/run.sh" in lines
    assert "mode=600" in lines
    assert "secret-ish" in lines
    assert build["source"] == {"type": "S3", "location": build["source"]["location"], "buildspec": spec}


def test_buildspec_file_from_the_source(upload, codebuild, codebuild_project, build_waiter,
                                        run_s3_build, log_messages):
    data = make_zip([
        ("buildspec.yml", ECHO_SPEC.encode(), 0o100644),
        ("ci/other.yml", ECHO_SPEC.replace("ran", "other ran").encode(), 0o100644),
    ])
    location = upload(data)
    project = codebuild_project(source={"type": "S3", "location": location})
    build = build_waiter(codebuild, codebuild.start_build(projectName=project)["build"]["id"])
    assert "ran" in log_messages(build)
    assert "other ran" in log_messages(run_s3_build(location, "ci/other.yml"))


def test_buildspec_path_missing_in_source_is_a_yaml_file_error(upload, run_s3_build):
    build = run_s3_build(upload(make_zip([("a.txt", b"a", 0o100644)])), "ci/missing.yml")
    assert build["buildStatus"] == "FAILED"
    assert statuses(build)["DOWNLOAD_SOURCE"] == "FAILED"
    assert context(build, "DOWNLOAD_SOURCE")["statusCode"] == "YAML_FILE_ERROR"
    assert "ci/missing.yml" in context(build, "DOWNLOAD_SOURCE")["message"]


@pytest.mark.parametrize("spec", [
    "version: 0.2\nphases: [unclosed\n",
    "phases:\n  build:\n    commands: [\"true\"]\n",
    "version: 0.2\nphases:\n  build:\n    commands:\n      - echo: {nested: map}\n",
    "version: 0.2\nphases:\n  compile:\n    commands: [\"true\"]\n",
])
def test_bad_buildspec_fails_download_source(codebuild, codebuild_project, build_waiter, log_messages, spec):
    build = codebuild.start_build(projectName=codebuild_project(), buildspecOverride=spec)["build"]
    build = build_waiter(codebuild, build["id"])

    assert build["buildStatus"] == "FAILED"
    assert [p["phaseType"] for p in build["phases"]][-3:] == ["DOWNLOAD_SOURCE", "FINALIZING", "COMPLETED"]
    assert context(build, "DOWNLOAD_SOURCE")["statusCode"] == "YAML_FILE_ERROR"
    assert any(
        line.endswith("Phase complete: DOWNLOAD_SOURCE State: FAILED") for line in log_messages(build)
    )


@pytest.mark.parametrize("entries", [
    [("../escaped.txt", b"x", 0o100644)],
    [("/tmp/absolute-escape.txt", b"x", 0o100644)],
    [("ok/../../escaped.txt", b"x", 0o100644)],
    [("out", b"../../..", 0o120777), ("out/escaped.txt", b"x", 0o100644)],
    [("abs-link", b"/etc", 0o120777)],
    [("dot", b".", 0o120777), ("up", b"dot/..", 0o120777)],
], ids=["dotdot", "absolute", "nested-dotdot", "link-then-write", "absolute-link", "link-chain"])
def test_zip_slip_entry_fails_the_build_and_writes_nothing_outside(upload, run_s3_build, entries, tmp_path):
    build = run_s3_build(upload(make_zip(entries)))

    assert build["buildStatus"] == "FAILED"
    assert statuses(build)["DOWNLOAD_SOURCE"] == "FAILED"
    assert context(build, "DOWNLOAD_SOURCE")["statusCode"] == "CLIENT_ERROR"
    assert "insecure file path" in context(build, "DOWNLOAD_SOURCE")["message"]
    assert not Path("/tmp/absolute-escape.txt").exists()


def test_missing_source_object_is_a_client_error(bucket, run_s3_build):
    build = run_s3_build(f"{bucket}/sources/nope.zip")
    assert statuses(build)["DOWNLOAD_SOURCE"] == "FAILED"
    assert context(build, "DOWNLOAD_SOURCE")["statusCode"] == "CLIENT_ERROR"
    assert "NoSuchKey" in context(build, "DOWNLOAD_SOURCE")["message"]


def test_parameter_store_and_secrets_manager_values(boto_client, codebuild, codebuild_project,
                                                     build_waiter, log_messages):
    suffix = uuid.uuid4().hex[:8]
    ssm, secrets = boto_client("ssm"), boto_client("secretsmanager")
    ssm.put_parameter(Name=f"/emu/{suffix}/db", Value="db-value", Type="SecureString")
    ssm.put_parameter(Name=f"/emu/{suffix}/plain", Value="plain-value", Type="String")
    secrets.create_secret(Name=f"emu/{suffix}/token", SecretString=json.dumps({"apiToken": "tok-value"}))
    secrets.create_secret(Name=f"emu/{suffix}/whole", SecretString="whole-value")
    spec = f"""version: 0.2
env:
  parameter-store:
    FROM_SPEC_PARAM: /emu/{suffix}/plain
  secrets-manager:
    FROM_SPEC_SECRET: emu/{suffix}/token:apiToken
phases:
  build:
    commands:
      - test "$DB" = db-value && echo db ok
      - test "$TOKEN" = tok-value && echo token ok
      - test "$WHOLE" = whole-value && echo whole ok
      - test "$FROM_SPEC_PARAM" = plain-value && echo spec param ok
      - test "$FROM_SPEC_SECRET" = tok-value && echo spec secret ok
"""
    build = codebuild.start_build(
        projectName=codebuild_project(),
        buildspecOverride=spec,
        environmentVariablesOverride=[
            {"name": "DB", "value": f"/emu/{suffix}/db", "type": "PARAMETER_STORE"},
            {"name": "TOKEN", "value": f"emu/{suffix}/token:apiToken", "type": "SECRETS_MANAGER"},
            {"name": "WHOLE", "value": f"emu/{suffix}/whole", "type": "SECRETS_MANAGER"},
        ],
    )["build"]
    build = build_waiter(codebuild, build["id"])
    lines = log_messages(build)

    assert build["buildStatus"] == "SUCCEEDED", lines
    for expected in ("db ok", "token ok", "whole ok", "spec param ok", "spec secret ok"):
        assert expected in lines
    reported = {v["name"]: v for v in build["environment"]["environmentVariables"]}
    assert reported["DB"] == {"name": "DB", "value": f"/emu/{suffix}/db", "type": "PARAMETER_STORE"}


@pytest.mark.parametrize(("kind", "code", "message"), [
    ("SECRETS_MANAGER", "Secrets Manager Error", "Secrets Manager can't find the specified secret"),
    ("PARAMETER_STORE", "Decrypted Variables Error", "parameter does not exist: /emu/missing"),
])
def test_missing_secret_or_parameter_fails_download_source(codebuild, codebuild_project, build_waiter,
                                                            log_messages, kind, code, message):
    """CodeBuild fails DOWNLOAD_SOURCE ("Decrypted Variables Error" / "Secrets Manager Error").

    Phase, status codes and messages checked against public build logs: "Phase context
    status code: Decrypted Variables Error Message: parameter does not exist: <name>"
    (cloudposse/terraform-aws-cicd#107, aws/aws-codebuild-docker-images#159) and
    "Secrets Manager Error: ResourceNotFoundException: Secrets Manager can't find the
    specified secret." in DOWNLOAD_SOURCE (aws/aws-codebuild-docker-images#475)."""
    build = codebuild.start_build(
        projectName=codebuild_project(),
        buildspecOverride=ECHO_SPEC,
        environmentVariablesOverride=[{"name": "X", "value": "/emu/missing", "type": kind}],
    )["build"]
    build = build_waiter(codebuild, build["id"])

    assert build["buildStatus"] == "FAILED"
    assert statuses(build)["DOWNLOAD_SOURCE"] == "FAILED"
    assert "BUILD" not in statuses(build)
    assert context(build, "DOWNLOAD_SOURCE")["statusCode"] == code
    assert message in context(build, "DOWNLOAD_SOURCE")["message"]
    assert any(line.endswith(f"Phase context status code: {code} Message: "
                             + context(build, "DOWNLOAD_SOURCE")["message"]) for line in log_messages(build))


SECONDARY_SPEC = (
    "version: 0.2\nphases:\n  build:\n    commands:\n"
    '      - echo "primary=$(cat p.txt) base=$(cat "$CODEBUILD_SRC_DIR_base/b.txt")"\n'
    '      - test "$CODEBUILD_SRC_DIR_base" != "$CODEBUILD_SRC_DIR" && test ! -e b.txt && echo apart\n'
)


def test_a_secondary_source_is_extracted_apart_and_named_by_its_identifier(
    upload, run_s3_build, log_messages
):
    """CodeBuild's documented behaviour: each secondary source in a directory of its own,
    ``CODEBUILD_SRC_DIR_<sourceIdentifier>``; the build lists it in ``secondarySources``."""
    primary = upload(make_zip([("p.txt", b"P", 0o100644)]))
    base = upload(make_zip([("b.txt", b"B", 0o100644)]))
    secondary = [{"type": "S3", "location": base, "sourceIdentifier": "base"}]
    build = run_s3_build(primary, SECONDARY_SPEC, secondarySourcesOverride=secondary)
    assert build["buildStatus"] == "SUCCEEDED", log_messages(build)
    lines = log_messages(build)
    assert "primary=P base=B" in lines and "apart" in lines
    assert build["secondarySources"] == secondary


def test_a_missing_secondary_source_is_a_client_error(bucket, upload, run_s3_build):
    primary = upload(make_zip([("p.txt", b"P", 0o100644)]))
    secondary = [{"type": "S3", "location": f"{bucket}/gone.zip", "sourceIdentifier": "base"}]
    build = run_s3_build(primary, SECONDARY_SPEC, secondarySourcesOverride=secondary)
    assert statuses(build)["DOWNLOAD_SOURCE"] == "FAILED"
    assert context(build, "DOWNLOAD_SOURCE")["statusCode"] == "CLIENT_ERROR"
    assert "for secondary source" in context(build, "DOWNLOAD_SOURCE")["message"]


@pytest.mark.parametrize(
    "secondary, message",
    [
        ([{"type": "S3", "location": "b/k.zip", "sourceIdentifier": "bad-name"}], "identifier"),
        ([{"type": "S3", "location": "b/k.zip"}], "identifier"),
        ([{"type": "S3", "location": "b/k.zip", "sourceIdentifier": "x"}] * 2, "Duplicate"),
        ([{"type": "S3", "location": "nokey", "sourceIdentifier": "x"}], "location"),
    ],
)
def test_bad_secondary_sources_are_refused_at_start(codebuild, codebuild_project, upload,
                                                    secondary, message):
    with pytest.raises(codebuild.exceptions.InvalidInputException, match=message):
        codebuild.start_build(
            projectName=codebuild_project(), sourceTypeOverride="S3",
            sourceLocationOverride=upload(make_zip([("p.txt", b"P", 0o100644)])),
            buildspecOverride=ECHO_SPEC, secondarySourcesOverride=secondary,
        )
