"""The summary ``cbdeploy package`` prints: straight to a plain stream, as rich prints it.

Issue 16: a package run in a script (a pipe, a file, a CI log) writes its two
summary lines without loading rich; they must be the bytes rich would write,
and anything rich would change (a tab, a control character, a terminal, colour
asked for) still goes through rich.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cbdeploy.client.output.console import make_console, plain_stream
from cbdeploy.client.output.package import render_summary, write_summary
from cbdeploy.client.packaging.model import ArchiveResult
from tests.unit.test_render_modes import FakeTerminal

SHA = "0123456789abcdef" * 4


def result(path: str, files: int = 3) -> ArchiveResult:
    return ArchiveResult(Path(path), SHA, 17_900_000, files, 39_900_000)


def by_rich(summary: ArchiveResult, width: int | None = None) -> str:
    out = io.StringIO()
    render_summary(make_console(file=out, environ={}, width=width), summary)
    return out.getvalue()


@pytest.mark.parametrize("path", [
    "dist/site.zip",
    "/a/very/long/path/" + "folder/" * 30 + "site.zip",  # longer than any console
    "dossier été/日本語/site.zip",
    "tab\there.zip",  # rich expands the tab: rich writes it
    "bell\x07.zip",  # rich drops the control character: rich writes it
    "form\x0cfeed\x1c.zip",  # (line breaks to Python's splitlines, not to rich)
])
@pytest.mark.parametrize("files", [1, 27_674])
def test_a_plain_stream_gets_the_lines_rich_would_write(
    path: str, files: int, capsys: pytest.CaptureFixture[str]
) -> None:
    write_summary(result(path, files))
    assert capsys.readouterr().out == by_rich(result(path, files))


def test_the_summary_goes_to_stderr_beside_a_listing(capsys: pytest.CaptureFixture[str]) -> None:
    write_summary(result("out.zip"), stderr=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == by_rich(result("out.zip"))


def test_each_line_stays_whole_on_a_narrow_console() -> None:
    """The path and the hash are for copying: neither line is wrapped, whatever the width."""
    text = by_rich(result("dist/site.zip"), width=30)
    assert text.splitlines() == [
        "Wrote dist/site.zip: 3 files, 39.9 MB raw, zip 17.9 MB", f"sha256 {SHA}"]


@pytest.mark.parametrize("environ", [{"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"},
                                     {"TTY_INTERACTIVE": "1"}, {"JUPYTER_COLUMNS": "80"}])
def test_what_makes_rich_see_a_terminal_is_left_to_rich(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert plain_stream() is None


def test_a_terminal_gets_its_colours_from_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr("sys.stdout", terminal)
    assert plain_stream() is None
    write_summary(result("dist/site.zip"))
    assert "\x1b[36mdist/site.zip\x1b[0m" in terminal.getvalue()


def test_a_stream_that_cannot_encode_the_path_is_left_to_rich(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rich adds its own advice to the encoding error: the same error as before, word for word."""
    raw = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(raw, encoding="ascii"))
    with pytest.raises(UnicodeEncodeError, match="PYTHONIOENCODING"):
        write_summary(result("été.zip"))
