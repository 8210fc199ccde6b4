"""The installed distribution: one ``cbdeploy`` name in site-packages, and it deploys.

A wheel is built from this checkout, installed without dependencies into a new
virtual environment whose only other path is this environment's site-packages
(read as a plain path, so this checkout's editable install is not in effect
there), and that install's ``cbdeploy deploy --local`` deploys the demo example.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("client", "runner", "emulator", "buildspec")


def _venv_site_packages(venv: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv / "lib" / version / "site-packages"


def test_no_module_imports_the_folders_by_their_bare_names() -> None:
    """Every import says ``cbdeploy.``: a bare ``client`` would be another package's."""
    offenders = []
    for folder in (*FOLDERS, "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                offenders += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                    for name in names
                    if name.split(".")[0] in FOLDERS
                ]
    assert offenders == []


@pytest.mark.timeout(300)
def test_wheel_installs_only_cbdeploy_and_deploys_locally(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = wheels.glob("cbdeploy-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = _venv_site_packages(venv)
    before = set(os.listdir(site))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True,
    )
    added = set(os.listdir(site)) - before
    assert {name for name in added if not name.endswith(".dist-info")} == {"cbdeploy"}
    assert sorted(os.listdir(site / "cbdeploy")) == sorted(FOLDERS)

    # The dependencies come from this environment, as a plain path: its .pth files
    # (the editable install among them) are not processed from there.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "static-site", project)
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CBDEPLOY_", "PYTHON"))
    }
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import cbdeploy.client, cbdeploy.emulator; print(cbdeploy.client.__file__)"],
        cwd=project, env=env, capture_output=True, text=True, check=True,
    )
    assert Path(located.stdout.strip()).is_relative_to(site)

    deploy = subprocess.run(
        [str(venv / "bin" / "cbdeploy"), "deploy", "--stage", "dev", "--region", "us-east-1",
         "--local", "--yes", "--log-level", "debug"],
        cwd=project, env=env, capture_output=True, text=True, timeout=240,
    )
    assert deploy.returncode == 0, deploy.stderr[-3000:]
    assert "✓ Deploy succeeded" in deploy.stdout
    # Its AWS agent (client/aws/remote.py) found this install: the door did not fall back.
    assert "cbdeploy.aws: sts GetCallerIdentity" in deploy.stderr
    assert "opens in this process" not in deploy.stderr
    assert "siteUrl: http://127.0.0.1:" in deploy.stdout  # the demo's output, from the build
