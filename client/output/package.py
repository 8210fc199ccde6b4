"""What ``cbdeploy package`` prints: the summary, the ``--stats`` tables, the warnings.

rich's console, text and tables are imported by the functions that draw with them:
the summary on a plain stream (a pipe, a file, a CI log), all that a cold package in
a script prints, is written without them (:func:`write_summary`; rich costs a
short command about 20 ms of its start).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.filesize import decimal

from cbdeploy.client.output.console import make_console, plain_stream
from cbdeploy.client.packaging.model import ArchiveResult, Selection, shown

if TYPE_CHECKING:
    from rich.console import Console

    from cbdeploy.client.packaging.excluded import ExcludedPath
    from cbdeploy.client.packaging.stats import PackageStats


def write_summary(result: ArchiveResult, *, stderr: bool = False) -> None:
    """The summary on stdout (or stderr): as :func:`render_summary` prints it, which a
    plain stream gets straight, when neither line has a character rich would change."""
    stream = plain_stream(stderr=stderr)
    text = "".join(f"{line}\n" for line in ("".join(summary_parts(result)),
                                            f"sha256 {result.sha256}"))
    if stream is None or not _plain(text, stream.encoding):
        render_summary(make_console(stderr=stderr), result)
        return
    stream.write(text)
    stream.flush()


def _plain(text: str, encoding: str | None) -> bool:
    """Whether rich would write ``text`` as it is: printable lines (no tab to expand, no
    control character to drop) that the stream can encode (else rich says more)."""
    try:
        text.encode(encoding or "utf-8")
    except (UnicodeError, LookupError):
        return False
    return all(line.isprintable() for line in text.split("\n"))


def summary_parts(result: ArchiveResult) -> tuple[str, str, str]:
    """The summary's first line: before the path, the path (cyan on a terminal), after."""
    files = "file" if result.file_count == 1 else "files"
    return ("Wrote ", str(result.path),
            f": {result.file_count} {files}, {decimal(result.raw_size)} raw, "
            f"zip {decimal(result.size)}")


def render_summary(console: Console, result: ArchiveResult) -> None:
    from rich.text import Text

    before, path, after = summary_parts(result)
    # Each line whole (the path and the hash, to copy), however narrow the console.
    console.print(Text.assemble(before, (path, "cyan"), after), soft_wrap=True)
    console.print(Text(f"sha256 {result.sha256}"), soft_wrap=True)


def warn_selection(console: Console, selection: Selection) -> None:
    """Nested repositories left out, and selected files that look like secrets."""
    from rich.text import Text

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


def render_stats(
    console: Console, stats: PackageStats, excluded: Sequence[ExcludedPath] = (),
    *, which: str = "",
) -> None:
    from rich.table import Table
    from rich.text import Text

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
    from rich.table import Table
    from rich.text import Text

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
