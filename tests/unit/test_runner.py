"""The in-build runner, run as a subprocess in an isolated interpreter.

Each test copies ``runner/`` alone into a temp directory and runs that folder
by path with ``python -I -S``, as the buildspec does, so only the standard
library and the runner are importable (``-I`` also ignores PYTHONPATH and
leaves the current directory off ``sys.path``). When a Python 3.9 is installed
the same tests run on it too, since build images may carry nothing newer.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cbdeploy.client.watch.markers import Marker, MarkerReader

RUNNER_SRC = Path(__file__).resolve().parents[2] / "runner"


def _interpreters() -> list[Any]:
    found: list[Any] = [pytest.param(sys.executable, id="current")]
    candidates = [shutil.which("python3.9") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 9)":
            found.append(pytest.param(candidate, id="py39"))
            break
    return found


@pytest.fixture(params=_interpreters())
def python(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def read_markers(lines: list[str]) -> list[Marker | None]:
    """Each line's marker as the client reads the log (the runner's announcement first)."""
    reader = MarkerReader()
    return [reader.read(line) for line in lines]


def signed_markers(lines: list[str]) -> list[Marker]:
    """The markers of the runner's output, its announcement aside."""
    return [m for m in read_markers(lines) if m is not None and m.event != "runner"]


@dataclass
class Result:
    code: int
    lines: list[str]
    markers: list[Marker]

    def marker_at(self, index: int) -> Marker | None:
        return read_markers(self.lines)[index]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def step(name: str, *commands: str, kind: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind or name.split(":")[0],
        "commands": list(commands),
        "environment": extra.get("environment", {}),
        "workingDirectory": extra.get("workingDirectory"),
    }


def make_plan(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    plan = {
        "version": 1,
        "project": "shop",
        "stage": "dev",
        "outputsFile": None,
        "steps": list(steps),
    }
    plan.update(extra)
    return plan


def run_runner(
    tmp_path: Path,
    python: str,
    plan: dict[str, Any] | str,
    env: dict[str, str] | None = None,
    project: Path | None = None,
) -> Result:
    work = tmp_path / "isolated"
    if not work.exists():
        work.mkdir()
        shutil.copytree(RUNNER_SRC, work / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    project = project or tmp_path / "project"
    (project / ".cbdeploy").mkdir(parents=True, exist_ok=True)
    plan_file = project / ".cbdeploy" / "plan.json"
    plan_file.write_text(plan if isinstance(plan, str) else json.dumps(plan), encoding="utf-8")
    child_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    child_env.update(env or {})
    completed = subprocess.run(
        [python, "-I", "-S", str(work / "runner"), str(plan_file)],
        cwd=work,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.stderr == "", completed.stderr
    lines = completed.stdout.splitlines()
    return Result(completed.returncode, lines, signed_markers(lines))


def plain(result: Result) -> list[str]:
    """Output lines that are neither markers nor the echo of a command."""
    return [
        line
        for line, marker in zip(result.lines, read_markers(result.lines), strict=True)
        if marker is None and not line.startswith("$ ")
    ]


def test_steps_run_in_order_with_markers(tmp_path: Path, python: str) -> None:
    plan = make_plan(
        step("install", "echo installing"),
        step("build", "echo building", "echo built"),
        step("beforeDeploy:check", "echo checking"),
        step("deploy", "echo deploying"),
        step("afterDeploy:migrate", "echo migrating"),
    )
    result = run_runner(tmp_path, python, plan)
    assert result.code == 0
    assert plain(result) == [
        "installing",
        "building",
        "built",
        "checking",
        "deploying",
        "migrating",
    ]
    assert "$ echo building" in result.lines
    starts = [m.data for m in result.markers if m.event == "step-start"]
    assert starts == [
        {"step": "install", "index": 1, "total": 5},
        {"step": "build", "index": 2, "total": 5},
        {"step": "beforeDeploy:check", "index": 3, "total": 5},
        {"step": "deploy", "index": 4, "total": 5},
        {"step": "afterDeploy:migrate", "index": 5, "total": 5},
    ]
    ends = [m.data for m in result.markers if m.event == "step-end"]
    assert [(e["step"], e["status"], e["exitCode"]) for e in ends] == [
        ("install", "ok", 0),
        ("build", "ok", 0),
        ("beforeDeploy:check", "ok", 0),
        ("deploy", "ok", 0),
        ("afterDeploy:migrate", "ok", 0),
    ]
    assert all(isinstance(e["duration"], float) and e["duration"] >= 0 for e in ends)
    assert result.markers[-1] == Marker(
        "pipeline-end", {"status": "ok", "failedStep": None, "exitCode": 0}
    )
    # Each step's output sits between its start and end markers.
    index = result.lines.index("deploying")
    assert result.marker_at(index - 2) == Marker(
        "step-start", {"step": "deploy", "index": 4, "total": 5}
    )


def test_first_failing_hook_stops_the_pipeline(tmp_path: Path, python: str) -> None:
    plan = make_plan(
        step("build", "echo building"),
        step("beforeDeploy:check", "echo checking", "exit 3", "echo not-reached"),
        step("deploy", "echo deploying"),
        step("afterDeploy:migrate", "echo migrating"),
    )
    result = run_runner(tmp_path, python, plan)
    assert result.code == 3
    assert "deploying" not in result.lines and "migrating" not in result.lines
    assert "not-reached" not in result.lines
    assert (
        "cbdeploy: step beforeDeploy:check failed with exit status 3; the pipeline stops here"
        in result.lines
    )
    end = [m.data for m in result.markers if m.event == "step-end"][-1]
    assert (end["step"], end["status"], end["exitCode"]) == ("beforeDeploy:check", "failed", 3)
    assert result.markers[-1] == Marker(
        "pipeline-end", {"status": "failed", "failedStep": "beforeDeploy:check", "exitCode": 3}
    )
    assert [m.data["step"] for m in result.markers if m.event == "step-start"] == [
        "build",
        "beforeDeploy:check",
    ]


@pytest.mark.parametrize(
    "command",
    ["false && true", "false | cat", "echo one\nfalse\necho two"],
    ids=["and-list", "pipefail", "multi-line"],
)
def test_a_failing_command_fails_its_step(tmp_path: Path, python: str, command: str) -> None:
    result = run_runner(tmp_path, python, make_plan(step("deploy", command, "echo after")))
    assert result.code == 1
    assert "after" not in result.lines and "two" not in result.lines


def test_commands_of_a_step_share_one_shell(tmp_path: Path, python: str) -> None:
    (tmp_path / "project" / "sub").mkdir(parents=True)
    plan = make_plan(
        step("build", "export GREETING=hi", "cd sub", 'echo "$GREETING from $(basename "$PWD")"'),
        step("deploy", 'echo "${GREETING:-unset} in $(basename "$PWD")"'),
    )
    result = run_runner(tmp_path, python, plan)
    assert plain(result) == ["hi from sub", "unset in project"]


def test_environment_of_steps_and_scripts(tmp_path: Path, python: str) -> None:
    show = 'echo "$STAGE $REGION $CBDEPLOY_PROJECT ${LOG_LEVEL:-none} $FROM_BUILD"'
    plan = make_plan(
        step("build", show),
        step("afterDeploy:migrate", show, environment={"LOG_LEVEL": "debug", "FROM_BUILD": "mine"}),
        region="eu-west-1",
    )
    result = run_runner(tmp_path, python, plan, env={"FROM_BUILD": "build", "STAGE": "wrong"})
    assert plain(result) == [
        "dev eu-west-1 shop none build",
        "dev eu-west-1 shop debug mine",
    ]


def test_region_falls_back_to_the_build_environment(tmp_path: Path, python: str) -> None:
    result = run_runner(
        tmp_path,
        python,
        make_plan(step("deploy", 'echo "$REGION"')),
        env={"AWS_REGION": "ap-south-1"},
    )
    assert plain(result) == ["ap-south-1"]


def test_script_working_directory(tmp_path: Path, python: str) -> None:
    (tmp_path / "project" / "db").mkdir(parents=True)
    plan = make_plan(
        step("afterDeploy:migrate", 'basename "$PWD"', workingDirectory="db"),
        step("afterDeploy:gone", "true", workingDirectory="missing"),
    )
    result = run_runner(tmp_path, python, plan)
    assert plain(result)[0] == "db"
    assert result.code == 1
    assert "cbdeploy: working directory missing of step afterDeploy:gone does not exist" in (
        result.lines
    )


def test_outputs_after_a_successful_deploy(tmp_path: Path, python: str) -> None:
    plan = make_plan(
        step("deploy", """echo '{"url": "https://x.example", "port": 443}' > out/o.json"""),
        outputsFile="out/o.json",
    )
    (tmp_path / "project" / "out").mkdir(parents=True)
    result = run_runner(tmp_path, python, plan)
    assert result.code == 0
    assert [m.event for m in result.markers][-2:] == ["outputs", "pipeline-end"]
    assert result.markers[-2].data == {"outputs": {"url": "https://x.example", "port": 443}}


def test_outputs_reported_when_only_an_after_deploy_hook_fails(tmp_path: Path, python: str) -> None:
    plan = make_plan(
        step("deploy", """echo '{"a": 1}' > o.json"""),
        step("afterDeploy:notify", "exit 4"),
        outputsFile="o.json",
    )
    result = run_runner(tmp_path, python, plan)
    assert result.code == 4
    assert Marker("outputs", {"outputs": {"a": 1}}) in result.markers


def test_no_outputs_when_the_deploy_fails(tmp_path: Path, python: str) -> None:
    plan = make_plan(step("deploy", """echo '{"a": 1}' > o.json; exit 1"""), outputsFile="o.json")
    result = run_runner(tmp_path, python, plan)
    assert result.code == 1
    assert "outputs" not in [m.event for m in result.markers]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "was not written"),
        ("{oops", "is not valid JSON"),
        ("[1]", "does not hold a JSON object"),
    ],
)
def test_missing_or_bad_outputs_file_is_a_warning(
    tmp_path: Path, python: str, content: str | None, words: str
) -> None:
    command = "true" if content is None else f"printf '%s' '{content}' > o.json"
    result = run_runner(tmp_path, python, make_plan(step("deploy", command), outputsFile="o.json"))
    assert result.code == 0
    assert any(
        line.startswith("cbdeploy: warning: the outputs file o.json") and words in line
        for line in result.lines
    )
    assert "outputs" not in [m.event for m in result.markers]


def test_environment_is_never_printed(tmp_path: Path, python: str) -> None:
    result = run_runner(
        tmp_path,
        python,
        make_plan(step("deploy", "true")),
        env={"DATABASE_URL": "postgres://secret-value"},
    )
    assert "secret-value" not in result.text


def test_links_and_exec_bits_are_restored(tmp_path: Path, python: str) -> None:
    project = tmp_path / "project"
    (project / "bin").mkdir(parents=True)
    (project / "lib").mkdir()
    (project / "lib" / "real.txt").write_text("real content\n", encoding="utf-8")
    # What an extractor that ignores file modes leaves: the target as file content.
    (project / "current.txt").write_text("lib/real.txt", encoding="utf-8")
    (project / "bin" / "run.sh").write_text("#!/bin/sh\necho ran\n", encoding="utf-8")
    (project / "bin" / "run.sh").chmod(0o644)
    (project / "escape").write_text("../../etc/passwd", encoding="utf-8")
    manifest = {
        "version": 1,
        "links": [
            {"path": "current.txt", "target": "lib/real.txt"},
            {"path": "bin/lib", "target": "../lib"},
            {"path": "escape", "target": "../../etc/passwd"},
        ],
        "executables": ["bin/run.sh", "bin/missing.sh"],
    }
    (project / ".cbdeploy").mkdir()
    (project / ".cbdeploy" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    plan = make_plan(step("deploy", "cat current.txt", "cat bin/lib/real.txt", "bin/run.sh"))
    result = run_runner(tmp_path, python, plan)
    assert result.code == 0, result.text
    assert plain(result)[-3:] == ["real content", "real content", "ran"]
    assert os.readlink(project / "current.txt") == "lib/real.txt"
    assert os.readlink(project / "bin" / "lib") == "../lib"
    assert not (project / "escape").is_symlink()
    mode = stat.S_IMODE((project / "bin" / "run.sh").stat().st_mode)
    assert mode == 0o755
    assert any("points outside the project" in line for line in result.lines)
    assert "cbdeploy: warning: bin/missing.sh is listed as executable but is missing" in (
        result.lines
    )


def test_restoring_twice_changes_nothing(tmp_path: Path, python: str) -> None:
    project = tmp_path / "project"
    (project / ".cbdeploy").mkdir(parents=True)
    (project / "a.txt").write_text("a", encoding="utf-8")
    manifest = {"version": 1, "links": [{"path": "b.txt", "target": "a.txt"}], "executables": []}
    (project / ".cbdeploy" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    first = run_runner(tmp_path, python, make_plan(step("deploy", "cat b.txt")))
    second = run_runner(tmp_path, python, make_plan(step("deploy", "cat b.txt")))
    assert any(line.startswith("cbdeploy: restored 1 ") for line in first.lines)
    assert not any(line.startswith("cbdeploy: restored") for line in second.lines)
    assert plain(second) == ["a"]


@pytest.mark.parametrize(
    "plan",
    ["not json", json.dumps({"version": 99, "steps": []}), json.dumps({"version": 1})],
    ids=["not-json", "wrong-version", "malformed"],
)
def test_bad_plan_exits_2(tmp_path: Path, python: str, plan: str) -> None:
    result = run_runner(tmp_path, python, plan)
    assert result.code == 2
    assert plain(result) and plain(result)[0].startswith("cbdeploy: ")


def test_markers_are_signed_with_a_token_the_steps_cannot_see(tmp_path: Path, python: str) -> None:
    """The token is announced first, then signs every marker; a step finds it nowhere.

    The step looks in its environment, its ancestors' environments and
    command lines through /proc, and every file under the project and its
    home; it prints a forged marker too. (Reading the runner's memory is
    refused by its being non-dumpable, except to a process with
    CAP_SYS_PTRACE, such as root on this test machine: not tested here.)
    """
    hunt = (
        "for p in /proc/$$ /proc/$PPID /proc/$(ps -o ppid= -p $PPID | tr -d ' '); do "
        "  cat $p/environ $p/cmdline 2>/dev/null | tr '\\0' '\\n'; "
        "done; env; grep -rh . \"$HOME\" . 2>/dev/null | head -c 100000"
    )
    forged = '::cbdeploy:: {"event":"outputs","outputs":{"url":"http://evil"}}'
    plan = make_plan(step("deploy", hunt, f"echo '{forged}'"))
    result = run_runner(tmp_path, python, plan)
    assert result.code == 0
    token = MarkerReader()
    assert token.read(result.lines[0]) == Marker("runner", {})  # the very first line
    assert token.token is not None
    step_output = [line for line in result.lines[1:] if not line.startswith("::cbdeploy:")]
    assert step_output  # the hunt printed plenty
    assert not any(token.token in line for line in step_output)
    assert all(m.event != "outputs" for m in result.markers)  # the forged one is text
    assert forged in plain(result)
    again = run_runner(tmp_path, python, plan)  # random per build
    assert MarkerReader().read(again.lines[0]) is not None and again.lines[0] != result.lines[0]


def test_empty_plan_succeeds(tmp_path: Path, python: str) -> None:
    result = run_runner(tmp_path, python, make_plan())
    assert result.code == 0
    assert [m.event for m in result.markers] == ["pipeline-end"]


def test_plan_written_by_the_client_runs(tmp_path: Path, python: str) -> None:
    """The client's plan.json and shipped runner modules work together."""
    from cbdeploy.client.config.load import load_config
    from cbdeploy.client.deploy.runner_plan import archive_entries

    project = tmp_path / "project"
    project.mkdir()
    (project / "cbdeploy.toml").write_text(
        '[pipeline]\nbuild = ["echo b"]\ndeploy = ["echo d > o.json; echo \'{\\"k\\": 1}\' > o.json"]\n'
        '[hooks]\nafterDeploy = ["after"]\n'
        '[scripts.after]\nexecuteCommand = "echo $X"\nenvironment = { X = "from-script" }\n'
        '[outputs]\nfile = "o.json"\n',
        encoding="utf-8",
    )
    entries = archive_entries(load_config(project, "dev"), "dev", "us-west-2")
    work = tmp_path / "isolated"
    for name, content in entries.items():
        target = (work if name.startswith(".cbdeploy/runner/") else project) / (
            name.replace(".cbdeploy/", "", 1) if name.startswith(".cbdeploy/runner/") else name
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    result = run_runner(tmp_path, python, entries[".cbdeploy/plan.json"].decode(), project=project)
    assert result.code == 0
    assert plain(result) == ["b", "from-script"]
    assert Marker("outputs", {"outputs": {"k": 1}}) in result.markers


def test_output_without_final_newline_keeps_markers_on_their_own_line(
    tmp_path: Path, python: str
) -> None:
    result = run_runner(
        tmp_path, python, make_plan(step("build", "printf partial"), step("deploy", "true"))
    )
    assert "partial" in result.lines
    assert [m.event for m in result.markers] == [
        "step-start",
        "step-end",
        "step-start",
        "step-end",
        "pipeline-end",
    ]


def test_a_background_process_holding_the_output_does_not_hang_the_pipeline(
    tmp_path: Path, python: str
) -> None:
    result = run_runner(
        tmp_path, python, make_plan(step("install", "sleep 2 &"), step("deploy", "echo deployed"))
    )
    assert result.code == 0
    assert "deployed" in result.lines


def _stop_while_running(tmp_path: Path, python: str, to_group: bool) -> Result:
    """Run a pipeline whose first step sleeps; SIGTERM it (its process group, or the runner)."""
    plan = make_plan(step("build", "echo started", "sleep 30"), step("deploy", "echo deployed"))
    run_runner(tmp_path, python, make_plan())  # set up the isolated copy and the project
    plan_file = tmp_path / "project" / ".cbdeploy" / "plan.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    process = subprocess.Popen(
        [python, "-I", "-S", str(tmp_path / "isolated" / "runner"), str(plan_file)],
        cwd=tmp_path / "isolated",
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8"},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.strip() == "started":
            if to_group:
                os.killpg(process.pid, signal.SIGTERM)
            else:
                process.send_signal(signal.SIGTERM)
            break
    rest, _ = process.communicate(timeout=20)
    lines += rest.splitlines()
    markers = signed_markers(lines)
    return Result(process.returncode, lines, markers)


@pytest.mark.parametrize("to_group", [True, False], ids=["process-group", "runner-only"])
def test_stopping_the_build_stops_the_pipeline_and_reports_the_step_stopped(
    tmp_path: Path, python: str, to_group: bool
) -> None:
    """A stop signals the whole process group (as CodeBuild and the emulator do).

    The step killed by it is reported as stopped, not as a step that failed
    with exit status 143; no step runs after it.
    """
    result = _stop_while_running(tmp_path, python, to_group)
    assert result.code == 143
    assert "deployed" not in result.lines
    end = [m for m in result.markers if m.event == "step-end"]
    assert [(m.data["step"], m.data["status"], m.data["exitCode"]) for m in end] == [
        ("build", "stopped", 143)
    ]
    assert result.markers[-1] == Marker(
        "pipeline-end", {"status": "stopped", "stoppedStep": "build", "exitCode": 143}
    )
    assert "cbdeploy: step build stopped by signal 15: the build is being stopped" in result.lines
    assert not any("failed with exit status" in line for line in result.lines)


def test_secret_values_are_masked_in_what_the_runner_reports(tmp_path: Path, python: str) -> None:
    """Issue 10, item 8: CodeBuild masks raw values in the log, but a marker holds JSON,
    where ``é``, ``"`` and ``\\`` are escaped; the runner masks every spelling itself."""
    token = 'tö"k\\en-1234'
    pem = "-----BEGIN KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END KEY-----"
    script = (
        "import json, os; t = os.environ['TOKEN']; "
        "json.dump({'token': t, 'url': 'https://u:' + t + '@x', t: 1, 'pem': os.environ['PEM'], "
        "'key': os.environ['AWS_ACCESS_KEY_ID'], 'other': 'ASIAABCDEFGHIJKLMNOP', "
        "'plain': os.environ['PLAIN']}, open('o.json', 'w'))"
    )
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "w.py").write_text(script)
    plan = make_plan(
        step("deploy", f"{sys.executable} w.py", "echo step-own-output $TOKEN"),
        outputsFile="o.json",
        secretNames=["PEM", "TOKEN"],
    )
    env = {"TOKEN": token, "PEM": pem, "PLAIN": "visible", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE1234567XY"}
    result = run_runner(tmp_path, python, plan, env=env)
    assert result.code == 0, result.text
    [outputs] = [m.data["outputs"] for m in result.markers if m.event == "outputs"]
    assert outputs == {
        "token": "***", "url": "https://u:***@x", "***": 1, "pem": "***", "key": "***",
        "other": "***", "plain": "visible",
    }
    markers = "\n".join(
        line for line, marker in zip(result.lines, read_markers(result.lines), strict=True)
        if marker is not None
    )
    for value in (token, json.dumps(token)[1:-1], "QUJDREVGR0hJSktMTU5PUA==", "AKIDEXAMPLE"):
        assert value not in markers
    # A step's own output is copied unchanged: masking it is CodeBuild's (and the
    # emulator's) job on the build log, line by line.
    assert f"step-own-output {token}" in plain(result)


def test_images_step_without_docker_says_what_is_missing_and_stops(
    tmp_path: Path, python: str
) -> None:
    bin_dir = tmp_path / "bin"  # bash, and no docker
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
    image = {
        "name": "api", "envSuffix": "API", "context": ".", "dockerfile": "Dockerfile",
        "repository": "shop-api", "buildArgs": {}, "target": None, "platform": None,
        "cache": True,
    }
    plan = make_plan(
        step("build", "echo built"),
        step("images", kind="images"),
        step("deploy", "echo deployed"),
        images=[image],
    )
    result = run_runner(tmp_path, python, plan, env={"PATH": str(bin_dir)})
    assert result.code == 1
    assert any("docker is not installed in this build image" in line for line in result.lines)
    assert Marker(
        "pipeline-end",
        {"status": "failed", "failedStep": "images", "exitCode": 1},
    ) in result.markers
    assert "deployed" not in result.text
