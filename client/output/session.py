"""One command's output, from its first line to its exit code.

An :class:`OutputSession` is made once per command (by the CLI's factory,
``client.cli.factory``) and owns everything the user sees of it:

* the console (stdout, or stderr with ``--json``) and the presenter: the
  terminal renderer, wrapped for GitHub Actions where it runs there;
* the ``--json`` report: exactly one object on stdout however the command
  ends (success, failed build, an error before anything started, Ctrl-C, a bug);
* GitHub Actions mode: workflow commands stopped around remote text, one
  annotation for an error or a failed build, the step summary;
* where the build runs (region, endpoint, ``--local``), told once to the
  presenters (:meth:`locate`) instead of through event fields;
* error rendering and the exit code (:meth:`run`): a
  :class:`~cbdeploy.client.errors.CbdeployError` becomes its message and hint on
  stderr and its exit code, a traceback only with ``--log-level debug``; any
  other exception is a bug, one line and exit 1; a Ctrl-C exits 130 (a
  signal: 128 + its number).

So a command writes no try/except of its own, and the order of its
decorators does not matter: the session wraps the whole command, option
validation included.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Protocol, TextIO, TypeVar

from cbdeploy.client.aws.notices import connection_notices
from cbdeploy.client.errors import Cancelled, CbdeployError
from cbdeploy.client.output.console import github_actions, make_console
from cbdeploy.client.watch.signals import exit_code, signal_of  # (not in a Ctrl-C's handler)

if TYPE_CHECKING:
    from rich.console import Console

    from cbdeploy.client.aws.endpoint import Endpoint
    from cbdeploy.client.deploy.events import Event
    from cbdeploy.client.output.github import GithubRenderer, RendererLike
    from cbdeploy.client.output.place import Place
    from cbdeploy.client.output.report import ReportCollector
    from cbdeploy.client.watch.batch_outcome import BatchOutcome
    from cbdeploy.client.watch.outcome import BuildOutcome

# A bug, as opposed to an error the user can fix (2) or a failed build (1), still
# exits 1: "did not succeed" is the truthful answer for a script.
INTERNAL_ERROR_EXIT = 1


class Door(Protocol):
    """What the session reads of an open AWS door: where its calls go."""

    @property
    def region(self) -> str: ...
    @property
    def endpoint(self) -> Endpoint: ...


A = TypeVar("A")
D = TypeVar("D", bound=Door)


class OutputSession:
    """Console, presenter, ``--json`` report, GitHub mode, errors and exit code of one command.

    ``report``: whether the command has a build to report (``deploy``,
    ``logs``); without, the session only renders errors and says the exit code.
    ``deploy``: the report has a deploy's keys, and a Ctrl-C before the build
    started says nothing was deployed; else (``logs``) just "Interrupted.".
    ``console``, ``renderer``, ``environ`` and ``token`` are for tests.
    """

    def __init__(
        self,
        command: str,
        *,
        report: bool = False,
        as_json: bool = False,
        debug: bool = False,
        deploy: bool = True,
        noun: str = "Deploy",
        log_hint: bool = True,
        annotate_failure: bool = True,
        environ: Mapping[str, str] | None = None,
        console: Console | None = None,
        renderer: RendererLike | None = None,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = command
        self.as_json = as_json
        self.debug = debug
        self.deploy = deploy
        self.environ = os.environ if environ is None else environ
        self.reporting = report
        self._given_console, self._given_renderer = console, renderer  # (tests)
        self._noun, self._log_hint, self._clock = noun, log_hint, clock
        self.github: GithubRenderer | None = None
        if report and github_actions(self.environ):
            from cbdeploy.client.output.github import GithubRenderer

            self.github = GithubRenderer(self.renderer, self.console, token=token,
                                         annotate_failure=annotate_failure, noun=noun,
                                         command=command)

    # The console, the presenter and the report are made when first used: a command
    # without a build to report (package, bootstrap ...) that ends well uses none of
    # them, and does not load rich, the renderers and the event types for them.

    @cached_property
    def console(self) -> Console:
        # --json is a machine's mode: its stderr gets lines, never a redraw.
        return self._given_console or make_console(stderr=self.as_json, live=not self.as_json)

    @cached_property
    def report(self) -> ReportCollector:
        from cbdeploy.client.output.report import ReportCollector

        return ReportCollector(deploy=self.deploy, clock=self._clock)

    @cached_property
    def renderer(self) -> RendererLike:
        if self._given_renderer is not None:
            return self._given_renderer
        from cbdeploy.client.output.terminal import Renderer

        return Renderer(self.console, debug=self.debug, noun=self._noun, log_hint=self._log_hint)

    @property
    def view(self) -> RendererLike:
        return self.github or self.renderer

    # ------------------------------------------------------------------ while the command runs

    def context(self, *, stage: str | None = None, region: str | None = None,
                local: bool = False, build_id: str | None = None) -> None:
        """What the command line said, known before the AWS door opens."""
        from cbdeploy.client.output.place import Place

        self.report.context(stage=stage, region=region, local=local, build_id=build_id)
        self.locate(Place(region, local))

    def name_build(self, build_id: str) -> None:
        """The build the command means, once resolved from what was typed (``logs``)."""
        self.report.name_build(build_id)

    def locate(self, place: Place) -> None:
        """Where the build runs: every presenter learns it here, once."""
        self.renderer.locate(place)
        self.report.locate(place)

    def door(
        self, opener: Callable[[A], AbstractContextManager[D]], *, local: bool
    ) -> Callable[[A], AbstractContextManager[D]]:
        """``opener`` (``open_aws``), telling the presenters where the calls go once it is open."""

        from cbdeploy.client.output.place import Place

        @contextmanager
        def opened(argument: A) -> Iterator[D]:
            with opener(argument) as aws:
                self.locate(Place(aws.region, local, aws.endpoint))
                yield aws

        return opened

    def emit(self, event: Event) -> None:
        """The event sink of a deploy or a follow: the report, then the presenter."""
        self.report.handle(event)
        self.view.handle(event)

    def confirm(self, question: str) -> bool:
        from cbdeploy.client.output.terminal import confirm

        return confirm(self.console, question)

    def finish(self, outcome: BuildOutcome, *, still_running_ok: bool = False) -> None:
        """What the build came to; ``still_running_ok``: a running build is no end (``logs``)."""
        self.report.finish(outcome)
        if still_running_ok and outcome.status == "IN_PROGRESS" and not outcome.detached:
            self.view.still_running(outcome)
        else:
            self.view.outcome(outcome)

    def finish_batch(self, outcome: BatchOutcome) -> None:
        """What a batch came to: the services' table and the result (``logs``: or that it runs)."""
        self.report.finish_batch(outcome)
        self.view.batch_outcome(outcome)

    # ------------------------------------------------------------------ how it ends

    def run(
        self,
        body: Callable[[], int | None],
        *,
        passthrough: tuple[type[BaseException], ...] = (),
    ) -> int:
        """Run the command's ``body``; return the process's exit status.

        ``passthrough``: exceptions the caller handles itself (click's own ways
        out); they are recorded in the report and raised again.
        """
        if self.github is not None:
            self.github.stop_commands()
        after: Callable[[], None] = _nothing  # what goes to stderr once the object is out
        try:
            with connection_notices(self._warn):
                result = body()
            code = 0 if result is None else result
            if self._keeps_report():
                self.report.exited(code)
        except CbdeployError as error:
            self._close_view()  # (a live progress bar), before the error is printed
            self._failed(error)
            if self.github is not None:
                self.github.error(error)
            after = self._error_lines(error)
            code = error.exit_code
        except KeyboardInterrupt as interrupt:
            self._close_view()
            code = exit_code(signal_of(interrupt))
            self._failed(interrupt)
            if self.deploy and self.reporting:
                self.view.interrupted_before_start()
            else:
                after = self._interrupted
        except passthrough as error:
            self._failed(error)
            raise
        except Exception as error:  # a bug: one line, not a bare traceback
            self._close_view()
            self._failed(error)
            after = self._bug_lines(error)
            code = INTERNAL_ERROR_EXIT
        finally:
            self._close()
        after()
        return code

    def _keeps_report(self) -> bool:
        """Whether the report hears how the command ended: it is reported, or was used."""
        return self.reporting or "report" in vars(self)

    def _failed(self, error: BaseException) -> None:
        if self._keeps_report():
            self.report.fail(error)

    def _close_view(self) -> None:
        """Close the presenter (a live progress bar), if there is one."""
        if self.github is not None or "renderer" in vars(self):
            self.view.close()

    def _close(self) -> None:
        if self.github is not None:
            from cbdeploy.client.output.github import write_step_summary

            self.github.finish()
            write_step_summary(self.report, self.console, self.environ, self.command)
        if self.as_json and self.reporting:
            _write(sys.stdout, json.dumps(self.report.report()))

    def _error_lines(self, error: CbdeployError) -> Callable[[], None]:
        trace = traceback.format_exc() if self.debug else ""

        def write() -> None:
            if trace:
                _write(sys.stderr, trace, end="")
            report_error(error)

        return write

    def _bug_lines(self, error: Exception) -> Callable[[], None]:
        trace = traceback.format_exc() if self.debug else ""

        def write() -> None:
            if trace:
                _write(sys.stderr, trace, end="")
            _write(sys.stderr, f"Error: internal error: {type(error).__name__}: {error}")
            if not trace:
                _write(sys.stderr, "This is a bug in cbdeploy: rerun with --log-level debug for "
                                   "the traceback and report it.")

        return write

    @staticmethod
    def _interrupted() -> None:
        if sys.stderr.isatty():
            _write(sys.stderr, "")  # end the line the terminal's "^C" is on
        _write(sys.stderr, "Interrupted.")

    @staticmethod
    def _warn(message: str) -> None:
        _write(sys.stderr, f"Warning: {message}")


def _nothing() -> None:
    pass


def report_error(error: CbdeployError) -> None:
    """Print one readable error on stderr: what went wrong, then what to do next."""
    if isinstance(error, Cancelled):  # the user's own answer: no error to report
        _write(sys.stderr, f"Cancelled: {error.message}")
        return
    _write(sys.stderr, f"Error: {error.message}")
    if error.hint:
        _write(sys.stderr, error.hint)


def _write(stream: TextIO, text: str, end: str = "\n") -> None:
    stream.write(text + end)
    stream.flush()
