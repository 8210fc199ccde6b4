"""Shell completion through click, for lazily loaded commands and names with a colon.

Driven as the shells' scripts drive it: ``_CBDEPLOY_COMPLETE=bash_complete``
with ``COMP_WORDS``/``COMP_CWORD`` as bash sets them (bash splits words at
``:``, so ``defaults:c`` arrives as ``defaults``, ``:``, ``c``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.completion import join_colon_words
from cbdeploy.client.cli.main import main
from cbdeploy.client.config import defaults


def complete(words: str, shell: str = "bash", *, cursor_at_new_word: bool = False) -> list[str]:
    split = words.split()
    cword = len(split) if cursor_at_new_word else len(split) - 1
    result = CliRunner().invoke(
        main,
        [],
        prog_name="cbdeploy",
        env={"_CBDEPLOY_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
             "COMP_CWORD": str(cword)},
    )
    assert result.exit_code == 0, result.output
    if shell == "bash":
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]
    return result.stdout.splitlines()


def test_bash_source_prints_the_script() -> None:
    result = CliRunner().invoke(
        main, [], prog_name="cbdeploy", env={"_CBDEPLOY_COMPLETE": "bash_source"}
    )
    assert result.exit_code == 0
    assert "_cbdeploy_completion() {" in result.stdout
    assert "complete -o nosort -F _cbdeploy_completion cbdeploy" in result.stdout


def test_command_names_complete() -> None:
    assert complete("cbdeploy de") == ["deploy", "destroy", "defaults:configure", "defaults:list"]
    assert complete("cbdeploy", cursor_at_new_word=True)[:3] == ["deploy", "package", "logs"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [("cbdeploy defaults :", ["configure", "list"]),
     ("cbdeploy defaults : c", ["configure"]),
     ("cbdeploy defaults : l", ["list"])],
)
def test_names_split_at_the_colon_complete_after_it(words: str, expected: list[str]) -> None:
    """Readline replaces only the text after the colon, so that is what is offered."""
    assert complete(words) == expected


def test_options_of_lazily_loaded_commands_complete() -> None:
    assert complete("cbdeploy deploy --st") == ["--stage"]
    assert "--yes" in complete("cbdeploy codebuild : deploy --")
    assert complete("cbdeploy defaults : configure --aws") == ["--aws-profile", "--awsProfile"]
    assert complete("cbdeploy package --li") == ["--list"]


def test_option_values_complete() -> None:
    assert complete("cbdeploy builds --region eu-west-") == ["eu-west-1", "eu-west-2", "eu-west-3"]
    assert complete("cbdeploy deploy --log-level", cursor_at_new_word=True) == ["info", "debug", "trace"]


def test_zsh_completes_colon_names_whole() -> None:
    """zsh does not split at ':'; click escapes the colon for zsh's _describe."""
    out = complete("cbdeploy defaults:", shell="zsh")
    assert "defaults\\:configure" in out and "defaults\\:list" in out


@pytest.mark.parametrize(
    ("words", "current", "expected"),
    [
        (["cbdeploy", "defaults", ":", "c"], 3, (["cbdeploy", "defaults:c"], 1, True)),
        (["cbdeploy", "defaults", ":"], 2, (["cbdeploy", "defaults:"], 1, True)),
        (["cbdeploy", "logs", "app", ":", "b1", "--fo"], 5, (["cbdeploy", "logs", "app:b1", "--fo"], 3, False)),
        (["cbdeploy", "defaults:c"], 1, (["cbdeploy", "defaults:c"], 1, False)),
        (["cbdeploy", "deploy"], 2, (["cbdeploy", "deploy"], 2, False)),
    ],
)
def test_join_colon_words(
    words: list[str], current: int, expected: tuple[list[str], int, bool]
) -> None:
    assert join_colon_words(words, current) == expected


def test_stage_completes_from_the_config_and_the_stored_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "cbdeploy.toml").write_text(
        'name = "app"\n[stages.prod]\nconfirm = true\n[stages.pr-1]\nconfirm = false\n'
    )
    defaults.save(defaults.Defaults(stage="dev"))
    assert complete("cbdeploy deploy --stage", cursor_at_new_word=True) == ["dev", "pr-1", "prod"]
    assert complete("cbdeploy builds -s pr") == ["pr-1", "prod"]
    other = tmp_path / "other.toml"
    other.write_text('[stages.qa]\nconfirm = true\n')
    assert complete(f"cbdeploy package --config-path {other} --stage q") == ["qa"]


def test_profile_completes_from_the_aws_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n[profile work]\n[profile work-sso]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    assert complete("cbdeploy deploy --aws-profile w") == ["work", "work-sso"]
    assert complete("cbdeploy defaults : configure --aws-profile d") == ["default"]
