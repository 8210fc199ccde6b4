"""``cbdeploy defaults:configure`` at a real terminal, then a deploy that relies on it.

The prompts run in a real pseudo-terminal (stdlib ``pty``): the installed
``cbdeploy`` sees a TTY on stdin and stdout, as at a user's shell. The stored
defaults live under a temporary ``XDG_CONFIG_HOME``; the deploy uses
``--local`` (the emulator in its own process), so no AWS account is involved.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

from cbdeploy.client.infra.names import project_name

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


def _own_terminal() -> None:
    """In the child: make the pty its controlling terminal, so ^C there is a SIGINT to it,
    and undo an inherited 'ignore SIGINT' (what a shell gives background jobs)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """A command running with a pseudo-terminal as stdin, stdout and stderr."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True,
            start_new_session=True, preexec_fn=_own_terminal,
        )
        os.close(slave)
        self.seen = ""

    def _read(self, deadline: float) -> bool:
        """Read what is there; False at the end of output."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: every writer of the terminal is gone
            return False
        self.seen += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(data)

    def expect(self, text: str, timeout: float = 30.0) -> None:
        """Wait until ``text`` has been written since the last expect()."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < deadline and self._read(deadline), (text, self.seen)
        self.seen = self.seen[self.seen.index(text) + len(text) :]

    def wait_until_reading(self, timeout: float = 10.0) -> None:
        """Wait until the command is blocked reading the terminal.

        A prompt's last character is written just before input() reads: a ^C in
        between is a SIGINT that Python notes while no read is under way to be
        interrupted, so the read then blocks for good. A user is never that
        fast; a test is, one time in four under load.
        """
        wchan = Path(f"/proc/{self.process.pid}/wchan")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if wchan.read_text() in {"wait_woken", "n_tty_read"}:
                    return
            except OSError:  # no /proc here: give it the time a user would
                time.sleep(0.5)
                return
            time.sleep(0.01)

    def answer(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline):
            pass
        os.close(self.master)
        return self.process.wait(timeout=5), self.seen


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
    os.write(term.master, b"\x03")  # the terminal turns it into a SIGINT
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
