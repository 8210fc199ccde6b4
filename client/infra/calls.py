"""The writes a bootstrap or destroy plan is made of, and the one function that performs them.

A :class:`Call` names its :class:`AwsClient` method through :class:`Write`, a
closed set: a name that is not a member is refused when the call is made, and
``tests/unit/test_infra_calls.py`` checks that every member is an ``AwsClient``
method whose parameters the plans' calls bind to.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cbdeploy.client.errors import AwsError

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient


class Write(str, enum.Enum):
    """Every ``AwsClient`` method a plan may call; the value is the method's name."""

    CREATE_BUCKET = "create_bucket"
    PUT_PUBLIC_ACCESS_BLOCK = "put_public_access_block"
    PUT_BUCKET_ENCRYPTION = "put_bucket_encryption"
    PUT_BUCKET_POLICY = "put_bucket_policy"
    PUT_BUCKET_LIFECYCLE = "put_bucket_lifecycle"
    CREATE_LOG_GROUP = "create_log_group"
    PUT_RETENTION = "put_retention"
    CREATE_ROLE = "create_role"
    UPDATE_TRUST_POLICY = "update_trust_policy"
    PUT_INLINE_POLICY = "put_inline_policy"
    ATTACH_POLICY = "attach_policy"
    DETACH_POLICY = "detach_policy"
    CREATE_REPOSITORY = "create_repository"
    CREATE_PROJECT = "create_project"
    UPDATE_PROJECT = "update_project"
    STOP_BUILD = "stop_build"
    DELETE_PROJECT = "delete_project"
    DELETE_INLINE_POLICY = "delete_inline_policy"
    DELETE_ROLE = "delete_role"
    DELETE_LOG_GROUP = "delete_log_group"
    EMPTY_BUCKET = "empty_bucket"
    DELETE_OBJECTS = "delete_objects"
    DELETE_BUCKET = "delete_bucket"

    def __str__(self) -> str:
        return self.value


ABSENT: Any = None  # the ``old`` of a field being added, the ``new`` of one removed


@dataclass(frozen=True)
class Change:
    """What a write changes in one field: ``old`` → ``new`` (see ``client.infra.diff``)."""

    field: str
    old: Any = ABSENT
    new: Any = ABSENT


@dataclass(frozen=True)
class Call:
    """One write: ``AwsClient.<method>(**params)``; ``what`` is for people.

    ``method`` may be given as the method's name; anything not in :class:`Write`
    raises ValueError here, when the plan is made, not when it runs.
    """

    method: Write
    params: Mapping[str, Any] = field(hash=False)
    what: str
    waits_for_role: bool = False  # the role was just created: IAM may not have propagated
    # For people (a dry run): the fields this call changes. Not part of the call.
    changes: tuple[Change, ...] = field(default=(), compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", Write(self.method))

    def bound_to(self, aws: AwsClient) -> Callable[..., Any]:
        """The ``AwsClient`` method this call makes, bound to ``aws``."""
        method: Callable[..., Any] = getattr(aws, self.method.value)
        return method


def _role_not_ready(error: BaseException) -> bool:
    # CodeBuild answers InvalidInputException ("cannot be assumed") until a new
    # role has propagated through IAM; we only retry after creating the role.
    return isinstance(error, AwsError) and error.code == "InvalidInputException"


def execute(
    aws: AwsClient,
    calls: tuple[Call, ...],
    *,
    on_event: Callable[[Call], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Make ``calls`` in order; one waiting for a new role is retried while IAM propagates it."""
    for call in calls:
        if on_event is not None:
            on_event(call)
        method = call.bound_to(aws)
        if not call.waits_for_role:
            method(**call.params)
            continue
        # (tenacity loads here: a deploy whose stage exists makes no such call.)
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        retrying = Retrying(
            retry=retry_if_exception(_role_not_ready),
            wait=wait_exponential(multiplier=1, min=1, max=8),
            stop=stop_after_attempt(10),
            sleep=sleep,
            reraise=True,
        )
        retrying(method, **call.params)
