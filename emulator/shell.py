"""One shell session for a whole build, as CodeBuild's buildspec 0.2 gives.

Each command runs in a fresh ``bash`` (or ``sh``) process, but the shell's
variables, functions and working directory are carried from one command to
the next: the process restores a state file before the command and an EXIT
trap dumps the state again afterwards (``declare -p``/``declare -f`` for bash,
``export -p`` for sh, which carries exported variables only). So a variable
exported in INSTALL is seen in BUILD, ``cd`` persists, ``unset`` sticks, and a
command's exit status (including ``exit N``) is exact. Not carried: shell
options (``set -e``), traps and ``$!``.

Every command runs in a process group of its own; :meth:`ShellSession.kill`
signals all of them, so background processes a command left behind die with
the build. Output (stdout and stderr together) goes through one pipe per
session and is handed to ``on_output`` while the command runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from cbdeploy.emulator.watchdog import WATCHDOG

SHELLS = {"bash": "bash", "/bin/bash": "bash", "sh": "sh", "/bin/sh": "sh"}

# Variables bash manages itself (or that must not leak between commands).
_BASH_SKIP = (
    "BASH*|EUID|PPID|UID|SHELLOPTS|GROUPS|FUNCNAME|RANDOM|SRANDOM|SECONDS|LINENO|"
    "PIPESTATUS|HISTCMD|DIRSTACK|_|SHLVL|OPTIND|OPTARG|OPTERR|EPOCHREALTIME|EPOCHSECONDS|"
    "COMP_*|COLUMNS|LINES|__cb_*|PWD|OLDPWD|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|IFS|PS1|PS2|PS4|"
    "HISTFILE|HISTSIZE|HISTFILESIZE|MAILCHECK|CODEBUILD_BUILD_SUCCEEDING"
)

_BASH_PRELUDE = f"""\
__cb_save() {{
  local __cb_n
  {{
    for __cb_n in $(compgen -v); do
      case $__cb_n in {_BASH_SKIP}) continue;; esac
      declare -p "$__cb_n" 2>/dev/null
    done
    declare -f
  }} > "$__cb_state.tmp" && command -p mv -f "$__cb_state.tmp" "$__cb_state"
  pwd > "$__cb_cwd"
}}
"""

_SH_PRELUDE = """\
__cb_save() {
  export -p | command -p grep -v -e '^export CODEBUILD_BUILD_SUCCEEDING=' -e '^export PWD=' -e '^export OLDPWD=' \
    > "$__cb_state.tmp" \
    && command -p mv -f "$__cb_state.tmp" "$__cb_state"
  pwd > "$__cb_cwd"
}
"""

_COMMON = """\
__cb_state=$__CB_STATE; __cb_cwd=$__CB_CWD; unset __CB_STATE __CB_CWD
. "$__cb_state"
trap '__cb_rc=$?; __cb_save; exit $__cb_rc' EXIT
"""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ShellSession:
    """Runs a build's commands one after another in one logical shell session."""

    def __init__(self, shell: str, cwd: Path, env: Mapping[str, str], state_dir: Path) -> None:
        if shell not in SHELLS:
            raise ValueError(f"unsupported shell {shell!r}")
        self.flavour = SHELLS[shell]
        self.cwd = cwd
        self._dir = state_dir
        self._state = state_dir / "state.sh"
        self._cwd_file = state_dir / "cwd"
        self._script = state_dir / "command.sh"
        lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items() if _NAME.match(k)]
        self._state.write_text("\n".join(lines) + "\n")
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._poller = select.poll()
        self._poller.register(self._read_fd, select.POLLIN)
        self._groups: list[int] = []

    def run(
        self,
        command: str,
        *,
        env: Mapping[str, str],
        on_output: Callable[[bytes], None],
        interrupted: Callable[[], bool],
    ) -> int | None:
        """Run one command; its exit status, or None when ``interrupted()`` stopped it.

        ``env`` holds per-command variables (such as CODEBUILD_BUILD_SUCCEEDING)
        that the session state must not override.
        """
        prelude = _BASH_PRELUDE if self.flavour == "bash" else _SH_PRELUDE
        self._script.write_text(prelude + _COMMON + command + "\n")
        process_env = dict(env)
        process_env["__CB_STATE"] = str(self._state)
        process_env["__CB_CWD"] = str(self._cwd_file)
        process = subprocess.Popen(
            ["/bin/bash" if self.flavour == "bash" else "/bin/sh", str(self._script)],
            cwd=self.cwd,
            env=process_env,
            stdin=subprocess.DEVNULL,
            stdout=self._write_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._groups.append(process.pid)
        WATCHDOG.group_started(process.pid)  # killed even if the emulator is
        wait = 0.002
        while True:
            # Poll quickly at first so short commands cost little, then settle at 50 ms.
            readable = self._poller.poll(wait * 1000)  # poll(): no FD_SETSIZE limit
            wait = min(wait * 2, 0.05)
            if readable:
                self._drain(on_output)
            if process.poll() is not None:
                break
            if interrupted():
                self.kill(reap=process.poll)
                process.wait()
                self._drain(on_output)
                return None
        self._drain(on_output)
        self._update_cwd()
        code = process.returncode
        return code if code >= 0 else 128 - code

    def values(self, names: list[str]) -> dict[str, str]:
        """Current values of the named variables (set ones only), for exported-variables."""
        wanted = [n for n in names if _NAME.match(n)]
        if not wanted:
            return {}
        out = self._dir / "values"
        script = (
            '. "$__CB_STATE"\n'
            f': > {shlex.quote(str(out))}\n'
            "for __cb_n in " + " ".join(wanted) + "; do\n"
            '  eval "__cb_set=\\${$__cb_n+x}; __cb_v=\\${$__cb_n-}"\n'
            f'  [ -n "$__cb_set" ] && printf "%s\\0%s\\0" "$__cb_n" "$__cb_v" >> {shlex.quote(str(out))}\n'
            "done\n"
            "exit 0\n"
        )
        self._script.write_text(script)
        subprocess.run(
            ["/bin/bash" if self.flavour == "bash" else "/bin/sh", str(self._script)],
            cwd=self.cwd,
            env={"__CB_STATE": str(self._state)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=30,
        )
        parts = out.read_bytes().split(b"\0") if out.exists() else []
        return {
            parts[i].decode(): parts[i + 1].decode("utf-8", "replace")
            for i in range(0, len(parts) - 1, 2)
        }

    def kill(self, grace: float = 1.0, reap: Callable[[], object] | None = None) -> None:
        """SIGTERM every process group of the session, then SIGKILL what is left after ``grace``.

        ``reap`` collects the running command's own process, so that it does not
        linger as a zombie that looks alive.
        """
        alive = [g for g in self._groups if _signal_group(g, signal.SIGTERM)]
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            time.sleep(0.02)
            if reap is not None:
                reap()
            alive = [g for g in alive if _group_alive(g)]
        for group in alive:
            _signal_group(group, signal.SIGKILL)

    def drain(self, on_output: Callable[[bytes], None]) -> None:
        """Hand over output that background processes wrote since the last command."""
        self._drain(on_output)

    def close(self) -> None:
        self.kill(grace=0.5)
        WATCHDOG.groups_ended(self._groups)
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _drain(self, on_output: Callable[[bytes], None]) -> None:
        while True:
            try:
                data = os.read(self._read_fd, 65536)
            except BlockingIOError:
                return
            if not data:
                return
            on_output(data)

    def _update_cwd(self) -> None:
        try:
            text = self._cwd_file.read_text().rstrip("\n")
        except OSError:
            return
        if text and Path(text).is_dir():
            self.cwd = Path(text)


def _group_alive(group: int) -> bool:
    """Whether ``group`` has a live member; zombies (killed, not yet reaped by
    whoever adopted them) do not count where /proc tells them apart."""
    if not _signal_group(group, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to process group ``group``; False when the group is gone."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True
