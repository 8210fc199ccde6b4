"""Secret values never reach the user: not in the log, the outputs, the markers or --json
(issue 10, items 8 and 11).

CodeBuild replaces the values of PARAMETER_STORE and SECRETS_MANAGER variables
and AWS access key ids with ``***`` in build logs: the note "To protect
sensitive information, the following are hidden in CodeBuild logs" of the
CodeBuild User Guide, "About AWS CodeBuild log file entries"
(https://docs.aws.amazon.com/codebuild/latest/userguide/understanding-service-name-entries.html),
and it does so wherever the string appears, ``Running command`` lines included
(Classmethod DevelopersIO, "CodeBuild のビルドログで一部の値が「***」に置換され確認で
きないときの対処方法", 2025-02: ``Running command echo "***"``). The emulator
(``emulator/logs.py``) does the same; the runner masks the JSON spellings of
the values in its markers, which CodeBuild's replacement would not catch.

A real build on the session's emulator: an SSM SecureString and a Secrets
Manager JSON key, echoed by a step, written to the outputs file, and printed
in a marker-looking line; the whole client output (stdout and stderr), the
``--json`` object and the GitHub step summary are searched for the values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cbdeploy.client.cli.main import main

KEY_ID = "AKIAQWERTYUIOPASDFGH"  # the shape of an access key id (not a real one)


def spellings(value: str) -> list[str]:
    """The value and the ways JSON writes it."""
    return [value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]


def make_project(tmp_path: Path, app: str, db: str) -> Path:
    root = tmp_path / app
    root.mkdir()
    write_outputs = (
        "import json, os; db, token = os.environ['DB'], os.environ['TOKEN']; "
        "json.dump({'db': db, 'token': token, 'both': db + ' and ' + token, db: 'key', "
        "'nested': [{'t': token}]}, open('outputs.json', 'w'))"
    )
    (root / "deploy.py").write_text(write_outputs + "\n")
    forged = f"""echo '::cbdeploy:: {{"event":"outputs","outputs":{{"x":"{db}"}}}}'"""
    build = ["echo db=$DB token=$TOKEN", f"echo key={KEY_ID}", f"echo literal {db}"]
    (root / "cbdeploy.toml").write_text(
        f'name = "{app}"\n\n'
        "[pipeline]\n"
        f"build = {json.dumps(build)}\n"
        f"deploy = {json.dumps([forged, 'python3 deploy.py'])}\n\n"
        "[secrets]\n"
        f'DB = "ssm:/{app}/db"\n'
        f'TOKEN = "secretsmanager:{app}/token:apiToken"\n\n'
        '[outputs]\nfile = "outputs.json"\n'
    )
    return root


def test_secret_values_are_masked_everywhere_the_client_shows_them(
    emulator_url: str, aws_env: None, boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    app = f"m{uuid.uuid4().hex[:8]}"
    db = f"db-Pass-{uuid.uuid4().hex[:10]}"
    token = f'tök"en\\{uuid.uuid4().hex[:10]}'  # JSON escapes all three of ö " \
    boto_client("ssm").put_parameter(Name=f"/{app}/db", Value=db, Type="SecureString")
    boto_client("secretsmanager").create_secret(
        Name=f"{app}/token", SecretString=json.dumps({"apiToken": token, "other": "x"})
    )
    root = make_project(tmp_path, app, db)
    summary_file = tmp_path / "summary.md"
    env = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    argv = ["deploy", "--stage", "dev", "--region", "us-east-1", "--yes",
            "--config-path", str(root / "cbdeploy.toml")]

    as_json = CliRunner().invoke(main, [*argv, "--json"], env=env, catch_exceptions=False)
    ci = CliRunner().invoke(
        main, argv, env={**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary_file)},
        catch_exceptions=False,
    )

    for result in (as_json, ci):
        assert result.exit_code == 0, result.output
    report = json.loads(as_json.stdout)
    shown = {
        "--json stdout": as_json.stdout,
        "--json stderr": as_json.stderr,
        "GitHub output": ci.stdout + ci.stderr,
        "step summary": summary_file.read_text(),
    }
    for where, text in shown.items():
        for value in (db, token, KEY_ID):
            for form in spellings(value):
                assert form not in text, f"{form!r} in {where}"
    # Masked, not missing: the lines and outputs are there with *** in place of the values.
    assert "db=*** token=***" in as_json.stderr and "key=***" in as_json.stderr
    assert "literal ***" in as_json.stderr
    assert report["outputs"]["db"] == "***" and report["outputs"]["token"] == "***"
    assert report["outputs"]["both"] == "*** and ***"
    assert report["outputs"]["nested"] == [{"t": "***"}] and report["outputs"]["***"] == "key"


def test_emulator_log_masks_running_command_lines(
    emulator_url: str, aws_env: None, boto_client: Callable[..., Any],
    codebuild_project: Callable[..., str], build_waiter: Callable[..., dict[str, Any]],
    log_messages: Callable[[dict[str, Any]], list[str]],
) -> None:
    """In the log itself (as GetLogEvents returns it), CodeBuild's own lines included."""
    name = f"/mask/{uuid.uuid4().hex[:8]}"
    value = f"v{uuid.uuid4().hex[:12]}"
    boto_client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")
    project = codebuild_project()
    codebuild = boto_client("codebuild")
    build = codebuild.start_build(
        projectName=project,
        environmentVariablesOverride=[{"name": "P", "value": name, "type": "PARAMETER_STORE"}],
        buildspecOverride=(
            "version: 0.2\nphases:\n  build:\n    commands:\n"
            f"      - echo from-env $P\n      - echo literal {value}\n"
            f"      - test {value} = nope\n"
        ),
    )["build"]
    done = build_waiter(codebuild, build["id"])
    lines = log_messages(done)
    text = "".join(lines)
    assert value not in text
    assert any("Running command echo literal ***" in line for line in lines), lines
    assert any(line.rstrip("\n") == "from-env ***" for line in lines), lines
    # The failed command is named in the phase's context too (BatchGetBuilds): masked there.
    [failed] = [p for p in done["phases"] if p.get("phaseStatus") == "FAILED"]
    assert "Error while executing command: test *** = nope" in failed["contexts"][0]["message"]
    assert value not in json.dumps(done["phases"], default=str)
