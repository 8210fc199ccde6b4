"""Create or update what a stage needs on AWS: plan from what AWS reports, then execute.

Stages, as in chalice's deployer:

1. :func:`observe` reads the current state (a handful of Get/Describe calls).
2. :func:`plan` decides, from :class:`StageSettings` and the :class:`Observed`
   state alone, which calls to make: a tuple of :class:`Call` (data, so a dry
   run renders the same plan and tests compare it with ``==``).
3. :func:`execute` performs them through the :class:`~client.aws.client.AwsClient`.

Nothing is written when nothing changed. The desired state (names, settings,
policy documents) lives in :mod:`client.infra.model`. What cbdeploy owns:

- per account and region: the bucket ``cbdeploy-<account>-<region>`` (public
  access blocked, default encryption, TLS-only policy, lifecycle rules);
- per app and stage: the log group ``/cbdeploy/<name>/<stage>`` with a retention,
  the CodeBuild project ``cbdeploy-<name>_<stage>`` and, per region too, its
  service role. The role is per stage because a stage may override
  ``codebuild.policies`` (production deploys often need more than dev), and
  its grants stop at the stage's own log group and S3 prefixes.

Names come from :mod:`client.infra.names`. Every per-stage resource is created with
the tags ``cbdeploy:app`` and ``cbdeploy:stage``; a resource found at one of
the stage's names with other tags (or none) belongs to someone else, and
:func:`plan` refuses (:class:`OwnershipError`) before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from cbdeploy.client.errors import ConfigError
from cbdeploy.client.infra.batch import BATCH_POLICY, BATCH_TRUST_POLICY, batch_role_policy
from cbdeploy.client.infra.calls import Call, Change, Write, execute
from cbdeploy.client.infra.diff import field_changes, statement_changes, tag_changes
from cbdeploy.client.infra.model import (
    BASE_POLICY,
    ENCRYPTION_RULES,
    LIFECYCLE_RULES,
    PUBLIC_ACCESS_BLOCK,
    TLS_ONLY_SID,
    TRUST_POLICY,
    Infrastructure,
    StageSettings,
    base_role_policy,
    bucket_policy,
    contains,
    names_for,
    project_settings,
)
from cbdeploy.client.infra.names import (
    Names,
)
from cbdeploy.client.infra.ownership import check_owner, check_repository_owner

if TYPE_CHECKING:
    from cbdeploy.client.aws.client import AwsClient


@dataclass(frozen=True)
class Observed:
    """What AWS reported; None where the thing does not exist."""

    bucket_exists: bool
    public_access_block: Mapping[str, Any] | None = None
    encryption: tuple[Mapping[str, Any], ...] | None = None
    bucket_policy: Mapping[str, Any] | None = None
    lifecycle: tuple[Mapping[str, Any], ...] | None = None
    log_group: Mapping[str, Any] | None = None
    role: Mapping[str, Any] | None = None
    attached_policies: tuple[str, ...] = ()
    base_policy: Mapping[str, Any] | None = None
    project: Mapping[str, Any] | None = None
    missing_policies: tuple[str, ...] = ()  # configured policy ARNs IAM does not know
    log_group_tags: Mapping[str, str] | None = None  # None: no group, or tags not read
    # [images] repositories that exist, by name (with their "tags"); absent: to create
    repositories: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    batch_role: Mapping[str, Any] | None = None  # the batch service role (client/infra/batch.py)
    batch_policy: Mapping[str, Any] | None = None


# --------------------------------------------------------------------------- observe, plan, execute


def observe(aws: AwsClient, settings: StageSettings, names: Names, *,
            on_bucket: Callable[[bool], None] | None = None) -> Observed:
    """Read what exists, in parallel reads (a deploy bootstraps every time); the answers
    are taken (their errors raised) in the order they always were. ``on_bucket`` is told
    as soon as HeadBucket has answered whether the bucket exists (False when it failed:
    its error is raised here as ever). Raises BucketOwnershipError before any write.
    """
    bucket, role = names.bucket, names.role
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="observe") as pool:
        after = partial(_after, pool)
        exists_f = pool.submit(aws.bucket_exists, bucket)
        if on_bucket is not None:
            exists_f.add_done_callback(
                lambda done: on_bucket(done.exception() is None and bool(done.result())))
        role_f = pool.submit(aws.get_role, role)
        batch_role_f = pool.submit(aws.get_role, names.batch_role)
        group_f = pool.submit(aws.get_log_group, names.log_group)
        project_f = pool.submit(aws.get_project, names.project)
        repository_f = {r: pool.submit(aws.get_repository, r) for r in settings.repositories}
        pab_f = after(exists_f, bool, aws.get_public_access_block, bucket)
        encryption_f = after(exists_f, bool, aws.get_bucket_encryption, bucket)
        policy_f = after(exists_f, bool, aws.get_bucket_policy, bucket)
        lifecycle_f = after(exists_f, bool, aws.get_bucket_lifecycle, bucket)
        attached_f = after(role_f, _known, aws.attached_policies, role)
        base_f = after(role_f, _known, aws.get_inline_policy, role, BASE_POLICY)
        batch_policy_f = after(batch_role_f, _known, aws.get_inline_policy, names.batch_role,
                               BATCH_POLICY)
        group_tags_f = pool.submit(
            lambda: None if (group := group_f.result()) is None else aws.log_group_tags(group))
        exists, found_role = exists_f.result(), role_f.result()
        found_group = group_f.result()
        attached = tuple(attached_f.result() or ())
        batch_role = batch_role_f.result()
        unknown = [
            (arn, pool.submit(aws.policy_exists, arn))
            for arn in settings.policies
            if arn not in attached
        ]
        encryption, lifecycle = encryption_f.result(), lifecycle_f.result()
        return Observed(
            bucket_exists=exists,
            public_access_block=pab_f.result(),
            encryption=tuple(encryption) if encryption is not None else None,
            bucket_policy=policy_f.result(),
            lifecycle=tuple(lifecycle) if lifecycle is not None else None,
            log_group=found_group,
            log_group_tags=group_tags_f.result(),
            role=found_role,
            attached_policies=attached,
            base_policy=base_f.result(),
            project=project_f.result(),
            missing_policies=tuple(arn for arn, known in unknown if not known.result()),
            repositories={
                r: found for r, f in repository_f.items() if (found := f.result()) is not None
            },
            batch_role=batch_role,
            batch_policy=batch_policy_f.result(),
        )


def _after(pool: ThreadPoolExecutor, first: Future[Any], wanted: Callable[[Any], bool],
           read: Callable[..., Any], *args: Any) -> Future[Any]:
    """``read(*args)`` once ``first`` has answered, if ``wanted(its answer)``, else None.

    A second-round read is queued with the first round and made as soon as the read it
    depends on has answered, not once the whole first round has. (It waits only on a read
    queued before it, which a worker has taken already: every wait ends.)"""
    return pool.submit(lambda: read(*args) if wanted(first.result()) else None)


def _known(found: Any) -> bool:
    return found is not None


def plan(settings: StageSettings, names: Names, observed: Observed) -> tuple[Call, ...]:
    """The writes that bring AWS to the desired state; empty when nothing changed.

    Raises, before any write, OwnershipError for a resource of another app or
    stage, and ConfigError for policies IAM does not know.
    """
    check_owner(names, observed.project, observed.role, observed.log_group_tags, observed.batch_role)
    check_repository_owner(names, observed.repositories)
    if observed.missing_policies:
        raise ConfigError(
            f"IAM has no policy {', '.join(observed.missing_policies)}.",
            "Fix codebuild.policies in cbdeploy.toml: each entry is the ARN of an existing "
            "managed policy, e.g. arn:aws:iam::aws:policy/AdministratorAccess.",
        )
    calls = [*_plan_bucket(names, observed), *_plan_log_group(settings, names, observed)]
    role_calls = _plan_roles(settings, names, observed)
    calls += role_calls
    calls += [
        Call(
            Write.CREATE_REPOSITORY,
            {"name": repository, "tags": names.tags},
            f"Create ECR repository {repository}",
            changes=tag_changes(names.tags),
        )
        for repository in settings.repositories
        if repository not in observed.repositories
    ]
    role_created = any(c.method is Write.CREATE_ROLE for c in role_calls)
    desired = project_settings(settings, names)
    if observed.project is None:
        tagged = {**desired, "tags": [{"key": k, "value": v} for k, v in names.tags.items()]}
        calls.append(
            Call(
                Write.CREATE_PROJECT, tagged, f"Create CodeBuild project {names.project}", role_created,
                changes=tag_changes(names.tags),
            )
        )
    elif not contains(observed.project, desired):
        calls.append(
            Call(
                Write.UPDATE_PROJECT, desired, f"Update CodeBuild project {names.project}", role_created,
                changes=field_changes(observed.project, desired),
            )
        )
    return tuple(calls)


def _plan_bucket(names: Names, observed: Observed) -> list[Call]:
    bucket = names.bucket
    calls = []
    if not observed.bucket_exists:
        calls.append(Call(Write.CREATE_BUCKET, {"bucket": bucket}, f"Create bucket {bucket}"))
    if not contains(observed.public_access_block, PUBLIC_ACCESS_BLOCK):
        calls.append(
            Call(
                Write.PUT_PUBLIC_ACCESS_BLOCK,
                {"bucket": bucket, "config": PUBLIC_ACCESS_BLOCK},
                f"Block public access to {bucket}",
                changes=field_changes(observed.public_access_block, PUBLIC_ACCESS_BLOCK),
            )
        )
    if not _encrypted(observed.encryption):
        calls.append(
            Call(
                Write.PUT_BUCKET_ENCRYPTION,
                {"bucket": bucket, "rules": ENCRYPTION_RULES},
                f"Encrypt {bucket} by default",
            )
        )
    policy = _merged_policy(observed.bucket_policy, names)
    if names.tls and policy != observed.bucket_policy:
        calls.append(
            Call(
                Write.PUT_BUCKET_POLICY,
                {"bucket": bucket, "policy": policy},
                f"Refuse non-TLS access to {bucket}",
                changes=statement_changes(observed.bucket_policy, policy),
            )
        )
    existing = list(observed.lifecycle or ())
    if not all(any(contains(rule, wanted) for rule in existing) for wanted in LIFECYCLE_RULES):
        ours = {r["ID"] for r in LIFECYCLE_RULES}
        rules = [r for r in existing if r.get("ID") not in ours] + LIFECYCLE_RULES
        calls.append(
            Call(
                Write.PUT_BUCKET_LIFECYCLE,
                {"bucket": bucket, "rules": rules},
                f"Expire old sources (30 days) and stale uploads (1 day) in {bucket}",
                changes=tuple(
                    Change("Rules", None, wanted["ID"]) for wanted in LIFECYCLE_RULES
                    if not any(contains(rule, wanted) for rule in existing)
                ),
            )
        )
    return calls


def _encrypted(rules: tuple[Mapping[str, Any], ...] | None) -> bool:
    # Keep a bucket key or KMS setup someone chose; only add encryption where there is none.
    return any(
        r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
        in ("AES256", "aws:kms", "aws:kms:dsse")
        for r in rules or ()
    )


def _merged_policy(current: Mapping[str, Any] | None, names: Names) -> dict[str, Any]:
    """Our TLS-only statement added to (or refreshed in) whatever policy is there."""
    desired = bucket_policy(names)
    if not current:
        return desired
    others = [s for s in current.get("Statement") or () if s.get("Sid") != TLS_ONLY_SID]
    ours = [s for s in current.get("Statement") or () if s.get("Sid") == TLS_ONLY_SID]
    if len(ours) == 1 and contains(ours[0], desired["Statement"][0]):
        return dict(current)
    return {**current, "Version": "2012-10-17", "Statement": others + desired["Statement"]}


def _plan_log_group(settings: StageSettings, names: Names, observed: Observed) -> list[Call]:
    group, days = names.log_group, settings.log_retention_days
    calls = []
    if observed.log_group is None:
        calls.append(
            Call(
                Write.CREATE_LOG_GROUP,
                {"name": group, "tags": names.tags},
                f"Create log group {group}",
                changes=tag_changes(names.tags),
            )
        )
    if observed.log_group is None or observed.log_group.get("retentionInDays") != days:
        old = None if observed.log_group is None else observed.log_group.get("retentionInDays")
        calls.append(
            Call(Write.PUT_RETENTION, {"name": group, "days": days}, f"Keep {group} logs {days} days",
                 changes=(Change("retentionInDays", old, days),))
        )
    return calls


def _plan_roles(settings: StageSettings, names: Names, observed: Observed) -> list[Call]:
    """The stage's service role with its managed policies, then its batch service role."""
    owner = f"cbdeploy {settings.name} ({settings.stage})"
    calls = plan_role(
        names.role, observed.role, trust=TRUST_POLICY, tags=names.tags,
        description=f"CodeBuild service role of {owner}",
        policy=(BASE_POLICY, base_role_policy(settings, names)),
        observed_policy=observed.base_policy, allows="its logs, sources, cache and secrets",
    )
    attached = set(observed.attached_policies)
    for arn in sorted(set(settings.policies) - attached):
        calls.append(Call(Write.ATTACH_POLICY, {"role": names.role, "arn": arn},
                          f"Attach {arn} to {names.role}"))
    for arn in sorted(attached - set(settings.policies)):
        calls.append(Call(Write.DETACH_POLICY, {"role": names.role, "arn": arn},
                          f"Detach {arn} from {names.role}"))
    return calls + plan_role(
        names.batch_role, observed.batch_role, trust=BATCH_TRUST_POLICY, tags=names.tags,
        description=f"CodeBuild batch service role of {owner}",
        policy=(BATCH_POLICY, batch_role_policy(names)), observed_policy=observed.batch_policy,
        allows=f"to start and stop the builds of {names.project}",
    )


def plan_role(
    role: str,
    observed: Mapping[str, Any] | None,
    *,
    trust: Mapping[str, Any],
    description: str,
    tags: Mapping[str, str],
    policy: tuple[str, Mapping[str, Any]],
    observed_policy: Mapping[str, Any] | None,
    allows: str,
) -> list[Call]:
    """Create ``role``, or bring its trust and its inline policy back to what they should be.

    ``observed``: the role as IAM has it (None: there is none); ``policy``: the
    inline policy's name and document, ``observed_policy`` the document IAM
    has; ``allows`` ends the sentence "Allow <role> ..." that names the policy.
    """
    calls = []
    if observed is None:
        params = {"name": role, "trust_policy": trust, "description": description, "tags": tags}
        calls.append(Call(Write.CREATE_ROLE, params, f"Create IAM role {role}",
                          changes=tag_changes(tags)))
    elif not contains(current := observed.get("AssumeRolePolicyDocument"), trust):
        calls.append(Call(Write.UPDATE_TRUST_POLICY, {"name": role, "trust_policy": trust},
                          f"Let CodeBuild assume {role}",
                          changes=statement_changes(current, trust)))
    name, document = policy
    if observed_policy is None or not contains(observed_policy, document):
        calls.append(Call(Write.PUT_INLINE_POLICY,
                          {"role": role, "policy": name, "document": document},
                          f"Allow {role} {allows}",
                          changes=statement_changes(observed_policy, document)))
    return calls


def plan_bootstrap(aws: AwsClient, settings: StageSettings) -> tuple[Call, ...]:
    """Read and plan without writing: the calls bootstrap would make, each with its changes.

    The same plan :func:`bootstrap` executes, so ``--dry-run`` shows exactly that.
    """
    names = names_for(aws, settings.name, settings.stage)
    return plan(settings, names, observe(aws, settings, names))


@dataclass(frozen=True)
class Survey:
    """A stage's names and what AWS reported of it: :func:`bootstrap`'s reads, which a
    deploy makes while it packages (``deploy.preamble``) and plans from afterwards."""

    names: Names
    observed: Observed

    @property
    def infrastructure(self) -> Infrastructure:
        """The stage's resources by name, as they are once bootstrapped."""
        return named_infrastructure(self.names)


def named_infrastructure(names: Names) -> Infrastructure:
    """The stage's resources by name, as they are once bootstrapped (nothing read)."""
    return _infrastructure(names, ())


def survey(aws: AwsClient, settings: StageSettings) -> Survey:
    """Read only: the names (one STS call, cached) and :func:`observe`."""
    names = names_for(aws, settings.name, settings.stage)
    return Survey(names, observe(aws, settings, names))


def bootstrap(
    aws: AwsClient,
    settings: StageSettings,
    *,
    on_event: Callable[[Call], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    surveyed: Survey | None = None,
) -> Infrastructure:
    """Create or update the stage's infrastructure; writes only what differs.

    ``on_event`` is called with each :class:`Call` before it is made (nothing
    is called when everything is up to date). Raises BucketOwnershipError,
    before any write, when the bucket name belongs to another account.
    ``surveyed``: the reads already made for these ``settings`` (else made here).
    """
    found = surveyed or survey(aws, settings)
    calls = plan(settings, found.names, found.observed)
    execute(aws, calls, on_event=on_event, sleep=sleep)
    return _infrastructure(found.names, calls)


def _infrastructure(names: Names, calls: tuple[Call, ...]) -> Infrastructure:
    return Infrastructure(
        bucket=names.bucket,
        role_arn=names.role_arn,
        log_group=names.log_group,
        project=names.project,
        changes=tuple(c.what for c in calls),
        sources_prefix=names.sources_prefix,
    )
