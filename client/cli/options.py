"""Options shared by the commands that talk to AWS, and their validation.

``--stage`` and ``--region`` fall back to the stored defaults
(``cbdeploy defaults:configure``). Stacktape's camelCase spellings are
accepted as aliases of the kebab-case names.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cbdeploy.client.aws.regions import (
    known_regions,
    profile_files,
    profile_names,
    profile_region,
)
from cbdeploy.client.config import defaults as defaults_store
from cbdeploy.client.errors import UsageError
from cbdeploy.client.target import STAGE_RE, Target

F = TypeVar("F", bound=Callable[..., Any])
_log = logging.getLogger("cbdeploy.options")


def complete_region(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion for ``--region``: the known region names."""
    return sorted(r for r in known_regions() if r.startswith(incomplete))


def complete_stage(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion for ``--stage``: the config's ``[stages.*]`` and the stored default."""
    from cbdeploy.client.config.find import find_config
    from cbdeploy.client.config.load import stage_names

    names = {defaults_store.load().stage or ""}
    given = ctx.params.get("config_path")
    path = Path(given) if given else find_config(Path())
    names |= stage_names(path) if path else set()
    return sorted(n for n in names if n and n.startswith(incomplete))


def complete_profile(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion for ``--aws-profile``: the profiles in the AWS config files."""
    return sorted(p for p in profile_names() if p.startswith(incomplete))


def validate_stage(stage: str) -> str:
    if not STAGE_RE.match(stage):
        raise UsageError(
            f"Invalid stage name {stage!r}.",
            "A stage is 1 to 12 characters of a-z, 0-9 and '-', starting with a letter "
            "(for example: dev, staging, pr-42).",
        )
    return stage


def validate_region(region: str) -> str:
    if region not in known_regions():
        raise UsageError(
            f"Unknown AWS region {region!r}.",
            "Pass a region name such as us-east-1 or eu-west-1 with --region.",
        )
    return region


def resolve_target(
    stage: str | None,
    region: str | None,
    profile: str | None,
    config_path: str | None,
    local: bool,
    log_level: str,
    *,
    need_stage: bool = True,
) -> Target:
    """Apply stored defaults, then validate. Raises :class:`UsageError`.

    Without --config-path, the config is the nearest ``cbdeploy.toml`` at or
    above the working directory (None when there is none: the command says so
    if it needs one).

    An option given as an empty string is an error, not "not given": a script
    passing ``--stage "$STAGE"`` with STAGE unset must not deploy the stored
    default stage.
    """
    from cbdeploy.client.config.find import find_config  # (not for --help)

    for option, value in (("--stage", stage), ("--region", region), ("--config-path", config_path)):
        reject_empty(option, value)
    stored = defaults_store.load()
    stage_from = "option" if stage else "defaults"
    stage = stage or stored.stage
    profile = profile or stored.profile
    region_from, region = region_source(region, stored.region, profile)
    if need_stage and not stage:
        raise UsageError(
            "No stage given.",
            "Pass --stage (for example --stage dev) or store a default with "
            "'cbdeploy defaults:configure'.",
        )
    if not region:
        raise UsageError(
            "No region given.",
            "Pass --region (for example --region us-east-1), set AWS_REGION, store a "
            "default with 'cbdeploy defaults:configure', or set region in your AWS profile.",
        )
    found = Path(config_path) if config_path else find_config(Path())
    _log.debug("stage %s (from %s), region %s (from %s), profile %s, config %s",
               stage or "-", stage_from, region, region_from, profile or "-",
               found or "none found")
    return Target(
        stage=_from_source(stage, validate_stage, stage_from, "stage") if stage else "",
        region=_from_source(region, validate_region, region_from, "region"),
        profile=profile,
        config_path=found,
        local=local,
        log_level=log_level,
    )


def region_source(
    given: str | None, stored: str | None, profile: str | None
) -> tuple[str, str | None]:
    """(where from, region) in the AWS CLI's order: the option, the environment, then ours.

    ``--region``, then AWS_REGION, AWS_DEFAULT_REGION (what CI runners such as
    configure-aws-credentials set), then the stored default, then the region of
    the AWS profile in use (``profile``, else AWS_PROFILE's, else default's).
    """
    for source, value in (
        ("option", given),
        ("AWS_REGION", os.environ.get("AWS_REGION")),
        ("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION")),
        ("defaults", stored),
    ):
        if value:
            return source, value
    return "profile", profile_region(profile)


def region_if_any(region: str | None) -> str | None:
    """The region a deploy would use (the same sources, the same order); None if none is set.

    For ``package``, which needs no region but names it in the plan when known.
    """
    reject_empty("--region", region)
    stored = defaults_store.load()
    source, found = region_source(region, stored.region, stored.profile)
    return _from_source(found, validate_region, source, "region") if found else None


_EMPTY_HINTS = {
    "--stage": "Pass a stage such as --stage dev, or leave the option out to use the stored default.",
    "--region": "Pass a region such as --region us-east-1, or leave the option out to use "
    "AWS_REGION or the stored default.",
    "--config-path": "Pass the path of a cbdeploy.toml, or leave the option out to use "
    "the nearest cbdeploy.toml at or above this folder.",
}


def reject_empty(option: str, value: str | None) -> None:
    """Raise :class:`UsageError` when ``option`` was given as an empty string."""
    if value is not None and not value:
        raise UsageError(
            f"{option} is empty.",
            _EMPTY_HINTS.get(option, f"Give {option} a value, or leave it out."),
        )


def not_empty_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """click callback: refuse an empty string (for options outside :func:`aws_options`)."""
    reject_empty("--" + (param.name or "").replace("_", "-"), value)
    return value


def finite_callback(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    """click callback: refuse nan and infinities, which slip through ``click.FloatRange``."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number in range.", ctx, param)
    return value


def _from_source(value: str, check: Callable[[str], str], source: str, what: str) -> str:
    """Validate ``value``; when it did not come from an option, say where it came from."""
    try:
        return check(value)
    except UsageError as error:
        if source == "option":
            raise
        example = "dev" if what == "stage" else "us-east-1"
        if source == "defaults":
            origin = f"the stored defaults in {defaults_store.path()}"
            fix = f"Store a valid one with 'cbdeploy defaults:configure --{what} {example}'"
        elif source == "profile":
            origin = f"your AWS profile's settings in {profile_files()[0]}"
            fix = f"Set region = {example} in that profile"
        else:
            origin = source
            fix = f"Set {source} to a valid {what} such as {example}"
        raise UsageError(
            f"{error.message.rstrip('.')} (from {origin}).", f"{fix}, or pass --{what}."
        ) from None


LOG_LEVELS = ("info", "debug", "trace")


def log_level_option(func: F) -> F:
    return click.option(
        "--log-level",
        "--logLevel",
        "log_level",
        type=click.Choice(LOG_LEVELS),
        default="info",
        show_default=True,
        help="debug: cbdeploy's decisions, one line per AWS call, tracebacks; "
        "trace: also botocore's and urllib3's own logs.",
        callback=_remember_log_level,
        expose_value=True,
        is_eager=True,
    )(func)


def _remember_log_level(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    ctx.meta["cbdeploy.log_level"] = value
    configure_logging(value)
    return value


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (click's runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        import sys

        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str) -> None:
    """``debug``: cbdeploy's own loggers (``cbdeploy.*``: its decisions, one line per AWS
    call) on stderr, while botocore's, urllib3's and s3transfer's stay at WARNING.
    ``trace``: every logger at DEBUG, botocore's request internals included."""
    root = logging.getLogger()
    ours = logging.getLogger("cbdeploy")
    installed = [h for h in root.handlers if isinstance(h, _StderrHandler)]
    for handler in installed:
        root.removeHandler(handler)
    if level not in ("debug", "trace"):
        if installed:  # (an earlier command in this process asked for more)
            root.setLevel(logging.WARNING)
            ours.setLevel(logging.NOTSET)
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if level == "trace" else logging.WARNING)
    ours.setLevel(logging.DEBUG)


def aws_options(need_stage: bool = True) -> Callable[[F], F]:
    """Add --stage, --region, --config-path, --aws-profile, --local, --log-level.

    The wrapped command receives one ``target: Target`` argument instead.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(
            *args: Any,
            stage: str | None,
            region: str | None,
            aws_profile: str | None,
            config_path: str | None,
            local: bool,
            log_level: str,
            **kwargs: Any,
        ) -> Any:
            target = resolve_target(
                stage, region, aws_profile, config_path, local, log_level, need_stage=need_stage
            )
            return func(*args, target=target, **kwargs)

        decorated: Any = wrapper
        decorated = log_level_option(decorated)
        decorated = click.option(
            "--local",
            is_flag=True,
            help="Start the local emulator for this run and point every AWS call at it.",
        )(decorated)
        decorated = click.option(
            "--aws-profile",
            "--awsProfile",
            "aws_profile",
            help="AWS profile to use.",
            shell_complete=complete_profile,
        )(decorated)
        decorated = click.option(
            "--config-path",
            "--configPath",
            "config_path",
            type=click.Path(dir_okay=False),
            help="Path to cbdeploy.toml (default: the nearest one here or in a folder above).",
        )(decorated)
        decorated = click.option(
            "--region", "-r", help="AWS region, e.g. us-east-1.", shell_complete=complete_region
        )(decorated)
        decorated = click.option(
            "--stage",
            "-s",
            help="Stage name: 1-12 of a-z, 0-9, '-', starting with a letter.",
            shell_complete=complete_stage,
        )(decorated)
        return decorated

    return decorate


def service_options(func: F) -> F:
    """``deploy``'s choice of a workspace's services: --service, --no-deps, --affected, --since.

    The command receives ``services`` (a tuple), ``no_deps``, ``affected`` and ``since``;
    which combinations make sense is ``client.deploy.selection``'s to say.
    """
    decorated: Any = func
    for option in reversed([
        click.option("--service", "services", multiple=True, metavar="NAME",
                     callback=_not_empty_names,
                     help="At a workspace's root: deploy this service and what it depends on "
                          "(repeatable)."),
        click.option("--no-deps", "--noDeps", "no_deps", is_flag=True,
                     help="With --service: leave out the services it depends on."),
        click.option("--affected", is_flag=True,
                     help="Deploy only the services whose paths match files changed since "
                          "the stage's last deploy (or --since), uncommitted ones included."),
        click.option("--since", metavar="REF", callback=not_empty_callback,
                     help="With --affected: count changes from this commit, branch or tag."),
    ]):
        decorated = option(decorated)
    return decorated


def _not_empty_names(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    for name in value:
        reject_empty("--service", name)
    return value
