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


SINGLE_PROBE = """
import json, sys
import cbdeploy.client.cli.commands.deploy, cbdeploy.client.deploy.service
import cbdeploy.client.output.terminal, cbdeploy.client.output.report
import cbdeploy.client.output.github, cbdeploy.client.aws.remote
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tenacity", "botocore")
                        or m in (
    "cbdeploy.client.deploy.batch_deploy", "cbdeploy.client.deploy.batch_plan",
    "cbdeploy.client.watch.batch"))))
"""


def test_a_single_deploy_loads_neither_the_batch_deploy_nor_tenacity_nor_botocore() -> None:
    """Every CPU second before StartBuild shares two cores with the packaging (issue 16,
    target 4): a workspace's batch deploy (its plan, its follower) loads when a batch is
    deployed, tenacity when a retry it drives is needed (a multipart upload's part, a
    call waiting for a new role), botocore only in the AWS agent (the follower tells a
    passing error of botocore's from others without loading it: aws.errors.is_transient)."""
    done = subprocess.run([sys.executable, "-c", SINGLE_PROBE], capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []
