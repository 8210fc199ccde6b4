"""``cbdeploy defaults:configure`` at a real terminal, then a deploy that relies on it.

The prompts run in a real pseudo-terminal (stdlib ``pty``): the installed
``cbdeploy`` sees a TTY on stdin and stdout, as at a user's shell. The stored
defaults live under a temporary ``XDG_CONFIG_HOME``; the deploy uses
``--local`` (the emulator in its own process), so no AWS account is involved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cbdeploy.client.infra.names import project_name
from tests.pty_terminal import Terminal

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        TERM="xterm",
    )
    return env


def test_prompted_defaults_are_used_by_the_next_deploy(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    env["AWS_CONFIG_FILE"] = str(tmp_path / "aws-config")
    (tmp_path / "aws-config").write_text("[profile work]\n")
    term = Terminal([CBDEPLOY, "defaults:configure"], env, tmp_path)
    term.expect("Default stage [dev]: ")
    term.answer("Prod")  # not a stage name: said why, and asked again
    term.expect("Invalid stage name 'Prod'")
    term.expect("Default stage [dev]: ")
    term.answer("qa")
    term.expect("Default region [us-east-1]: ")
    term.answer("eu-west-2")
    term.expect("Default AWS profile ('-' for none) [-]: ")
    term.answer("wrok")  # no such profile: said so, and asked again
    term.expect("No AWS profile 'wrok'")
    term.expect("Default AWS profile ('-' for none) [-]: ")
    term.answer("work")
    code, rest = term.finish()
    assert code == 0, rest
    stored = tmp_path / "xdg" / "cbdeploy" / "defaults.json"
    assert f"Saved to {stored}:" in rest
    assert json.loads(stored.read_text()) == {
        "stage": "qa", "region": "eu-west-2", "profile": "work"
    }

    listed = subprocess.run(
        [CBDEPLOY, "defaults:list"], env=env, capture_output=True, text=True, timeout=30
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "stage:   qa", "region:  eu-west-2", "profile: work", f"(stored in {stored})"
    ]

    project = tmp_path / "app"
    project.mkdir()
    (project / "cbdeploy.toml").write_text(
        'name = "defaults-e2e"\n\n[pipeline]\ndeploy = ["echo deploying $STAGE in $REGION"]\n'
    )
    deployed = subprocess.run(
        [CBDEPLOY, "deploy", "--local", "--yes", "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    result = json.loads(deployed.stdout)
    assert (result["stage"], result["region"], result["status"]) == ("qa", "eu-west-2", "SUCCEEDED")
    assert result["buildId"].startswith(project_name("defaults-e2e", "qa") + ":")
    assert "deploying qa in eu-west-2" in deployed.stderr


def test_ctrl_c_at_a_prompt_saves_nothing(tmp_path: Path) -> None:
    term = Terminal([CBDEPLOY, "defaults:configure"], clean_env(tmp_path), tmp_path)
    term.expect("Default stage [dev]: ")
    term.answer("qa")
    term.expect("Default region [us-east-1]: ")
    term.wait_until_reading()
    term.ctrl_c()
    code, rest = term.finish()
    assert code == 130
    assert "Nothing saved." in rest
    assert not (tmp_path / "xdg" / "cbdeploy" / "defaults.json").exists()


def test_without_a_terminal_or_options_it_says_which_options_to_pass(tmp_path: Path) -> None:
    result = subprocess.run(
        [CBDEPLOY, "defaults:configure"], env=clean_env(tmp_path), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Error: No defaults given, and no terminal to ask for them.",
        "Pass what to store, for example: cbdeploy defaults:configure --stage dev "
        "--region us-east-1 [--aws-profile NAME]",
    ]
    assert not (tmp_path / "xdg" / "cbdeploy" / "defaults.json").exists()
