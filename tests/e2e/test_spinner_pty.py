"""At a real terminal a quiet step shows a spinner and leaves nothing of it (issue 17, item 4).

The installed ``cbdeploy`` runs in a pseudo-terminal (stdlib ``pty``:
``tests/pty_terminal.py``'s ``Terminal``, started by ``test_interrupt.py``'s
fixture) against the session's emulator, which really runs the step: it prints, sleeps, prints. While it sleeps the terminal
shows ``⠋ build 4.2s``; what a terminal shows once it ends (cursor moves and
erasures applied) is the lines alone, and no "Phases:" block repeats the
phases shown above it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.e2e.test_interrupt import deploy_args, env, make_project, terminal
from tests.pty_terminal import Terminal
from tests.unit.test_render_modes import screen

__all__ = ["env", "terminal"]  # (fixtures)

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def test_a_quiet_step_spins_at_a_terminal_and_leaves_clean_lines(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    project = make_project(tmp_path, "echo before && sleep 6 && echo after")
    t = terminal(*deploy_args(project))
    t.wait_for(rf"[{SPINNER}] build \d+\.\ds", timeout=60)  # while the step is quiet
    code, out = t.finish(timeout=60)
    assert code == 0, out
    shown = screen(out[out.index("cbdeploy: Deploy"):])
    assert "\nbefore\nafter\n✓ build (" in shown, shown
    assert not any(char in shown for char in SPINNER), shown
    assert "Phases:" not in shown and shown.count("✓ BUILD ") == 1
