"""A deploy's AWS preamble, on a thread while the project is packaged (issue 16).

Importing boto3, making the clients, STS GetCallerIdentity and the secrets check
only read, and take a few hundred milliseconds that packaging (git, lstat, I/O)
need not wait for. :class:`Preamble` runs them on a daemon thread from the start
of the deploy; the deploy joins it before anything needs AWS. Nothing is created
there: the first write comes after the confirmation, as before.

The deploy joins it once the files are selected (the selection is mostly waiting
on git and on the disk): before the header is shown (it names the account) and
before anything is written into the project, so a deploy that cannot reach AWS
says what it said before, and leaves nothing behind. A Ctrl-C meanwhile leaves the
thread to end by itself (it only reads); whatever it opened is closed then.

Once AWS has answered, :func:`read_stage` makes the stage's reads on a thread of its
own (bootstrap's survey, the base a delta is sent against): the deploy plans its
writes from them after packaging. ``git status`` runs on one too, after the
selection (both walk the tree with git), while the files are hashed and packed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from cbdeploy.client.deploy.delta import Base, BaseStore
from cbdeploy.client.deploy.preflight import check_secrets
from cbdeploy.client.errors import UsageError
from cbdeploy.client.infra.bootstrap import Survey, named_infrastructure, observe, survey
from cbdeploy.client.infra.model import StageSettings, names_for

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient
    from cbdeploy.client.config.model import ProjectConfig
    from cbdeploy.client.target import Target

R = TypeVar("R")


def open_aws_later(target: Target) -> AbstractContextManager[AwsClient]:
    """The deploy's door, held by an AWS agent process (``client.aws.remote``): boto3,
    its clients and every call run there, on another core than the packaging. Its
    client has every method and property of ``AwsClient`` a deploy uses (hence the cast)."""
    from cbdeploy.client.aws.remote import open_agent

    return cast("AbstractContextManager[AwsClient]", open_agent(target))


def open_and_check(
    stack: ExitStack,
    aws_factory: Callable[[Target], AbstractContextManager[AwsClient]],
    target: Target,
    config: ProjectConfig,
    *,
    detach: bool,
) -> tuple[AwsClient, str]:
    """A deploy's preamble: AWS opened (on ``stack``), the account known, the secrets
    checked. Reads only: nothing is created before the confirmation."""
    aws = stack.enter_context(aws_factory(target))
    if detach and aws.endpoint.in_process:
        raise UsageError(
            "--detach needs a standing emulator: with --local alone the emulator runs "
            "in this command, and the build would end with it.",
            "Start 'cbdeploy emulator' in another terminal (--local then uses it), "
            "or deploy without --detach.",
        )
    # Credentials, profile and account first: a deploy that cannot reach AWS says so
    # before any packaging is shown (and stops the packaging at its next step).
    account = aws.account_id()
    check_secrets(aws, config)  # before anything is created or uploaded
    return aws, account


@dataclass(frozen=True)
class StageReads:
    """What a deploy reads of its stage before writing anything: bootstrap's survey and,
    for a delta, the stage's base. ``store`` None: the base was not looked for (no
    delta, or no bucket yet), the deploy looks for it after bootstrap as before."""

    settings: StageSettings
    surveyed: Survey
    store: BaseStore | None = None
    base: Base | None = None


def read_stage(
    aws: AwsClient, settings: StageSettings, record_dir: Path, *, delta: bool
) -> StageReads:
    """Read only (the base's local record, if read from the bucket, is held back: see
    :meth:`BaseStore.keep_record`); run on a thread once the preamble has answered.

    For a delta, the base's local record is read on a thread of its own while
    bootstrap's reads wait on AWS, and its HeadObject goes out once HeadBucket says
    the bucket exists, alongside their second round (as :func:`survey`, then
    :meth:`BaseStore.find`, and their errors in that order)."""
    if not delta:
        return StageReads(settings, survey(aws, settings))
    names = names_for(aws, settings.name, settings.stage)
    store = BaseStore(aws, named_infrastructure(names), record_dir, hold_record=True)
    bucket = _Answer()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cbdeploy-base") as pool:
        recorded = pool.submit(store.find_recorded, bucket.wait)
        try:
            surveyed = Survey(names, observe(aws, settings, names, on_bucket=bucket.set))
        finally:
            bucket.set(False)  # (once observe has failed: nothing more to ask)
        if not surveyed.observed.bucket_exists:
            return StageReads(settings, surveyed)
        return StageReads(settings, surveyed, store, recorded.result() or store.find_pointed())


class _Answer:
    """A yes or no given once, from any thread (the first one given counts)."""

    def __init__(self) -> None:
        self._given = threading.Event()
        self._value = False
        self._lock = threading.Lock()

    def set(self, value: bool) -> None:
        with self._lock:
            if not self._given.is_set():
                self._value = value
                self._given.set()

    def wait(self) -> bool:
        self._given.wait()
        return self._value


class Preamble(Generic[R]):
    """``work(stack)`` on a daemon thread; contexts it enters on ``stack`` stay open
    until :meth:`close`. (Also what runs the stage's reads and ``git status``.)"""

    def __init__(self, work: Callable[[ExitStack], R], name: str = "cbdeploy-preamble") -> None:
        self._stack = ExitStack()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._result: list[R] = []  # the one result, once there is one
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(work,), name=name, daemon=True
        )
        self._thread.start()

    def _run(self, work: Callable[[ExitStack], R]) -> None:
        try:
            self._result.append(work(self._stack))
        except BaseException as error:  # handed to the deploy's thread, raised there
            self._error = error
        with self._lock:
            self._done.set()
            close = self._abandoned or self._error is not None
        if close:
            self._close_quietly()

    def done(self) -> bool:
        return self._done.is_set()

    def check(self) -> None:
        """Raise the preamble's error if it has already failed."""
        if self._done.is_set() and self._error is not None:
            raise self._error

    def result(self) -> R:
        """Wait for the preamble (a Ctrl-C interrupts the wait); its error is raised here."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result[0]

    def close(self) -> None:
        """Close what the preamble opened, now or, while it still runs, when it ends."""
        with self._lock:
            if not self._done.is_set():
                self._abandoned = True
                return
        self._stack.close()

    def _close_quietly(self) -> None:
        try:
            self._stack.close()
        except Exception:  # noqa: BLE001 - the preamble's own error (if any) is the one to tell
            import logging

            logging.getLogger(__name__).debug("closing the AWS preamble failed", exc_info=True)
