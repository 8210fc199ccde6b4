"""Reading .cbdeployignore the way git reads an ignore file, and rebasing its rules."""

from __future__ import annotations

from cbdeploy.client.packaging.ignorefile import parse_rules, rebase_rules


def test_comments_blank_lines_crlf_and_bom_are_dropped() -> None:
    data = b"\xef\xbb\xbf# comment\n\n*.log\r\n \\#not-comment\n\\#hash\n"
    assert parse_rules(data) == ["*.log", " \\#not-comment", "\\#hash"]


def test_trailing_spaces_go_unless_escaped() -> None:
    assert parse_rules(b"a   \nb\\ \nc\\  \nd\t\n") == ["a", "b\\ ", "c\\ ", "d\t"]


def test_rules_are_rebased_onto_the_root_below_the_work_tree_top() -> None:
    rules = ["*.log", "!keep.log", "/dist", "build/", "a/b", "!/x/", "**/deep"]
    assert rebase_rules(rules, "apps/we[b]*/") == [
        "/apps/we\\[b]\\*/**/*.log",
        "!/apps/we\\[b]\\*/**/keep.log",
        "/apps/we\\[b]\\*/dist",
        "/apps/we\\[b]\\*/**/build/",
        "/apps/we\\[b]\\*/a/b",
        "!/apps/we\\[b]\\*/x/",
        "/apps/we\\[b]\\*/**/deep",
    ]
    assert rebase_rules(rules, "") == rules
