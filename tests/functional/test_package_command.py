"""``cbdeploy package`` through click's CliRunner: --list, --output, --stats, config, errors."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cbdeploy.client.cli.main import main


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    for path, data in {
        "src/app.py": b"print('hi')\n" * 100,
        "src/big.txt": b"x" * 50_000,
        "README.md": b"# hello\n",
        "node_modules/dep/index.js": b"ignored\n",
        ".gitignore": b"node_modules/\n*.log\n",
        "debug.log": b"ignored\n",
        ".env": b"TOKEN=1\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    return root


def run(*args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, ["package", *args])
    return result.exit_code, result.stdout_bytes, result.stderr


def test_list_prints_only_the_paths_sorted_by_bytes(project: Path) -> None:
    code, out, err = run("--list")
    assert code == 0
    assert out == b'.env\n.gitignore\nREADME.md\n"caf\\351.txt"\nsrc/app.py\nsrc/big.txt\n'
    assert "1 file looks like a secret" in err and ".env" in err
    assert not (project / ".cbdeploy").exists()  # --list alone writes no archive


def test_list_leaves_out_what_cbdeploy_adds(project: Path) -> None:
    (project / "cbdeploy.toml").write_text('[pipeline]\ndeploy = ["echo deploy"]\n')
    code, out, _ = run("--list", "--output", "out.zip")
    assert code == 0 and b".cbdeploy" not in out and b"cbdeploy.toml\n" in out
    with zipfile.ZipFile(project / "out.zip") as archive:
        names = archive.namelist()
    assert ".cbdeploy/plan.json" in names and ".cbdeploy/manifest.json" in names
    assert any(n.startswith(".cbdeploy/runner/") and n.endswith(".py") for n in names)


def test_output_writes_the_zip_and_reports_it(project: Path) -> None:
    code, out, _ = run("--output", "dist/site.zip")
    assert code == 0
    text = out.decode()
    wrote = next(line for line in text.splitlines() if line.startswith("Wrote "))
    assert "site.zip: 6 files" in wrote and "raw, zip " in wrote  # one line, never wrapped
    assert "sha256 " in text
    with zipfile.ZipFile(project / "dist" / "site.zip") as archive:
        assert archive.read("src/app.py") == (project / "src" / "app.py").read_bytes()
    # A second run gives the same archive (from the cache), and the default place works.
    first = (project / "dist" / "site.zip").read_bytes()
    assert run("--output", "dist/site.zip")[0] == 0
    assert (project / "dist" / "site.zip").read_bytes() == first  # it does not pack itself
    (project / "dist" / "site.zip").unlink()
    assert run()[0] == 0
    assert (project / ".cbdeploy" / "package.zip").read_bytes() == first
    assert (project / ".cbdeploy" / "cache" / "index.bin").is_file()


@pytest.mark.parametrize("flag", ["--no-package-cache", "--no-cache"])
def test_no_cache_leaves_no_cache(project: Path, flag: str) -> None:
    assert run(flag)[0] == 0
    assert (project / ".cbdeploy" / "package.zip").is_file()
    assert not (project / ".cbdeploy" / "cache").exists()


def test_stats_show_sizes_and_the_largest_entries(project: Path) -> None:
    code, out, _ = run("--stats")
    assert code == 0
    text = out.decode()
    for expected in (
        "Files",
        "6",
        "SHA-256",
        "Zip size",
        "Largest directories",
        "src/",
        "Largest files",
        "src/big.txt",
    ):
        assert expected in text
    assert text.index("src/big.txt") < text.index("src/app.py")  # largest first


def test_stats_show_what_was_excluded_and_the_rule_that_excluded_it(project: Path) -> None:
    """The largest paths left out, with their size and source:line:pattern (issue 17, item 4)."""
    (project / "node_modules" / "dep" / "big.js").write_bytes(b"y" * 30_000)
    (project / "src" / "secret.pem").write_bytes(b"k" * 2_000)
    (project / ".cbdeployignore").write_text("# keys stay home\n*.pem\n")
    code, out, _ = run("--stats")
    assert code == 0
    text = out.decode()
    assert "Largest excluded" in text
    cells = [[c for c in line.split() if c != "│"]
             for line in text.split("Largest excluded")[1].splitlines()]
    rows = {row[0]: row for row in cells if row}
    assert rows["node_modules/"][1:] == ["2", "30.0", "kB", ".gitignore:1:node_modules/"]
    assert rows["debug.log"][-1] == ".gitignore:2:*.log"
    assert rows["src/secret.pem"][-1] == ".cbdeployignore:2:*.pem"
    assert text.index("node_modules/") < text.index("src/secret.pem") < text.index("debug.log")
    assert "no cbdeploy.toml: the project's files alone" in text  # which archive the hash is of


def test_a_link_out_of_the_project_is_an_error_unless_the_config_allows_it(
    project: Path, tmp_path: Path
) -> None:
    (tmp_path / "shared.txt").write_text("shared\n")
    os.symlink(tmp_path / "shared.txt", project / "shared.txt")
    code, out, err = run("--list")
    assert code == 2 and out == b""
    assert "shared.txt points outside the project" in err and "followExternalLinks" in err
    (project / "cbdeploy.toml").write_text("[package]\nfollowExternalLinks = true\n")
    code, out, _ = run("--list")
    assert code == 0 and b"shared.txt\n" in out


def test_a_bad_config_is_reported_not_ignored(project: Path) -> None:
    (project / "cbdeploy.toml").write_text("[package]\nfollowLinks = true\n")
    code, _, err = run("--list")
    assert code == 2 and "followLinks" in err


def test_bad_stage_is_a_usage_error(project: Path) -> None:
    code, _, err = run("--stage", "Not_A_Stage")
    assert code == 2 and "Invalid stage name" in err


def test_what_cbdeploy_writes_leaves_the_work_tree_clean(project: Path) -> None:
    """The archive and cache under .cbdeploy/ must not make the next deploy 'dirty'."""
    from cbdeploy.client.packaging.gitcmd import git_info

    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "x"], cwd=project, check=True, env=env)
    assert run()[0] == 0
    assert (project / ".cbdeploy" / "package.zip").is_file()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, check=True, capture_output=True
    ).stdout
    assert status == b""
    info = git_info(project)
    assert info is not None and info.dirty is False


def _make_special(kind: str, path: Path) -> Callable[[], object]:
    """Create ``kind`` at ``path``; returns what must read the same afterwards."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind == "directory":
        path.mkdir()
        (path / "inside.txt").write_text("mine\n")
        return lambda: sorted(p.name for p in path.iterdir())
    elif kind == "device":
        try:  # the same device as /dev/null, in tmp_path: the real one is never at risk
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("creating a device node needs CAP_MKNOD")
    elif kind == "link to a file":
        (path.parent / "precious.txt").write_text("precious\n")
        os.symlink("precious.txt", path)
        return lambda: (os.readlink(path), (path.parent / "precious.txt").read_text())
    elif kind == "dangling link":
        os.symlink("nowhere.zip", path)
        return lambda: os.readlink(path)
    return lambda: stat.S_IFMT(os.lstat(path).st_mode)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("fifo", "a FIFO"),
        ("socket", "a socket"),
        ("device", "a character device"),
        ("directory", "is a directory"),
        ("link to a file", "a symbolic link"),
        ("dangling link", "a symbolic link"),
    ],
)
def test_output_that_is_not_a_regular_file_is_refused(
    project: Path, tmp_path: Path, kind: str, said: str
) -> None:
    """`package -o /dev/full` replaced the device with a zip (as root): anything at the
    output path but a regular file is refused, exit 2, and nothing is written."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "site.zip"
    state = _make_special(kind, target)
    before_state, before_names = state(), sorted(p.name for p in out_dir.iterdir())
    for extra in ([], ["--stats"], ["--list"]):
        code, out, err = run("--output", str(target), *extra)
        assert code == 2, err
        assert said in err and "site.zip" in err
        assert "Traceback" not in err and out == b""
        assert state() == before_state
        assert sorted(p.name for p in out_dir.iterdir()) == before_names
        assert not (project / ".cbdeploy").exists()


UNUSUAL_NAMES = [
    b"new\nline.txt",
    b"tab\there.txt",
    b'quote"d.txt',
    b"back\\slash.txt",
    b"caf\xe9.txt",
    "\u00e9t\u00e9.txt".encode(),
    b"del\x7f.txt",
    b"bell\x07.txt",
    b"ctrl\x01.txt",
    b"plain name with spaces.txt",
    b'"starts with a quote',
    b"dir\nname/inner.txt",
]


def _git_ls_files(project: Path, *extra: str) -> bytes:
    command = ["git", "-c", "core.quotePath=true", "ls-files", "--cached", "--others"]
    listed = subprocess.run(
        [*command, "--exclude-standard", *extra], cwd=project, check=True, capture_output=True
    )
    return listed.stdout


def test_list_quotes_unusual_names_exactly_as_git_ls_files(project: Path) -> None:
    """A newline in a name made the listing ambiguous: it is quoted as git quotes it,
    checked against the real ``git ls-files`` on the same tree."""
    for name in UNUSUAL_NAMES:
        path = project / os.fsdecode(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x\n")
    code, out, err = run("--list")
    assert code == 0, err
    assert out == _git_ls_files(project)
    assert b'"new\\nline.txt"\n' in out and b'"dir\\nname/inner.txt"\n' in out
    assert b"plain name with spaces.txt\n" in out


def test_list_z_separates_raw_names_with_nul_like_git(project: Path) -> None:
    for name in UNUSUAL_NAMES:
        path = project / os.fsdecode(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x\n")
    code, out, err = run("--list", "-z")
    assert code == 0, err
    assert out == _git_ls_files(project, "-z")
    assert b"\0new\nline.txt\0" in out and b"\0caf\xe9.txt\0" in out


def test_z_without_list_is_a_usage_error(project: Path) -> None:
    code, out, err = run("-z")
    assert code == 2 and "-z goes with --list" in err and out == b""
    assert not (project / ".cbdeploy").exists()


def test_in_a_workspace_service_it_packages_the_workspace_as_deploy_ships_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    root = tmp_path / "ws"
    for path, text in {
        "cbdeploy.toml": 'name = "shop"\n[workspace]\nservices = ["services/*"]\n',
        "libs/shared/lib.py": "X = 1\n",
        "services/api/cbdeploy.toml": 'name = "api"\n[pipeline]\nbuild = ["make"]\n',
        "services/api/app.py": "print(1)\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    monkeypatch.chdir(root / "services/api")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    code, out, err = run("--list", "--output", str(tmp_path / "api.zip"))
    assert code == 0, err
    assert out.decode().split() == ["cbdeploy.toml", "libs/shared/lib.py",
                                    "services/api/app.py", "services/api/cbdeploy.toml"]
    with zipfile.ZipFile(tmp_path / "api.zip") as archive:
        plan = json.loads(archive.read(".cbdeploy/plan.json"))
    assert plan["folder"] == "services/api" and plan["project"] == "api"


def test_the_collector_never_walks_the_selection_during_the_command(project: Path) -> None:
    """The collector stays paused from selection to the summary: the first collection
    after select_files would otherwise walk every object the selection made (15-25 ms
    on babel/babel). None may run inside the command, and it is enabled again after."""
    import gc
    import sys
    from types import FrameType

    from cbdeploy.client.cli.commands import package as command

    for i in range(1500):  # enough objects to trigger the young generation's collections
        (project / "many" / f"f{i:04}.txt").parent.mkdir(exist_ok=True)
        (project / "many" / f"f{i:04}.txt").write_bytes(b"%d\n" % i)
    inside: list[int] = []

    def in_command(frame: FrameType | None) -> bool:
        while frame is not None:
            if frame.f_code is command._package.__code__:
                return True
            frame = frame.f_back
        return False

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and in_command(sys._getframe(1)):
            inside.append(info["generation"])

    was_enabled = gc.isenabled()
    gc.enable()
    gc.callbacks.append(watch)
    try:
        code = run("--output", "out.zip")[0]
        enabled_after = gc.isenabled()
    finally:
        gc.callbacks.remove(watch)
        if not was_enabled:
            gc.disable()
    assert code == 0 and enabled_after
    assert inside == []
