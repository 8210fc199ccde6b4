"""``cbdeploy deploy --local`` as a user runs it: the installed CLI in a project directory.

With ``--local`` the CLI starts the emulator inside its AWS agent (the process that
makes a deploy's AWS calls), so no endpoint, credentials or AWS configuration are
needed (all are removed from the environment here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cbdeploy.client.infra.names import project_name

CBDEPLOY = str(Path(sys.executable).parent / "cbdeploy")

CONFIG = """\
name = "local-e2e"

[pipeline]
build = ["python3 make.py"]
deploy = ["echo published", "echo '{\\"siteUrl\\": \\"http://site.test/\\"}' > outputs.json"]

[outputs]
file = "outputs.json"
"""


def test_local_deploy_of_a_project_runs_its_pipeline_and_keeps_temp_files(tmp_path: Path) -> None:
    project = tmp_path / "site"
    project.mkdir()
    (project / "cbdeploy.toml").write_text(CONFIG)
    (project / "make.py").write_text("print('made', len(open('make.py').read()), 'bytes')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )
    # -X importtime: every module the deploy's own process imports, on stderr.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", CBDEPLOY, "deploy", "--stage", "dev",
         "--region", "us-east-1", "--local", "--yes", "--preserve-temp-files"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "cbdeploy.client.deploy.service" in imported
    # The AWS agent, a process of its own, imports boto3 and runs the emulator (issue 16).
    assert not imported & {"boto3", "botocore.session", "moto", "cbdeploy.emulator"}
    assert out.startswith("cbdeploy: Deploy")
    assert "made 52 bytes" in out.splitlines()
    assert "published" in out.splitlines()
    assert "✓ Deploy succeeded" in out
    assert "siteUrl: http://site.test/" in out
    kept = [p for p in (project / ".cbdeploy").iterdir() if p.is_dir() and p.name != "cache"]
    assert len(kept) == 1
    files = sorted(p.name for p in kept[0].iterdir())
    assert {"archive.zip", "buildspec.yml", "plan.json", "start-build.json"} <= set(files)
    request = json.loads((kept[0] / "start-build.json").read_text())
    assert request["idempotencyToken"] == kept[0].name
    assert request["projectName"] == project_name("local-e2e", "dev")
