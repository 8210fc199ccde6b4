"""``logs``, ``stop`` and ``builds`` name a build by its full id, its UUID, a unique prefix
of the UUID, or not at all (the stage's latest), through the emulator over loopback.

The stage's CodeBuild project is made directly (a NO_SOURCE project named as
cbdeploy names the stage's), and its builds started with StartBuild, each
echoing its own marker: the emulator really runs them, so the log a command
prints tells which build it resolved.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.names import project_name

Run = Callable[..., Result]


def spec(marker: str, sleep: int = 0) -> str:
    pause = f"sleep {sleep}; " if sleep else ""
    return f'version: 0.2\nphases:\n  build:\n    commands: ["{pause}echo {marker}"]\n'


@pytest.fixture
def stage(tmp_path: Path, codebuild_project: Callable[..., str]) -> tuple[Path, str]:
    """(config path, project) of an app whose stage dev has a CodeBuild project, no builds."""
    app = f"r{uuid.uuid4().hex[:10]}"
    config = tmp_path / app / "cbdeploy.toml"
    config.parent.mkdir()
    config.write_text(f'name = "{app}"\n')
    return config, codebuild_project(name=project_name(app, "dev"))


@pytest.fixture
def cli(emulator_url: str, aws_env: None, tmp_path: Path) -> Run:
    env = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--region", "us-east-1"], env=env)

    return run


def start(boto_client: Callable[..., Any], project: str, marker: str, sleep: int = 0) -> str:
    build = boto_client("codebuild").start_build(projectName=project,
                                                 buildspecOverride=spec(marker, sleep))
    return str(build["build"]["id"])


def test_logs_without_an_id_prints_the_stages_latest_build(
    cli: Run, stage: tuple[Path, str], boto_client: Callable[..., Any],
    build_waiter: Callable[..., Any],
) -> None:
    config, project = stage
    codebuild = boto_client("codebuild")
    ids = [start(boto_client, project, marker) for marker in ("first-build", "second-build")]
    for build_id in ids:
        build_waiter(codebuild, build_id)
    result = cli("logs", "--stage", "dev", "--config-path", str(config))
    assert result.exit_code == 0, result.output
    assert "second-build" in result.output and "first-build" not in result.output
    assert "Endpoint:" in result.output  # (the header still says where the build runs)
    report = json.loads(cli("logs", "--stage", "dev", "--config-path", str(config),
                            "--json").stdout)
    assert (report["buildId"], report["status"]) == (ids[1], "SUCCEEDED")
    assert report["endpoint"] is not None


def test_a_uuid_or_its_unique_prefix_names_the_build(
    cli: Run, stage: tuple[Path, str], boto_client: Callable[..., Any],
    build_waiter: Callable[..., Any],
) -> None:
    config, project = stage
    codebuild = boto_client("codebuild")
    ids = [start(boto_client, project, f"marker-{n}") for n in range(2)]
    for build_id in ids:
        build_waiter(codebuild, build_id)
    uuids = [i.split(":", 1)[1] for i in ids]
    # The shortest prefix of the first UUID that the second does not share.
    length = next(n for n in range(1, 37) if uuids[0][:n] != uuids[1][:n])
    for ref in (uuids[0], uuids[0][:length], uuids[0][:length].upper(), ids[0]):
        result = cli("logs", ref, "--stage", "dev", "--config-path", str(config))
        assert result.exit_code == 0, (ref, result.output)
        assert "marker-0" in result.output and "marker-1" not in result.output
    listed = cli("builds", uuids[1][:length], "--stage", "dev", "--config-path", str(config))
    assert listed.exit_code == 0, listed.output
    assert ids[1] in listed.output and ids[0] not in listed.output


def test_an_ambiguous_prefix_lists_the_candidates(
    cli: Run, stage: tuple[Path, str], boto_client: Callable[..., Any],
    build_waiter: Callable[..., Any],
) -> None:
    """Builds until two UUIDs share a first character (at most 17, by pigeonhole)."""
    config, project = stage
    codebuild = boto_client("codebuild")
    by_first: dict[str, list[str]] = {}
    while not any(len(v) > 1 for v in by_first.values()):
        build_id = start(boto_client, project, "ok")
        build_waiter(codebuild, build_id)
        by_first.setdefault(build_id.split(":", 1)[1][0], []).append(build_id)
    first, candidates = next((k, v) for k, v in by_first.items() if len(v) > 1)
    result = cli("logs", first, "--stage", "dev", "--config-path", str(config))
    assert result.exit_code == 2, result.output
    assert f"'{first}' is the start of {len(candidates)} builds of stage dev" in result.output
    for build_id in candidates:
        assert build_id in result.output
    assert "Traceback" not in result.output


def test_a_prefix_that_matches_nothing_says_where_it_looked(
    cli: Run, stage: tuple[Path, str], boto_client: Callable[..., Any],
    build_waiter: Callable[..., Any],
) -> None:
    config, project = stage
    build_id = start(boto_client, project, "ok")
    build_waiter(boto_client("codebuild"), build_id)
    other = "0" if build_id.split(":", 1)[1][0] != "0" else "1"
    result = cli("stop", other, "--stage", "dev", "--config-path", str(config))
    assert result.exit_code == 2, result.output
    assert (f"No build of stage dev (CodeBuild project {project} in us-east-1) has an id "
            f"starting with '{other}' (its 1 most recent builds)") in result.output
    never = cli("logs", "--stage", "dev", "--config-path", str(config.parent.parent / "x.toml"))
    assert never.exit_code == 2 and "No config file" in never.output


def test_stop_without_an_id_stops_the_stages_running_build(
    cli: Run, stage: tuple[Path, str], boto_client: Callable[..., Any],
    build_waiter: Callable[..., Any],
) -> None:
    config, project = stage
    running = start(boto_client, project, "slow", sleep=30)
    result = cli("stop", "--stage", "dev", "--config-path", str(config))
    assert result.exit_code == 0, result.output
    assert f"Stopping build {running}" in result.output
    assert build_waiter(boto_client("codebuild"), running)["buildStatus"] == "STOPPED"


def test_a_stage_without_builds_and_a_missing_stage_are_refused(
    cli: Run, stage: tuple[Path, str]
) -> None:
    config, project = stage
    result = cli("logs", "--stage", "dev", "--config-path", str(config))
    assert result.exit_code == 2, result.output
    assert f"No builds of stage dev (CodeBuild project {project} in us-east-1) yet" in result.output
    result = cli("stop", "abc123", "--config-path", str(config))
    assert result.exit_code == 2, result.output
    assert "No stage to look the build up in" in result.output
    result = cli("logs", "not-a-build!", "--stage", "dev", "--config-path", str(config))
    assert result.exit_code == 2 and "Not a build id: 'not-a-build!'" in result.output
