"""A deploy's full archive: written before its upload, or, for a delta, once the build runs.

A warm deploy that sends a delta (``client.deploy.delta``) needs only the tree (every
file's hash) and the changed files before StartBuild; the full archive is then what
the next deploy copies compressed entries from (the package cache), what ``--json``
describes (size, SHA-256) and what ``--preserve-temp-files`` keeps. So the deploy
writes it once the build is started, while CodeBuild provisions the build, instead of
before the upload. Wherever the full archive is needed before (no base, a base that
would not do, a confirmation that shows it), :meth:`FullArchive.get` writes it there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging import ArchiveResult

LOG = logging.getLogger(__name__)


Check = Callable[[], None]  # acts on a signal received since (watch.signals.Interrupts.check)
# Writes the archive: given a check once the build is started (no progress shown then).
Write = Callable[[Check | None], ArchiveResult]


class FullArchive:
    """The full archive, written by ``write`` on the first :meth:`get` (once)."""

    def __init__(self, write: Write) -> None:
        self._write: Write | None = write
        self.built: ArchiveResult | None = None

    @classmethod
    def of(cls, archive: ArchiveResult) -> FullArchive:
        """One already written."""
        full = cls(lambda _check: archive)
        full.get()
        return full

    def get(self, check: Check | None = None) -> ArchiveResult:
        if self.built is None:
            assert self._write is not None, "the full archive failed once already"
            write, self._write = self._write, None
            self.built = write(check)
        return self.built

    def after_start(self, check: Check) -> ArchiveResult | None:
        """Written now if it was not (the build is started: a failure only loses the
        package cache's update and the summary's archive line, never the deploy)."""
        if self.built is not None or self._write is None:
            return self.built
        try:
            return self.get(check)
        except (PackagingError, OSError) as error:
            # (e.g. a file changed since it was selected: the build has its own copy)
            LOG.debug("the full archive was not written after the start: %s", error)
            return None
