"""Loading the deploy's modules loads no AWS SDK (issue 16, target 4): boto3 is imported
on the preamble's thread while the files are selected (``deploy.preamble``), not on the
main thread before the deploy starts. A behaviour test in a fresh interpreter, no timing."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import cbdeploy.client.deploy.service
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "s3transfer")
                        or m in ("botocore.client", "botocore.session"))))
"""


def test_the_deploy_modules_load_without_boto3() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == []


LIVE_PROBE = """
import json, sys
from click.testing import CliRunner
import cbdeploy.client.deploy.service, cbdeploy.client.output.terminal
import cbdeploy.client.cli.commands.deploy
print(json.dumps(sorted(m for m in sys.modules if m in ("rich.progress", "rich.live"))))
"""


def test_progress_bars_load_only_on_a_live_terminal() -> None:
    """rich.progress (bars and spinners) is loaded by the live display when a terminal
    shows one (``output.bars``): not by a deploy in CI or with --json, nor at start."""
    done = subprocess.run([sys.executable, "-c", LIVE_PROBE], capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == []
