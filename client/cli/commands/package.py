"""``cbdeploy package``: build the archive a deploy would upload, without uploading it."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, replace
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import (
    complete_region,
    complete_stage,
    log_level_option,
    not_empty_callback,
    region_if_any,
    validate_stage,
)
from cbdeploy.client.collector import paused_gc
from cbdeploy.client.config import defaults as defaults_store
from cbdeploy.client.config.find import CONFIG_FILE, find_config
from cbdeploy.client.config.statedir import NAME, cache_dir, cache_path, state_dir
from cbdeploy.client.packaging import gitstatus
from cbdeploy.client.packaging.destination import check_output_path
from cbdeploy.client.packaging.model import Selection
from cbdeploy.client.packaging.quote import quote_path
from cbdeploy.client.target import project_directory

if TYPE_CHECKING:
    from cbdeploy.client.packaging.early import EarlyBatches
    from cbdeploy.client.packaging.select import OnFiles

# What a run does not need is imported where it is needed (rich, the archive builder,
# the deploy's plan, --stats): a listing or a summary in a script starts sooner.

DEFAULT_OUTPUT = Path(NAME) / "package.zip"


@dataclass(frozen=True)
class PackageRequest:
    root: Path
    config_path: Path | None
    stage: str
    output: Path
    use_cache: bool
    region: str | None = None  # the plan names it: a deploy's archive to this region


@command("package", short_help="Build the deploy archive here, without uploading it.")
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="Print the selected paths, one per line (quoted like 'git ls-files'), and nothing "
    "else on stdout.",
)
@click.option(
    "-z",
    "nul",
    is_flag=True,
    help="With --list: end each path with NUL instead of a newline, and never quote it.",
)
@click.option(
    "--stats",
    is_flag=True,
    help="Show file count, sizes, SHA-256, the largest directories and files, and the largest "
    "excluded paths with the rule that excludes each.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(),  # checked by check_output_path: a link is refused, not followed
    help="Where to write the zip (default: .cbdeploy/package.zip in the project).",
)
@click.option(
    "--stage",
    "-s",
    help="Stage whose plan goes into the archive (default: the stored default stage, else dev).",
    shell_complete=complete_stage,
)
@click.option(
    "--region",
    "-r",
    help="Region whose deploy the archive is for, as deploy finds it (default: AWS_REGION or "
    "the stored default); the plan names it.",
    shell_complete=complete_region,
)
@click.option(
    "--config-path",
    "--configPath",
    "config_path",
    type=click.Path(dir_okay=False),
    callback=not_empty_callback,
    help="Path to cbdeploy.toml; its folder is the project (default: the nearest one here "
    "or in a folder above).",
)
@click.option(
    "--no-package-cache",
    "--no-cache",
    "--noCache",
    "no_cache",
    is_flag=True,
    help="Compress every file again instead of reusing .cbdeploy/cache/ (--no-cache: the same).",
)
@log_level_option
def package(
    list_only: bool,
    nul: bool,
    stats: bool,
    output: str | None,
    stage: str | None,
    region: str | None,
    config_path: str | None,
    no_cache: bool,
    log_level: str,
) -> None:
    """Package the project exactly as a deploy would, without uploading.

    Files are selected as git selects them (tracked files plus untracked files
    no .gitignore rule ignores), then .cbdeployignore applies. With --list the
    paths are printed and no archive is written (unless --output or --stats is
    given too). Otherwise the zip goes to --output, by default
    .cbdeploy/package.zip, which is never itself packaged.

    Examples:

    \b
      cbdeploy package --list
      cbdeploy package --list -z
      cbdeploy package --stats
      cbdeploy package --stage prod --output dist/site.zip
    """
    if nul and not list_only:
        raise click.UsageError("-z goes with --list: it changes how the paths are printed.")
    # The collector stays paused from selection to the summary: the selection's tens of
    # thousands of objects would otherwise all be walked by the first collection after
    # select_files (15-25 ms of a 400 ms re-package of babel/babel), to free nothing.
    with paused_gc():
        try:
            _package(list_only, nul, stats, output, stage, region, config_path, no_cache)
        finally:
            gitstatus.forget()


def _package(
    list_only: bool, nul: bool, stats: bool, output: str | None, stage: str | None,
    region: str | None, config_path: str | None, no_cache: bool,
) -> None:
    config_file = Path(config_path) if config_path else find_config(Path())
    root = project_directory(config_file)
    if not no_cache:  # git status on the cache's index runs while the rest starts
        gitstatus.prefetch(root, cache_path(root))
    request = PackageRequest(
        root=root,
        config_path=config_file,
        stage=validate_stage(stage or defaults_store.load().stage or "dev"),
        output=Path(output) if output else root / DEFAULT_OUTPUT,
        use_cache=not no_cache,
        # Without a cbdeploy.toml no plan names a region: the AWS profile (botocore,
        # ~0.1 s) is not read for one.
        region=region_if_any(region) if config_file is not None or region else None,
    )
    writes = bool(stats or output or not list_only)
    if writes:
        check_output_path(request.output)  # before anything is listed or written
    # A cold build starts its worker processes now, to be ready once the files are known,
    # and hands them the first files while the rest are selected.
    with _cold_start(request) if writes else contextlib.nullcontext() as early:
        selection, extra = _select(
            request, archive=writes, on_files=early.feed if early is not None else None
        )
        selection = _without(selection, request.output)
        _warn(selection)
        if list_only:
            _list(selection, nul=nul)
            if not writes:
                return
        _write(request, selection, extra, stats=stats, early=early, stderr=list_only)


def _write(
    request: PackageRequest, selection: Selection, extra: dict[str, bytes],
    *, stats: bool, early: EarlyBatches | None = None, stderr: bool = False,
) -> None:
    """Write the archive; then its summary line, or with ``stats`` its sizes and what stayed
    out (on stdout, or ``stderr`` when stdout has the listing). ``early``: a cold build's
    head start (``packaging.early.cold_start``)."""
    from cbdeploy.client.output.package import write_summary
    from cbdeploy.client.packaging.archive import build_archive

    if request.output.parent == request.root / NAME:
        state_dir(request.root)  # with its .gitignore, so git never sees the archive
    cache = cache_dir(selection.root) if request.use_cache else None
    workers = early.workers if early is not None else None
    if not stats:
        result = build_archive(selection, request.output, extra_entries=extra,
                               cache_dir=cache, workers=workers, early=early)
        _remember(selection, cache)
        write_summary(result, stderr=stderr)
        return
    from concurrent.futures import ThreadPoolExecutor

    from cbdeploy.client.output.console import make_console
    from cbdeploy.client.output.package import render_stats
    from cbdeploy.client.packaging.excluded import excluded_paths
    from cbdeploy.client.packaging.stats import package_stats

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="excluded") as pool:
        # (git lists what it ignores while the archive is written)
        excluded = pool.submit(excluded_paths, selection.root)
        result = build_archive(
            selection, request.output, extra_entries=extra, cache_dir=cache, workers=workers,
            early=early,
        )
    _remember(selection, cache)
    if not extra:
        which = "no cbdeploy.toml: the project's files alone, not a deploy's archive"
    elif request.region:
        which = f"the archive a deploy of stage {request.stage} to {request.region} uploads"
    else:  # a deploy's plan names its region
        which = "no region: pass --region (or set AWS_REGION) for a deploy's archive"
    render_stats(make_console(stderr=stderr), package_stats(result), excluded.result(),
                 which=which)


def _remember(selection: Selection, cache: Path | None) -> None:
    """What the next selection may take from this one (``packaging.gitstatus``)."""
    if cache is not None:
        from cbdeploy.client.packaging.gitstatus import remember

        remember(selection, cache)


def _cold_start(request: PackageRequest) -> contextlib.AbstractContextManager[EarlyBatches | None]:
    """Workers for a cold build, fed while the files are selected; none for a re-package,
    which a cache mostly supplies (``packaging.early.cold_start``)."""
    from cbdeploy.client.packaging.early import cold_start

    return cold_start(cache_path(request.root) if request.use_cache else None)


def _warn(selection: Selection) -> None:
    """Nested repositories left out, files that look like secrets: on stderr, if any."""
    if selection.skipped_repos or selection.secrets:
        from cbdeploy.client.output.console import make_console
        from cbdeploy.client.output.package import warn_selection

        warn_selection(make_console(stderr=True), selection)


def _list(selection: Selection, *, nul: bool) -> None:
    """As git prints them: raw bytes ending in NUL with -z, else one quoted path a line."""
    paths = [os.fsencode(f.path) for f in selection.files]
    listing = (
        b"".join(p + b"\0" for p in paths)
        if nul
        else b"".join(quote_path(p) + b"\n" for p in paths)
    )
    sys.stdout.flush()
    sys.stdout.buffer.write(listing)
    sys.stdout.buffer.flush()


def _select(
    request: PackageRequest, *, archive: bool, on_files: OnFiles | None = None
) -> tuple[Selection, dict[str, bytes]]:
    """The selection, and what a deploy adds to it when the project has a config (and an
    ``archive`` is to be written: a listing alone hashes nothing).

    That is the plan, the runner and the file list (``.cbdeploy/files.json``):
    the archive is then byte for byte the one a deploy of the stage to the
    region uploads, and its SHA-256 the one in the uploaded object's key.
    """
    from cbdeploy.client.config.find import check_readable_directory
    from cbdeploy.client.packaging.select import select_files

    check_readable_directory(request.root)  # git would skip it silently: an empty archive
    has_config = request.config_path is not None or (request.root / CONFIG_FILE).is_file()
    if not has_config:
        return select_files(request.root, on_files=on_files,
                            cache_dir=_cache_of(request, request.root)), {}
    from cbdeploy.client.config.load import load_config
    from cbdeploy.client.deploy.workspace_deploy import locate_at, shipping_for

    config = load_config(request.root, request.stage, request.config_path)
    # A workspace's service ships the whole workspace, as its deploy does.
    shipping = shipping_for(locate_at(request.root, request.config_path), config)
    selection = select_files(
        shipping.root,
        include_submodules=config.package.include_submodules,
        follow_external_links=config.package.follow_external_links,
        on_files=on_files,
        cache_dir=_cache_of(request, shipping.root),
    )
    selection = _without(selection, request.output)
    if not archive:  # --list alone: no file is hashed
        return selection, {}
    from cbdeploy.client.deploy.delta import files_entry
    from cbdeploy.client.deploy.runner_plan import archive_entries
    from cbdeploy.client.packaging.tree import scan_tree

    tree = scan_tree(selection, cache_dir(selection.root) if request.use_cache else None)
    return selection, {**archive_entries(config, request.stage, request.region, shipping.folder), **files_entry(tree)}


def _cache_of(request: PackageRequest, root: Path) -> Path | None:
    """The package cache of the project at ``root`` (not created), unless ``--no-cache``."""
    return cache_path(root) if request.use_cache else None


def _without(selection: Selection, output: Path) -> Selection:
    """Never package the previous output (e.g. ``-o site.zip`` inside the project)."""
    try:
        inside = output.resolve().relative_to(selection.root.resolve()).as_posix()
    except ValueError:
        return selection
    if inside not in map(attrgetter("path"), selection.files):  # (the common case, in C)
        return selection
    files = tuple(f for f in selection.files if f.path != inside)
    return replace(selection, files=files)

