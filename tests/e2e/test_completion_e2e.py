"""Bash completion as bash runs it: the installed ``cbdeploy``'s script, sourced in bash.

Bash's completion function is called the way bash calls it on <TAB>, with
``COMP_WORDS`` split at ``:`` as bash splits them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = str(Path(sys.executable).parent)


def tab(*words: str) -> list[str]:
    """What bash offers for the command line ``words`` (the last one being completed)."""
    script = (
        'eval "$(_CBDEPLOY_COMPLETE=bash_source cbdeploy)"\n'
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_cbdeploy_completion cbdeploy\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_colon_names_and_options() -> None:
    assert tab("cbdeploy", "de") == ["deploy", "destroy", "defaults:configure", "defaults:list"]
    assert tab("cbdeploy", "defaults", ":", "c") == ["configure"]
    assert tab("cbdeploy", "deploy", "--st") == ["--stage"]
    assert tab("cbdeploy", "logs", "--region", "us-west-") == ["us-west-1", "us-west-2"]
