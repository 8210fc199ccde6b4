"""Config values a build cannot run are refused up front (exit 2, naming key and file).

Through the CLI (``cbdeploy package``, CliRunner): loading the config is the
first thing every command does, before any AWS call or upload. The limits, and
where they come from:

- CodeBuild's StartBuild refuses a variable over 4096 characters: its
  InvalidInputException says "EnvironmentVariable should be at most 4096
  characters" (quoted in wolfeidau/buildkite-serverless-agent#35; botocore's
  codebuild service-2.json gives EnvironmentVariable.value no max, so the
  service checks it).
- An inline buildspec (``buildspecOverride``, which carries a
  ``codebuild.buildspec`` file) holds at most 25,600 characters: an
  undocumented CodeBuild limit found by aws/aws-cdk#14974.
- Each step runs as ONE ``bash -c`` argument: Linux caps one execve string
  at 32 pages, 128 KiB (MAX_ARG_STRLEN, execve(2) "Limits on size of
  arguments and environment"), and arguments plus environment together at a
  quarter of the stack limit, 2 MiB by default (ARG_MAX; ``getconf ARG_MAX``).
  cbdeploy gives the variables it sets half of that (1 MiB).
- A NUL byte ends a C string: no command line or variable can carry one
  (Python's subprocess raises "embedded null byte").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main


def package(tmp_path: Path, toml: str) -> Result:
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    (project / "cbdeploy.toml").write_text('name = "limits"\n' + toml)
    return CliRunner().invoke(
        main,
        ["package", "--list", "--config-path", str(project / "cbdeploy.toml")],
        env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )


def assert_config_error(result: Result, key: str, tmp_path: Path, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'proj' / 'cbdeploy.toml'}" in result.output
    assert f": {key}: " in result.output
    for word in words:
        assert word in result.output
    assert "internal error" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[pipeline]\nbuild = ["echo a\\u0000b"]\n', "pipeline.build"),
        ('[environment]\nTOKEN = "x\\u0000y"\n', "environment.TOKEN"),
        ('[scripts.s]\nexecuteCommand = "ls\\u0000"\n', "scripts.s.executeCommand"),
        ('[scripts.s]\nexecuteCommand = "ls"\nenvironment = { A = "\\u0000" }\n',
         "scripts.s.environment.A"),
    ],
)
def test_a_nul_byte_in_a_command_or_variable_is_refused(
    tmp_path: Path, toml: str, key: str
) -> None:
    assert_config_error(package(tmp_path, toml), key, tmp_path, "NUL")


def test_a_one_megabyte_command_is_refused(tmp_path: Path) -> None:
    command = "echo " + "x" * 1_000_000
    result = package(tmp_path, f"[pipeline]\ndeploy = [{json.dumps(command)}]\n")
    assert_config_error(result, "pipeline.deploy", tmp_path, "131,072 bytes", "MAX_ARG_STRLEN")


def test_commands_that_fit_one_bash_argument_are_accepted(tmp_path: Path) -> None:
    command = "echo " + "x" * 60_000  # echoed and run: about 120 KB of script
    result = package(tmp_path, f"[pipeline]\nbuild = [{json.dumps(command)}]\n")
    assert result.exit_code == 0, result.output


def test_a_codebuild_variable_over_4096_characters_is_refused(tmp_path: Path) -> None:
    result = package(tmp_path, f'[environment]\nBIG = "{"é" * 4097}"\n')
    assert_config_error(result, "environment.BIG", tmp_path, "4,097 characters", "4,096")
    assert package(tmp_path, f'[environment]\nBIG = "{"é" * 4096}"\n').exit_code == 0


def test_a_ten_megabyte_value_is_refused_by_the_config_size_cap(tmp_path: Path) -> None:
    result = package(tmp_path, f'[environment]\nBIG = "{"x" * 10_000_000}"\n')
    assert result.exit_code == 2, result.output
    assert "larger than 1 MB" in result.output and "cbdeploy.toml" in result.output


def test_a_large_script_variable_is_refused_with_its_key(tmp_path: Path) -> None:
    toml = f'[scripts.s]\nexecuteCommand = "ls"\nenvironment = {{ BLOB = "{"x" * 200_000}" }}\n'
    assert_config_error(package(tmp_path, toml), "scripts.s.environment.BLOB", tmp_path, "131,071")


def test_a_hundred_thousand_variables_are_refused(tmp_path: Path) -> None:
    toml = "[environment]\n" + "".join(f"A{i}=1\n" for i in range(100_000))
    assert len(toml) < 1_000_000  # under the file cap: the environment limit must say no
    assert_config_error(package(tmp_path, toml), "environment", tmp_path, "1,048,576")


def test_a_buildspec_over_25600_characters_is_refused(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    lines = ["version: 0.2", "phases:", "  build:", "    commands:"]
    lines += [f"      - echo {'x' * 60} {i}" for i in range(400)]
    (tmp_path / "proj" / "buildspec.yml").write_text("\n".join(lines) + "\n")
    result = package(tmp_path, '[codebuild]\nbuildspec = "buildspec.yml"\n')
    assert_config_error(result, "codebuild.buildspec", tmp_path, "25,600 characters")
