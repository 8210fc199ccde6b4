"""cbdeploy's exceptions: what went wrong, and what the user can do next.

Every error a user can cause or fix is a :class:`CbdeployError`. The CLI
translates it once, at the edge (``client.cli.main``): the message and the hint
on stderr, ``exit_code`` as the process status, a traceback only with
``--log-level debug``. Library code raises these and never prints.
"""

from __future__ import annotations


class CbdeployError(Exception):
    """Base class: ``message`` says what went wrong, ``hint`` what to do next."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(CbdeployError):
    """Bad command-line input: an option value, a missing stage or region."""


class Cancelled(CbdeployError):
    """The user answered no to a confirmation: not an error, but nothing was done (exit 2).

    Rendered as ``Cancelled: nothing was changed``, without ``Error:``.
    """

    def __init__(self, message: str = "nothing was changed") -> None:
        super().__init__(message)


class ConfigError(CbdeployError):
    """``cbdeploy.toml`` is missing, does not parse, or holds a bad value."""


class PackagingError(CbdeployError):
    """The project cannot be packaged: an unreadable file, a link out of the project."""


class MissingExtraError(UsageError):
    """An optional feature needs an extra that is not installed (``cbdeploy[local]``)."""


class AwsError(CbdeployError):
    """AWS refused a call. ``code`` is the AWS error code when there is one."""

    def __init__(self, message: str, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message, hint)
        self.code = code


class CredentialsError(AwsError):
    """No credentials, an unknown profile, or credentials AWS does not accept."""


class ExpiredCredentialsError(CredentialsError):
    """Temporary credentials or an SSO login have expired; refreshing them fixes it."""


class AccessDeniedError(CredentialsError):
    """The credentials work but may not make this call. ``action`` is the IAM action.

    A subclass of :class:`CredentialsError` because, like it, no retry fixes it.
    """

    def __init__(
        self, message: str, hint: str | None = None, code: str | None = None, action: str = ""
    ) -> None:
        super().__init__(message, hint, code)
        self.action = action


class AgentGoneError(CredentialsError):
    """The process making this command's AWS calls (the deploy's AWS agent) is gone.

    A subclass of :class:`CredentialsError` because, like it, no retry fixes it: an
    upload or a follow stops at once instead of trying again for minutes.
    """


class NotFoundError(AwsError):
    """A build, project or other resource does not exist."""


class BucketOwnershipError(AwsError):
    """The bucket name is taken by another account; cbdeploy never uses it."""


class OwnershipError(CbdeployError):
    """A resource at one of the stage's names belongs to another app or stage (its tags)."""


class BuildConflictError(AwsError):
    """A build of the same stage is already running (``concurrentBuildLimit`` reached)."""

    def __init__(
        self, message: str, hint: str | None = None, running_build_id: str | None = None
    ) -> None:
        super().__init__(message, hint, code="AccountLimitExceededException")
        self.running_build_id = running_build_id
