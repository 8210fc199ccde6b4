"""Where a command's output session comes from: one factory, from the CLI parameters.

In the pattern of chalice's ``cli/factory.py``: the click layer parses, the
factory builds what a command works with. :class:`CbdeployCommand` is the
class of every command: its :meth:`~CbdeployCommand.invoke` asks
:func:`create_session` for the command's
:class:`~cbdeploy.client.output.session.OutputSession` and runs the whole
command (its option validation included) inside it, so the session sees
every ending and no decorator order matters. A command that wants the
session takes a ``session`` parameter.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cbdeploy.client.errors import CbdeployError

if TYPE_CHECKING:
    from cbdeploy.client.output.session import OutputSession

F = TypeVar("F", bound=Callable[..., Any])

PARSE_ERROR = "cbdeploy.parse_error"
DEBUG_LEVELS = frozenset({"debug", "trace"})  # the levels that show a traceback
# click's own ways out: it prints them and chooses their status itself.
CLICK_EXITS = (click.Abort, click.ClickException, BrokenPipeError)


def create_session(name: str, params: Mapping[str, Any], *, debug: bool) -> OutputSession:
    """The output session of command ``name`` invoked with ``params``.

    ``deploy`` and ``logs`` report a build (``--json``, GitHub Actions); the
    other commands get a session that renders errors and says the exit code.
    """
    # Imported here, when a command runs: rich and the AWS layer stay out of `--help`.
    from cbdeploy.client.output.session import OutputSession

    as_json = bool(params.get("as_json"))
    if name == "deploy":
        return OutputSession("deploy", report=True, as_json=as_json, debug=debug)
    if name == "logs":
        # (No 'full log: cbdeploy logs ...' at the end: this is that command.) Looking
        # at an old build is no failure of this job: annotate only a followed one.
        return OutputSession("logs", report=True, as_json=as_json, debug=debug, deploy=False,
                             noun="Build", log_hint=False,
                             annotate_failure=bool(params.get("follow")))
    return OutputSession(name, debug=debug)  # (a --json of its own: builds)


class CbdeployCommand(click.Command):
    """A command run inside its output session: errors rendered once, exit code chosen once."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # An option's callback may refuse a value with our own error (an empty
        # --config-path): it ends the command inside its session, like any other.
        try:
            return super().parse_args(ctx, args)
        except CbdeployError as error:
            ctx.meta[PARSE_ERROR] = error
            return []

    def invoke(self, ctx: click.Context) -> Any:
        session = create_session(self.name or "", ctx.params, debug=debug_requested(ctx))
        if self.callback is not None and "session" in inspect.signature(self.callback).parameters:
            ctx.params["session"] = session
        refused: CbdeployError | None = ctx.meta.pop(PARSE_ERROR, None)

        def body() -> int | None:
            if refused is not None:
                raise refused
            try:
                result = super(CbdeployCommand, self).invoke(ctx)
            except click.exceptions.Exit as done:
                return done.exit_code
            except SystemExit as done:
                return done.code if isinstance(done.code, int) else 1
            return result if isinstance(result, int) else None

        ctx.exit(session.run(body, passthrough=CLICK_EXITS))


def command(name: str, **attrs: Any) -> Callable[[F], click.Command]:
    """``@click.command`` for cbdeploy: the command runs in its output session."""
    return click.command(name, cls=CbdeployCommand, **attrs)


def debug_requested(ctx: click.Context) -> bool:
    """``--log-level debug`` (or trace), even when an error comes before click has read it."""
    if ctx.meta.get("cbdeploy.log_level") in DEBUG_LEVELS:
        return True
    argv = sys.argv[1:]
    return any(
        a in {f"{o}={v}" for o in ("--log-level", "--logLevel") for v in DEBUG_LEVELS}
        or (a in ("--log-level", "--logLevel") and i + 1 < len(argv)
            and argv[i + 1] in DEBUG_LEVELS)
        for i, a in enumerate(argv)
    )
