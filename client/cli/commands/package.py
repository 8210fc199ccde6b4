"""``cbdeploy package``: build the archive a deploy would upload, without uploading it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import click
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import (
    complete_region,
    complete_stage,
    log_level_option,
    not_empty_callback,
    region_if_any,
    validate_stage,
)
from cbdeploy.client.config import defaults as defaults_store
from cbdeploy.client.config.load import CONFIG_FILE, find_config
from cbdeploy.client.config.statedir import NAME, cache_dir, state_dir
from cbdeploy.client.output.console import make_console
from cbdeploy.client.packaging import ArchiveResult, Selection, build_archive, select_files, shown
from cbdeploy.client.packaging.destination import check_output_path
from cbdeploy.client.packaging.early import EarlyBatches
from cbdeploy.client.packaging.excluded import ExcludedPath, excluded_paths
from cbdeploy.client.packaging.quote import quote_path
from cbdeploy.client.packaging.select import OnFiles
from cbdeploy.client.packaging.stats import PackageStats, package_stats
from cbdeploy.client.packaging.workers import Workers, has_cache, start_workers
from cbdeploy.client.target import project_directory

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
    config_file = Path(config_path) if config_path else find_config(Path())
    root = project_directory(config_file)
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
    console = make_console(stderr=list_only)
    # A cold build starts its worker processes now, to be ready once the files are known.
    with _early_workers(request) if writes else contextlib.nullcontext() as workers:
        # ... and hands them the first files while the rest are selected.
        early = EarlyBatches(workers) if workers is not None else None
        selection, extra = _select(
            request, archive=writes, on_files=early.feed if early is not None else None
        )
        selection = _without(selection, request.output)
        _warn(make_console(stderr=True), selection)
        if list_only:
            _list(selection, nul=nul)
            if not writes:
                return
        _write(console, request, selection, extra, stats=stats, workers=workers, early=early)


def _write(
    console: Console, request: PackageRequest, selection: Selection, extra: dict[str, bytes],
    *, stats: bool, workers: Workers | None = None, early: EarlyBatches | None = None,
) -> None:
    """Write the archive; then its summary line, or with ``stats`` its sizes and what stayed out."""
    if request.output.parent == request.root / NAME:
        state_dir(request.root)  # with its .gitignore, so git never sees the archive
    cache = cache_dir(selection.root) if request.use_cache else None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="excluded") as pool:
        # (git lists what it ignores while the archive is written)
        excluded = pool.submit(excluded_paths, selection.root) if stats else None
        result = build_archive(
            selection, request.output, extra_entries=extra, cache_dir=cache, workers=workers,
            early=early,
        )
    if excluded is not None:
        if not extra:
            which = "no cbdeploy.toml: the project's files alone, not a deploy's archive"
        elif request.region:
            which = f"the archive a deploy of stage {request.stage} to {request.region} uploads"
        else:  # a deploy's plan names its region
            which = "no region: pass --region (or set AWS_REGION) for a deploy's archive"
        render_stats(console, package_stats(result), excluded.result(), which=which)
    else:
        render_summary(console, result)


def _early_workers(request: PackageRequest) -> contextlib.AbstractContextManager[Workers | None]:
    """Worker processes for a cold build (no cache to copy from), started before the
    files are selected; nothing for a re-package, which a cache mostly supplies."""
    if request.use_cache and has_cache(request.root / NAME / "cache"):
        return contextlib.nullcontext()
    return start_workers() or contextlib.nullcontext()


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
    from cbdeploy.client.config.load import check_readable_directory, load_config
    from cbdeploy.client.deploy.delta import files_entry
    from cbdeploy.client.deploy.runner_plan import archive_entries
    from cbdeploy.client.packaging.tree import scan_tree

    check_readable_directory(request.root)  # git would skip it silently: an empty archive
    has_config = request.config_path is not None or (request.root / CONFIG_FILE).is_file()
    if not has_config:
        return select_files(request.root, on_files=on_files), {}
    config = load_config(request.root, request.stage, request.config_path)
    from cbdeploy.client.deploy.workspace_deploy import locate_at, shipping_for
    # A workspace's service ships the whole workspace, as its deploy does.
    shipping = shipping_for(locate_at(request.root, request.config_path), config)
    selection = select_files(
        shipping.root,
        include_submodules=config.package.include_submodules,
        follow_external_links=config.package.follow_external_links,
        on_files=on_files,
    )
    selection = _without(selection, request.output)
    if not archive:  # --list alone: no file is hashed
        return selection, {}
    tree = scan_tree(selection, cache_dir(selection.root) if request.use_cache else None)
    return selection, {**archive_entries(config, request.stage, request.region, shipping.folder), **files_entry(tree)}


def _without(selection: Selection, output: Path) -> Selection:
    """Never package the previous output (e.g. ``-o site.zip`` inside the project)."""
    try:
        inside = output.resolve().relative_to(selection.root.resolve()).as_posix()
    except ValueError:
        return selection
    files = tuple(f for f in selection.files if f.path != inside)
    return selection if len(files) == len(selection.files) else replace(selection, files=files)


def _warn(console: Console, selection: Selection) -> None:
    for repo in selection.skipped_repos:
        console.print(
            Text(
                f"Warning: skipped nested repository {shown(repo)}/ "
                "(set package.includeSubmodules = true to ship it)",
                style="yellow",
            )
        )
    if selection.secrets:
        count = len(selection.secrets)
        what = "file looks like a secret" if count == 1 else "files look like secrets"
        console.print(
            Text(
                f"Warning: {count} {what} and would be uploaded: "
                + ", ".join(shown(p) for p in selection.secrets),
                style="yellow",
            )
        )
        console.print(
            Text(
                "Keep them out with .cbdeployignore; use [secrets] for values the build needs.",
                style="dim",
            )
        )


def render_summary(console: Console, result: ArchiveResult) -> None:
    files = "file" if result.file_count == 1 else "files"
    console.print(
        Text.assemble(
            "Wrote ",
            (str(result.path), "cyan"),
            f": {result.file_count} {files}, {decimal(result.raw_size)} raw, "
            f"zip {decimal(result.size)}",
        ),
        soft_wrap=True,  # one line: the path stays whole, to copy
    )
    console.print(Text(f"sha256 {result.sha256}"))


def render_stats(
    console: Console, stats: PackageStats, excluded: Sequence[ExcludedPath] = (),
    *, which: str = "",
) -> None:
    overview = Table.grid(padding=(0, 2))
    overview.add_row("Archive", Text(str(stats.path)))
    overview.add_row("Files", str(stats.file_count))
    overview.add_row("Raw size", decimal(stats.raw_size))
    # The zip also holds cbdeploy's runner and plan: a tiny project's zip
    # is larger than its files, which would look wrong unexplained.
    overview.add_row(
        "Zip size", Text.assemble(decimal(stats.size), (" (with cbdeploy's runner)", "dim"))
    )
    overview.add_row("SHA-256", stats.sha256)
    if which:  # which archive the hash is of
        overview.add_row("", Text(which, style="dim"))
    console.print(overview)
    for title, rows, counted in (
        ("Largest directories", stats.directories, True),
        ("Largest files", stats.files, False),
    ):
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column("Path", overflow="fold")
        if counted:
            table.add_column("Files", justify="right")
        table.add_column("Raw", justify="right")
        table.add_column("Compressed", justify="right")
        for row in rows:
            cells = [Text(shown(row.path))]
            if counted:
                cells.append(Text(str(row.files)))
            cells += [Text(decimal(row.raw)), Text(decimal(row.compressed))]
            table.add_row(*cells)
        console.print()
        console.print(table)
    if excluded:
        render_excluded(console, excluded)


def render_excluded(console: Console, excluded: Sequence[ExcludedPath]) -> None:
    """The largest paths left out, and the rule (file:line:pattern) that leaves each out."""
    table = Table(title="Largest excluded", title_justify="left", show_edge=False)
    table.add_column("Path", overflow="fold")
    table.add_column("Files", justify="right")
    table.add_column("Raw", justify="right")
    table.add_column("Excluded by", overflow="fold")
    for row in excluded:
        table.add_row(Text(shown(row.path)), Text(str(row.files)), Text(decimal(row.size)),
                      Text(row.rule or "?"))
    console.print()
    console.print(table)
