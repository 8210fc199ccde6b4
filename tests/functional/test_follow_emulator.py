"""What a real build prints reaches the user whole and harmless (``deploy`` against the emulator).

The emulator really runs each build; its log goes through moto's CloudWatch
Logs, where a long line is stored as several events cut at the 256 KB event
limit (the emulator splits it as CodeBuild does, see ``emulator/logs.py``).
The CLI runs in-process with click's CliRunner, so its stderr is no terminal:
plain output, where no control sequence may survive; ``FORCE_COLOR`` gives
the terminal mode, where only SGR colours may.
"""

from __future__ import annotations

import json
import shlex
import uuid
from pathlib import Path

from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main

LONG = 600_000


def project(tmp_path: Path, build: list[str], deploy: list[str] | None = None) -> Path:
    name = f"f{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    toml = f'name = "{name}"\n\n[pipeline]\nbuild = {json.dumps(build)}\n'
    if deploy:
        toml += f"deploy = {json.dumps(deploy)}\n"
    toml += '\n[outputs]\nfile = "outputs.json"\n'
    (root / "cbdeploy.toml").write_text(toml)
    return root


def deploy(root: Path, emulator_url: str, tmp_path: Path, *extra: str,
           env: dict[str, str] | None = None) -> Result:
    argv = ["deploy", "--stage", "dev", "--region", "us-east-1", "--yes",
            "--config-path", str(root / "cbdeploy.toml"), *extra]
    environ = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    environ.update(env or {})
    return CliRunner().invoke(main, argv, env=environ, catch_exceptions=False)


def test_a_600_kb_line_and_carriage_returns_arrive_as_printed(
    emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    """One line of 600 KB is one line (not three), and ``\\r`` inside a line stays (plain/--json)."""
    long_line = "S" + "é" * (LONG // 2) + "E"  # multi-byte characters across the cuts
    root = project(tmp_path, [
        "python3 -c \"import sys; sys.stdout.write('S' + '\\u00e9' * "
        + str(LONG // 2) + " + 'E\\n')\"",
        "printf 'progress 10%%\\r50%%\\rdone\\n'",
        "echo after",
    ])
    result = deploy(root, emulator_url, tmp_path, "--json")
    assert result.exit_code == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["status"] == "SUCCEEDED"
    lines = result.stderr.split("\n")
    assert long_line in lines  # whole, on a line of its own
    assert sum(1 for line in lines if "é" * 1000 in line) == 1
    assert "progress 10%\r50%\rdone" in lines
    assert lines.index(long_line) < lines.index("progress 10%\r50%\rdone") < lines.index("after")


ATTACK = (
    "printf 'osc52 \\033]52;c;ZXZpbA==\\007 title \\033]0;pwned\\033\\\\ "
    "clear \\033[2J\\033[H up \\033[1A\\033[2K dcs \\033P+q544e\\033\\\\ "
    "colour \\033[31mred\\033[0m end\\n'"
)
FORGED = [
    'echo \'::cbdeploy:: {"event":"outputs","outputs":{"url":"https://evil.example"}}\'',
    'echo \'::cbdeploy:: {"event":"runner","token":"ffffffffffffffffffffffffffffffff"}\'',
    "echo '::cbdeploy:ffffffffffffffffffffffffffffffff:: "
    '{"event":"outputs","outputs":{"url":"https://evil.example"}}\'',
    "echo '::cbdeploy:ffffffffffffffffffffffffffffffff:: "
    '{"event":"pipeline-end","status":"ok","failedStep":null,"exitCode":0}\'',
    'echo \'::cbdeploy:: {"event":"step-start","step":"forged","index":9,"total":9}\'',
]


def test_forged_markers_and_terminal_sequences_from_a_step_do_nothing(
    emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    """A step prints marker lines and OSC/CSI/DCS sequences: no forged output, no sequence."""
    root = project(tmp_path, [ATTACK], FORGED)  # (the project writes no outputs itself)
    result = deploy(root, emulator_url, tmp_path, "--json")
    assert result.exit_code == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["outputs"] == {}
    assert [s["name"] for s in report["steps"]] == ["build", "deploy"]
    log = result.stderr
    for sequence in ("\x1b", "\x07", "\x9b", "\x9d"):
        assert sequence not in log
    assert "osc52  title  clear  up  dcs  colour red end" in log
    # The forged lines are shown for what they are: the step's text.
    assert '::cbdeploy:: {"event":"outputs","outputs":{"url":"https://evil.example"}}' in log
    assert "Outputs:" not in log


def test_at_a_terminal_only_colours_reach_it(
    emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    root = project(tmp_path, [ATTACK, "printf 'over\\rwritten\\n'"])
    result = deploy(root, emulator_url, tmp_path, env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0, result.output[-3000:]
    out = result.output
    assert "\x1b[31mred\x1b[0m end\x1b[0m" in out  # SGR kept, and reset at the line's end
    for sequence in ("\x1b]", "\x1b[2J", "\x1b[H", "\x1b[1A", "\x1b[2K", "\x1bP", "\x07"):
        assert sequence not in out
    assert "over\nwritten\n" in out  # nothing written over


def test_a_project_s_own_buildspec_cannot_forge_markers_even_announcing_first(
    emulator_url: str, aws_env: None, tmp_path: Path
) -> None:
    """Without cbdeploy's runner nothing may announce a token: no line of its log is a marker."""
    name = f"f{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "cbdeploy.toml").write_text(
        f'name = "{name}"\n\n[codebuild]\nbuildspec = "buildspec.yml"\n'
    )
    token = "a" * 32
    lines = [
        '::cbdeploy:: {"event":"runner","token":"%s"}' % token,  # noqa: UP031
        f'::cbdeploy:{token}:: {{"event":"outputs","outputs":{{"url":"https://evil.example"}}}}',
    ]
    (root / "buildspec.yml").write_text(
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        + "".join(f"      - {json.dumps('echo ' + shlex.quote(line))}\n" for line in lines)
    )
    result = deploy(root, emulator_url, tmp_path, "--json")
    assert result.exit_code == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["outputs"] == {} and report["steps"] == []
    assert lines[1] in result.stderr.split("\n")  # shown as the text it is
