"""File selection against real git as the oracle (differential), plus links, repos, secrets.

Random trees (seeded) carry nested .gitignore files drawn from the tricky corners of
gitignore(5); git itself, asked the question the straightforward way, is the oracle.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from cbdeploy.client.errors import PackagingError
from cbdeploy.client.packaging import SelectedFile, select_files
from tests.gitrepo import git

DIR_NAMES = ["a", "b", "build", "node_modules", "dir", "sub", "x[1]", "é", "deep", "dist"]
FILE_NAMES = [
    "a",
    "c.txt",
    "d.log",
    "keep.log",
    "keep.txt",
    "e e",
    "#hash",
    "!bang",
    "-dash",
    "trail ",
    "f.LOG",
    "x.c",
    "x.h",
    "1num",
    "é.txt",
    "ü",
    "deep",
    "build",
    "sp ace.md",
]
PATTERNS = [
    "*.log",
    "!keep.log",
    "build/",
    "/a",
    "a/**/c.txt",
    "**/node_modules",
    "node_modules/",
    "\\#hash",
    "#hash",
    "\\!bang",
    "!bang",
    "trail\\ ",
    "trail ",
    "d.log   ",
    "[abc]",
    "*.[ch]",
    "[[:digit:]]*",
    "x\\[1\\]/",
    "x[1]",
    "!*.txt",
    "dir/",
    "!dir/keep.txt",
    "dir/*",
    "!dir/keep.txt",
    "**/deep",
    "a/**",
    "/*.txt",
    "# a comment",
    "",
    "-dash",
    "é",
    "?",
    "sub/**/c.txt",
    "!sub/",
    "!*/",
    "**/",
    "deep/",
    "!/b",
    "[!a-c].txt",
    "*.LOG",
    "[^x].c",
    "e?e",
    "sp\\ ace.md",
    "dist",
    "!dist/keep.txt",
    "b/**/keep.*",
]


pytestmark = pytest.mark.usefixtures("hermetic_git")


def make_tree(root: Path, rng: random.Random, depth: int = 0) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in rng.sample(FILE_NAMES, rng.randint(2, 7)):
        (root / name).write_text(f"{name}\n")
    if rng.random() < 0.3:
        (root / os.fsdecode(b"bad\xff\xfename")).write_bytes(b"latin")
    if rng.random() < 0.8:
        rules = rng.sample(PATTERNS, rng.randint(1, 6))
        (root / ".gitignore").write_text("\n".join(rules) + "\n")
    if depth < 3:
        for name in rng.sample(DIR_NAMES, rng.randint(0, 3 if depth < 2 else 1)):
            if not (root / name).exists():
                make_tree(root / name, rng, depth + 1)


def selected_paths(root: Path, **kwargs: bool) -> list[bytes]:
    return [os.fsencode(f.path) for f in select_files(root, **kwargs).files]


def oracle(top: Path, sub: str = "") -> list[bytes]:
    """Straight from git: the listing, minus deleted files, limited to ``sub``."""
    out = git(top, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    paths = set()
    for path in out.split(b"\0"):
        full = os.path.join(os.fsencode(top), path)
        if path and not path.endswith(b"/") and os.path.lexists(full) and not os.path.isdir(full):
            paths.add(path)
    prefix = os.fsencode(sub + "/") if sub else b""
    return sorted(p[len(prefix) :] for p in paths if p.startswith(prefix))


@pytest.mark.parametrize("seed", range(36))
def test_git_work_tree_matches_git(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    top = tmp_path / "repo"
    make_tree(top, rng)
    git(top, "init", "-q")
    # The other two sources of rules: .git/info/exclude and core.excludesFile.
    (top / ".git" / "info").mkdir(exist_ok=True)
    (top / ".git" / "info" / "exclude").write_text("\n".join(rng.sample(PATTERNS, 2)) + "\n")
    (tmp_path / "global-ignore").write_text("\n".join(rng.sample(PATTERNS, 2)) + "\n")
    git(top, "config", "core.excludesFile", str(tmp_path / "global-ignore"))
    git(top, "add", "-A")
    every_file = sorted(p for p in top.rglob("*") if p.is_file() and ".git" not in p.parts)
    for forced in rng.sample(every_file, min(3, len(every_file))):
        git(top, "add", "-f", "--", str(forced.relative_to(top)))  # tracked, even if ignored
    tracked = git(top, "ls-files", "-z").split(b"\0")
    if len(tracked) > 3:
        os.unlink(os.path.join(os.fsencode(top), tracked[0]))  # tracked, deleted from disk
    (top / "late untracked.txt").write_text("new\n")

    assert selected_paths(top) == oracle(top)
    subdirs = sorted(p for p in top.iterdir() if p.is_dir() and p.name != ".git")
    for sub in subdirs[:2]:
        name = sub.name
        assert selected_paths(sub) == oracle(top, name), f"root = {name}"


@pytest.mark.parametrize("seed", range(100, 130))
def test_plain_directory_matches_git(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    plain = tmp_path / "plain"
    make_tree(plain, rng)
    if seed % 3 == 0:  # a user-wide excludes file applies outside git too, as in git
        (tmp_path / "global-ignore").write_text("\n".join(rng.sample(PATTERNS, 2)) + "\n")
        git(tmp_path, "config", "--global", "core.excludesFile", str(tmp_path / "global-ignore"))
    twin = tmp_path / "twin"
    shutil.copytree(plain, twin, symlinks=True)
    git(twin, "init", "-q")
    assert selected_paths(plain) == oracle(twin)


@pytest.mark.parametrize("seed", range(200, 215))
def test_cbdeployignore_alone_matches_git_reading_it_as_gitignore(
    tmp_path: Path, seed: int
) -> None:
    """Rules in .cbdeployignore select what the same rules in a root .gitignore select."""
    rng = random.Random(seed)
    rules = "\n".join(rng.sample(PATTERNS, rng.randint(2, 7))) + "\n"
    repo = tmp_path / "repo"
    project = repo / "apps" / "web"  # the rules are rebased onto a subdirectory root
    make_tree(project, rng, depth=1)
    for ignore in list(repo.rglob(".gitignore")):
        ignore.unlink()
    (project / ".cbdeployignore").write_text(rules)
    git(repo, "init", "-q")
    twin = tmp_path / "twin"
    shutil.copytree(project, twin)
    (twin / ".gitignore").write_text(rules)
    git(twin, "init", "-q")
    want = [p for p in oracle(twin) if p not in (b".gitignore", b".cbdeployignore")]
    assert [p for p in selected_paths(project) if p != b".cbdeployignore"] == want
    # Tracked files are dropped by the same rules (git would still list them).
    git(repo, "add", "-A")
    assert [p for p in selected_paths(project) if p != b".cbdeployignore"] == want
    # The same holds outside git.
    shutil.rmtree(repo / ".git")
    assert [p for p in selected_paths(project) if p != b".cbdeployignore"] == want


@pytest.mark.parametrize("seed", range(300, 315))
def test_cbdeployignore_overrides_gitignore_like_rules_appended_to_it(
    tmp_path: Path, seed: int
) -> None:
    """With one .gitignore at the root, .cbdeployignore on top selects what git selects when its
    rules are appended to that .gitignore (the last matching rule wins)."""
    rng = random.Random(seed)
    project = tmp_path / "project"
    make_tree(project, rng, depth=1)
    for ignore in list(project.rglob(".gitignore")):
        ignore.unlink()
    gitignore = "\n".join(rng.sample(PATTERNS, rng.randint(2, 6))) + "\n"
    cbd = "\n".join(rng.sample(PATTERNS, rng.randint(2, 6))) + "\n"
    (project / ".gitignore").write_text(gitignore)
    (project / ".cbdeployignore").write_text(cbd)
    twin = tmp_path / "twin"
    shutil.copytree(project, twin)
    (twin / ".gitignore").write_text(gitignore + cbd)
    git(twin, "init", "-q")
    drop = (b".gitignore", b".cbdeployignore")
    want = [p for p in oracle(twin) if p not in drop]
    assert [p for p in selected_paths(project) if p not in drop] == want
    git(project, "init", "-q")
    assert [p for p in selected_paths(project) if p not in drop] == want


def test_cbdeployignore_brings_back_what_git_ignores_and_drops_more(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("dist/\n*.map\nsecret.txt\n")
    (tmp_path / ".cbdeployignore").write_text(
        "!dist/\ndocs/\n!docs/keep.md\ntests/**\n!secret.txt\n"
    )
    for path in [
        "dist/app.js",
        "dist/app.js.map",
        "docs/a.md",
        "docs/keep.md",
        "tests/t.py",
        "src/main.py",
        "secret.txt",
    ]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "add", "-f", "docs/a.md")  # tracked files are dropped by .cbdeployignore too
    assert selected_paths(tmp_path) == [
        b".cbdeployignore",
        b".gitignore",
        b"dist/app.js",
        b"secret.txt",
        b"src/main.py",
    ]


def test_git_and_cbdeploy_dirs_are_never_shipped(tmp_path: Path) -> None:
    for path in [".cbdeploy/cache/x", ".cbdeploy/package.zip", "app.py", "lib/.cbdeploy"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    assert selected_paths(tmp_path) == [b"app.py", b"lib/.cbdeploy"]


def test_unusual_and_non_utf8_names_come_through_intact(tmp_path: Path) -> None:
    names = [
        b"-leading dash",
        b"#hash",
        b"!bang",
        b"sp ace",
        b"\xc3\xa9t\xc3\xa9",
        b"raw\xff\xfe",
        b"tab\there",
    ]
    for name in names:
        (tmp_path / os.fsdecode(name)).write_bytes(b"x")
    assert selected_paths(tmp_path) == sorted(names)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    assert selected_paths(tmp_path) == sorted(names)


def test_nested_repos_and_submodules_are_skipped_unless_included(tmp_path: Path) -> None:
    lib = tmp_path / "libsrc"
    lib.mkdir()
    (lib / "lib.py").write_text("x")
    git(lib, "init", "-q")
    git(lib, "add", "-A")
    git(lib, "commit", "-qm", "lib")
    top = tmp_path / "top"
    top.mkdir()
    (top / "app.py").write_text("x")
    (top / ".cbdeployignore").write_text("*.tmp\n")
    git(top, "init", "-q")
    git(top, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    nested = top / "tools" / "nested"
    nested.mkdir(parents=True)
    (nested / "n.py").write_text("x")
    (nested / "junk.tmp").write_text("x")
    (nested / ".gitignore").write_text("*.log\n")
    (nested / "n.log").write_text("x")
    git(nested, "init", "-q")

    selection = select_files(top)
    assert selection.skipped_repos == ("tools/nested", "vendor/lib")
    assert [f.path for f in selection.files] == [".cbdeployignore", ".gitmodules", "app.py"]

    included = select_files(top, include_submodules=True)
    assert included.skipped_repos == ()
    assert [f.path for f in included.files] == [
        ".cbdeployignore",
        ".gitmodules",
        "app.py",
        "tools/nested/.gitignore",
        "tools/nested/n.py",
        "vendor/lib/lib.py",
    ]


@pytest.mark.parametrize("seed", range(500, 508))
def test_included_repositories_go_through_cbdeployignore_exactly(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    rules = "\n".join(rng.sample(PATTERNS, rng.randint(2, 6))) + "\n"
    top = tmp_path / "top"
    nested = top / "vendor" / "lib"
    make_tree(nested, rng, depth=1)
    for ignore in list(nested.rglob(".gitignore")):
        ignore.unlink()
    git(nested, "init", "-q")
    (top / ".cbdeployignore").write_text(rules)
    git(top, "init", "-q")
    twin = tmp_path / "twin"
    shutil.copytree(nested, twin / "vendor" / "lib", ignore=shutil.ignore_patterns(".git"))
    (twin / ".gitignore").write_text(rules)
    git(twin, "init", "-q")
    want = [p for p in oracle(twin) if p.startswith(b"vendor/lib/")]
    got = [p for p in selected_paths(top, include_submodules=True) if p.startswith(b"vendor/")]
    assert got == want


def test_links_inside_are_shipped_as_links(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "real.txt").write_text("x")
    os.symlink("data/real.txt", tmp_path / "rel")
    os.symlink(tmp_path / "data" / "real.txt", tmp_path / "abs")  # becomes relative
    os.symlink("data", tmp_path / "dirlink")
    os.symlink("missing-but-inside", tmp_path / "dangling")
    os.symlink("../data/real.txt", tmp_path / "data" / "up")
    files = {f.path: f.link_target for f in select_files(tmp_path).files}
    assert files == {
        "abs": "data/real.txt",
        "dangling": "missing-but-inside",
        "data/real.txt": None,
        "data/up": "../data/real.txt",
        "dirlink": "data",
        "rel": "data/real.txt",
    }


def test_link_outside_is_an_error_naming_the_link_unless_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "tree").mkdir(parents=True)
    (outside / "shared.txt").write_text("shared")
    (outside / "tree" / "t.txt").write_text("t")
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("x")
    os.symlink("../outside/shared.txt", project / "shared.txt")
    os.symlink(outside / "tree", project / "tree")
    with pytest.raises(PackagingError) as info:
        select_files(project)
    assert "shared.txt" in info.value.message and "outside the project" in info.value.message
    assert info.value.hint and "followExternalLinks" in info.value.hint

    followed = select_files(project, follow_external_links=True)
    assert followed.files == (
        SelectedFile("app.py"),
        SelectedFile("shared.txt"),
        SelectedFile("tree/t.txt"),
    )


def test_link_loop_is_an_error(tmp_path: Path) -> None:
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(PackagingError, match="loop"):
        select_files(tmp_path)


def test_secret_looking_files_are_listed(tmp_path: Path) -> None:
    files = {
        ".env": "A=1",
        ".env.production": "A=1",
        ".env.example": "A=",
        "certs/server.pem": "x",
        "tls.key": "x",
        "keys/id_rsa": "x",
        "keys/id_rsa.pub": "x",
        ".npmrc": "//r/:_authToken=abc",
        "web/.npmrc": "registry=https://r/",
        "home/.aws/credentials": "[default]",
        "ops/prod-credentials": "aws_secret_access_key = x",
        "README.md": "hi",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    selection = select_files(tmp_path)
    assert selection.secrets == (
        ".env",
        ".env.production",
        ".npmrc",
        "certs/server.pem",
        "home/.aws/credentials",
        "keys/id_rsa",
        "ops/prod-credentials",
        "tls.key",
    )
    assert len(selection.files) == len(files)  # shipped all the same; the caller warns


def test_a_relative_root_and_a_missing_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.py").write_text("x")
    os.symlink("app.py", tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    selection = select_files(Path("."))
    assert selection.root == tmp_path
    assert selection.files == (SelectedFile("app.py"), SelectedFile("link", "app.py"))
    with pytest.raises(PackagingError, match="does not exist"):
        select_files(tmp_path / "missing")


def test_links_leaving_a_subdirectory_root_are_outside_the_project(tmp_path: Path) -> None:
    """With examples/site as the root, the rest of the repository is outside the project."""
    site = tmp_path / "examples" / "site"
    site.mkdir(parents=True)
    (tmp_path / "shared.css").write_text("body {}")
    (site / "index.html").write_text("<html>")
    os.symlink("../../shared.css", site / "style.css")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    with pytest.raises(PackagingError, match="style.css points outside the project"):
        select_files(site)
    assert [f.path for f in select_files(site, follow_external_links=True).files] == [
        "index.html",
        "style.css",
    ]
