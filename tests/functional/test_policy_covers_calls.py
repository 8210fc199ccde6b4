"""``cbdeploy policy`` allows every AWS call cbdeploy makes (issue 17, item 1).

Every call the CLI makes in-process (bootstrap, deploy, logs, builds, stop,
destroy; not ``destroy --all``, which deletes the bucket every app shares and
is left out of a stage's policy on purpose) against the emulator is recorded where botocore sends it
(``BaseClient._make_api_call``, wrapped, so the real call still goes out),
turned into the IAM action and resource ARN AWS would authorize, and checked
with the evaluator in tests/iam_policy.py against the policy the command
printed. The emulator's IAM (moto) does not enforce policies, hence the
evaluator. Calls that imply a second action are recorded as both (CreateRole
with tags: iam:TagRole; a project's service roles: iam:PassRole to CodeBuild).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.client
import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.aws.errors import iam_action
from cbdeploy.client.cli.main import main
from cbdeploy.client.deploy import preamble
from tests.iam_policy import allows

REGION = "us-east-1"
Request = tuple[str, str, dict[str, str]]  # (action, resource ARN, condition context)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def requests(self, account: str) -> list[Request]:
        found: list[Request] = []
        for service, operation, params in self.calls:
            found.extend(to_requests(service, operation, params, account))
        return found


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()
    real = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.signing_name
        recorder.calls.append((service, operation_name, dict(api_params)))
        return real(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    # A deploy makes its calls in an AWS agent process (client/aws/remote.py), with the
    # same door: here the door runs in this process, where the calls can be recorded.
    monkeypatch.setattr(preamble, "open_aws_later", open_aws)
    yield recorder


def to_requests(service: str, operation: str, p: dict[str, Any], account: str) -> list[Request]:
    """The (action, resource, context) requests AWS authorizes for one API call."""
    arn = f"arn:aws:{service}:{REGION}:{account}"
    action = iam_action(service, operation)
    if service == "s3":
        bucket = f"arn:aws:s3:::{p['Bucket']}"
        if operation == "DeleteObjects":
            return [(action, f"{bucket}/{o['Key']}", {}) for o in p["Delete"]["Objects"]]
        return [(action, f"{bucket}/{p['Key']}" if "Key" in p else bucket, {})]
    if service == "logs":
        if operation == "DescribeLogGroups":  # authorized on the account's group pattern
            return [(action, f"{arn}:log-group:*", {})]
        if "resourceArn" in p:
            return [(action, p["resourceArn"], {})]
        group = f"{arn}:log-group:{p['logGroupName']}"
        if "logStreamName" in p:
            return [(action, f"{group}:log-stream:{p['logStreamName']}", {})]
        tagging = [("logs:TagResource", group, {})] if p.get("tags") else []
        return [(action, group, {}), *tagging]
    if service == "codebuild":
        projects = p.get("names") or [p.get("projectName") or p.get("name") or ""]
        if "ids" in p or "id" in p:
            projects = [i.split(":", 1)[0] for i in p.get("ids") or [p["id"]]]
        found: list[Request] = [(action, f"{arn}:project/{name}", {}) for name in projects]
        roles = [p.get("serviceRole"), (p.get("buildBatchConfig") or {}).get("serviceRole")]
        passed = {"iam:PassedToService": "codebuild.amazonaws.com"}
        found += [("iam:PassRole", role, passed) for role in roles if role]
        return found
    if service == "iam":
        if operation == "GetPolicy":
            return [(action, p["PolicyArn"], {})]
        role = f"arn:aws:iam::{account}:role/{p['RoleName']}"
        tagging = [("iam:TagRole", role, {})] if p.get("Tags") else []
        return [(action, role, {}), *tagging]
    if service == "ecr":
        if operation == "GetAuthorizationToken":
            return [(action, "*", {})]
        if "resourceArn" in p:
            return [(action, p["resourceArn"], {})]
        names = p.get("repositoryNames") or [p["repositoryName"]]
        tagging = [("ecr:TagResource", f"{arn}:repository/{n}", {}) for n in names if p.get("tags")]
        return [(action, f"{arn}:repository/{n}", {}) for n in names] + tagging
    if service == "secretsmanager":
        secret = p["SecretId"]
        if not secret.startswith("arn:"):
            secret = f"{arn}:secret:{secret}-AbCdEf"  # AWS adds 6 random characters
        return [(action, secret, {})]
    if (service, operation) in {("sts", "GetCallerIdentity"), ("ssm", "DescribeParameters")}:
        return [(action, "*", {})]
    raise AssertionError(f"no resource mapping for {service} {operation}: add one")


@pytest.fixture
def cli(emulator_url: str, aws_env: None, tmp_path: Path) -> Callable[..., Result]:
    env = {"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    def run(project: Path, *args: str) -> Result:
        argv = [*args, "--region", REGION, "--stage", "dev",
                "--config-path", str(project / "cbdeploy.toml")]
        return CliRunner().invoke(main, argv, env=env, catch_exceptions=False)

    return run


def project(tmp_path: Path, extra: str = "") -> Path:
    name = f"p{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    (root / "cbdeploy.toml").write_text(
        f'name = "{name}"\n\n[pipeline]\nbuild = ["cat hello.txt"]\n' + extra
    )
    return root


def printed_policy(cli: Callable[..., Result], root: Path) -> tuple[str, dict[str, Any]]:
    result = cli(root, "policy", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    return report["account"], report["policy"]


def denied(policy: dict[str, Any], requests: list[Request]) -> list[Request]:
    return [r for r in requests if not allows([policy], r[0], r[1], r[2])]


def test_policy_allows_every_call_of_deploy_logs_builds_stop_and_destroy(
    cli: Callable[..., Result], recorder: Recorder, boto_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    boto_client("ssm", REGION).put_parameter(Name=f"/pol/{suffix}", Value="v", Type="SecureString")
    boto_client("secretsmanager", REGION).create_secret(Name=f"pol/{suffix}", SecretString="s")
    root = project(
        tmp_path,
        f'\n[secrets]\nDB = "ssm:/pol/{suffix}"\nTOKEN = "secretsmanager:pol/{suffix}"\n',
    )
    # Incompressible and over one part (8 MiB): the archive goes up as a multipart upload.
    (root / "blob.bin").write_bytes(os.urandom(9 * 1024 * 1024))
    account, policy = printed_policy(cli, root)
    recorder.calls.clear()

    deployed = cli(root, "deploy", "--yes", "--json")
    assert deployed.exit_code == 0, deployed.output
    build_id = json.loads(deployed.stdout)["buildId"]
    # A batch of the stage's project, for logs and stop of a batch id (its start is not
    # the deployer's call under test here: h/wslaunch's deploy makes it).
    batch_id = boto_client("codebuild", REGION).start_build_batch(
        projectName=build_id.split(":")[0],
        buildspecOverride="version: 0.2\nphases:\n  build:\n    commands: [sleep 30]\n"
                          "batch:\n  build-graph:\n    - identifier: api\n",
    )["buildBatch"]["id"]
    recorder.calls = [c for c in recorder.calls if c[1] != "StartBuildBatch"]
    for args in (("logs", build_id), ("builds",), ("stop", build_id), ("logs", batch_id),
                 ("stop", batch_id), ("deploy", "--yes"), ("destroy", "--yes")):
        result = cli(root, *args)
        assert result.exit_code == 0, (args, result.output)

    requests = recorder.requests(account)
    actions = {r[0] for r in requests}
    assert {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} <= {
        operation for _, operation, _ in recorder.calls
    }
    # The recording saw the whole life of a stage, or this test proves little.
    # (Not s3:CreateBucket: the bucket is the account's, made by whichever test came first.)
    for expected in ("s3:ListBucket", "s3:PutObject", "s3:ListBucketMultipartUploads",
                     "iam:CreateRole", "iam:TagRole",
                     "iam:PassRole", "codebuild:CreateProject", "codebuild:StartBuild",
                     "codebuild:BatchGetBuildBatches", "codebuild:StopBuildBatch",
                     "codebuild:ListBuildBatchesForProject",
                     "logs:GetLogEvents", "ssm:DescribeParameters",
                     "secretsmanager:DescribeSecret", "codebuild:DeleteProject",
                     "iam:DeleteRole", "logs:DeleteLogGroup"):
        assert expected in actions, (expected, sorted(actions))
    assert denied(policy, requests) == []
    # ... and the policy is no wildcard: another stage's resources are refused.
    other = [(a, r.replace("_dev", "_prod").replace("/dev/", "/prod/"), c)
             for a, r, c in requests if r != "*" and ("_dev" in r or "/dev/" in r)]
    assert other and denied(policy, other) == other


def test_policy_allows_bootstrap_and_destroy_with_images_and_managed_policies(
    cli: Callable[..., Result], recorder: Recorder, boto_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    iam = boto_client("iam", REGION)
    managed = iam.create_policy(
        PolicyName=f"pol-{uuid.uuid4().hex[:8]}",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}),
    )["Policy"]["Arn"]
    root = project(
        tmp_path,
        f'\n[codebuild]\npolicies = ["{managed}"]\n\n[images.api]\ncontext = "."\n',
    )
    (root / "Dockerfile").write_text("FROM scratch\n")
    account, policy = printed_policy(cli, root)
    recorder.calls.clear()
    for args in (("bootstrap",), ("bootstrap",), ("destroy", "--yes")):
        result = cli(root, *args)
        assert result.exit_code == 0, (args, result.output)
    requests = recorder.requests(account)
    actions = {r[0] for r in requests}
    for expected in ("ecr:CreateRepository", "ecr:TagResource", "ecr:ListTagsForResource",
                     "iam:GetPolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy"):
        assert expected in actions, (expected, sorted(actions))
    assert denied(policy, requests) == []


def test_policy_of_a_workspace_allows_its_batch_and_its_services_deploys(
    cli: Callable[..., Result], recorder: Recorder, boto_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """A workspace's stage is the workspace's: the policy printed at the root or in a
    service's folder is the same, and allows a batch deploy, a service's deploy, builds."""
    from tests.functional.test_workspace_deploy import make_workspace, wait_batch

    root = make_workspace(tmp_path, infra_sleep=0)
    account, policy = printed_policy(cli, root)
    assert printed_policy(cli, root / "services/api") == (account, policy)
    recorder.calls.clear()
    batch = cli(root, "deploy", "--yes", "--detach", "--json")
    assert batch.exit_code == 0, batch.output
    wait_batch(boto_client("codebuild", REGION), json.loads(batch.stdout)["batch"]["batchId"])
    for folder, args in ((root / "services/api", ("deploy", "--yes")), (root, ("builds",))):
        result = cli(folder, *args)
        assert result.exit_code == 0, (args, result.output)
    requests = recorder.requests(account)
    actions = {r[0] for r in requests}
    for expected in ("codebuild:StartBuildBatch", "codebuild:ListBuildBatchesForProject",
                     "codebuild:StartBuild", "iam:PassRole"):
        assert expected in actions, (expected, sorted(actions))
    assert denied(policy, requests) == []


def test_policy_allows_a_workspace_services_deploy_records_and_affected(
    cli: Callable[..., Result], recorder: Recorder, tmp_path: Path,
) -> None:
    """A service of a workspace reads and writes its deploy record under the workspace's
    ``state/<workspace>/<stage>/`` prefix: the service's printed policy allows it, and
    another workspace's records stay out of reach."""
    import subprocess

    workspace = f"w{uuid.uuid4().hex[:10]}"
    root = tmp_path / workspace
    service = root / "services" / "api"
    service.mkdir(parents=True)
    (root / "cbdeploy.toml").write_text(
        f'name = "{workspace}"\n[workspace]\nservices = ["services/*"]\n')
    (service / "cbdeploy.toml").write_text(
        f'name = "{workspace}-api"\n\n[pipeline]\nbuild = ["true"]\n')
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    account, policy = printed_policy(cli, service)
    recorder.calls.clear()
    for args in (("deploy", "--yes"), ("deploy", "--yes", "--affected")):
        result = cli(service, *args)
        assert result.exit_code == 0, (args, result.output)
    requests = recorder.requests(account)
    state = [r for r in requests if f"/state/{workspace}/dev/" in r[1]]
    assert {r[0] for r in state} == {"s3:GetObject", "s3:PutObject"}, state
    assert denied(policy, requests) == []
    elsewhere = [(a, r.replace(f"/state/{workspace}/", "/state/other/"), c) for a, r, c in state]
    assert denied(policy, elsewhere) == elsewhere
