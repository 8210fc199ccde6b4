"""bootstrap and destroy against the emulator over loopback, as functions and as commands.

Each test uses its own region (the shared bucket is per account and region)
and app name, since the session's emulator state is shared by every test.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner, Result

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.cli.main import main
from cbdeploy.client.errors import AwsError
from cbdeploy.client.infra import bootstrap as b
from cbdeploy.client.infra.calls import Call
from cbdeploy.client.infra.model import PUBLIC_ACCESS_BLOCK, Infrastructure, StageSettings
from cbdeploy.client.infra.names import project_name, role_name, stage_names

ACCOUNT = "123456789012"
ZERO_X_SHA256 = "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE="  # base64 SHA-256 of b"x"
WRITE_PREFIXES = ("Create", "Put", "Update", "Attach", "Detach", "Delete")


@pytest.fixture
def endpoint(
    emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no stored defaults
    return emulator_url


class CallLog:
    """Every API call an AwsClient makes, seen through botocore's ``before-call`` event."""

    def __init__(self, aws: AwsClient) -> None:
        self.names: list[str] = []
        self.s3_owners: list[tuple[str, str | None]] = []  # (operation, ExpectedBucketOwner)
        for service in ("s3", "iam", "logs", "codebuild", "sts"):
            aws.client(service).meta.events.register("before-call", self.record)
        aws.client("s3").meta.events.register("provide-client-params.s3", self.record_s3)

    def record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def record_s3(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.s3_owners.append((model.name, params.get("ExpectedBucketOwner")))

    @property
    def writes(self) -> list[str]:
        return [n for n in self.names if n.startswith(WRITE_PREFIXES)]


def make_aws(region: str) -> AwsClient:
    return AwsClient(boto3.session.Session(region_name=region), region)


def create_policy(boto_client: Callable[..., Any], name: str) -> str:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
    }
    return str(
        boto_client("iam").create_policy(PolicyName=name, PolicyDocument=json.dumps(document))[
            "Policy"
        ]["Arn"]
    )


def write_config(tmp_path: Path, name: str, extra: str = "") -> Path:
    path = tmp_path / "cbdeploy.toml"
    path.write_text(f'name = "{name}"\n\n[pipeline]\ndeploy = ["echo deploy"]\n\n{extra}')
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_bootstrap_creates_everything_then_writes_nothing(
    endpoint: str, boto_client: Callable[..., Any]
) -> None:
    region = "us-east-2"
    policy = create_policy(boto_client, "alpha-deploy")
    settings = StageSettings(
        name="alpha",
        stage="dev",
        policies=(policy,),
        compute_type="BUILD_GENERAL1_MEDIUM",
        privileged_mode=True,
        timeout_in_minutes=25,
        secrets=("ssm:/alpha/db",),
    )
    names = stage_names("alpha", "dev", account=ACCOUNT, region=region)
    aws = make_aws(region)
    first = CallLog(aws)
    events: list[Call] = []
    infra = b.bootstrap(aws, settings, on_event=events.append)
    bucket = f"cbdeploy-{ACCOUNT}-{region}"
    # Every S3 call names the owner, so a bucket of this name elsewhere is refused;
    # CreateBucket takes no owner (a name taken elsewhere fails it anyway).
    assert len(first.s3_owners) >= 5
    assert [op for op, owner in first.s3_owners if owner != ACCOUNT] == ["CreateBucket"]
    assert infra == Infrastructure(
        bucket=bucket,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/{names.role}",
        log_group=names.log_group,
        project=names.project,
        changes=tuple(e.what for e in events),
        sources_prefix="sources/alpha/dev/",
    )

    s3 = boto_client("s3", region=region)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == dict(
        PUBLIC_ACCESS_BLOCK
    )
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # The endpoint is plain http: a TLS-only policy would refuse cbdeploy itself (the
    # policy's content is checked in tests/unit/test_aws_bootstrap_plan.py).
    assert aws.get_bucket_policy(bucket) is None
    aws.put_object(bucket, "sources/alpha/dev/probe.zip", b"x", ZERO_X_SHA256)
    lifecycle = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert lifecycle["cbdeploy-expire-sources"]["Expiration"] == {"Days": 30}
    assert lifecycle["cbdeploy-expire-sources"]["Filter"] == {"Prefix": "sources/"}
    assert lifecycle["cbdeploy-abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }

    iam = boto_client("iam")
    role = iam.get_role(RoleName=names.role)["Role"]
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == names.tags
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [policy]
    base = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="cbdeploy-base")[
        "PolicyDocument"
    ]
    assert any(s["Sid"] == "Parameters" for s in base["Statement"])

    group = boto_client("logs", region=region).describe_log_groups(
        logGroupNamePrefix="/cbdeploy/alpha"
    )["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in group] == [("/cbdeploy/alpha/dev", 30)]
    assert aws.log_group_tags(group[0]) == names.tags

    project = boto_client("codebuild", region=region).batch_get_projects(
        names=[names.project]
    )["projects"][0]
    assert {t["key"]: t["value"] for t in project["tags"]} == names.tags
    assert project["concurrentBuildLimit"] == 1
    assert project["source"]["type"] == "NO_SOURCE" and project["artifacts"] == {
        "type": "NO_ARTIFACTS"
    }
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    assert project["environment"]["privilegedMode"] is True
    assert project["timeoutInMinutes"] == 25
    assert project["serviceRole"] == infra.role_arn
    assert project["logsConfig"]["cloudWatchLogs"] == {
        "status": "ENABLED",
        "groupName": "/cbdeploy/alpha/dev",
        "streamName": "dev",
    }

    again = make_aws(region)
    calls = CallLog(again)
    assert b.bootstrap(again, settings).changes == ()
    assert calls.writes == []
    assert len(calls.names) <= 14  # a handful of reads (two for the batch role)
    assert calls.s3_owners and all(owner == ACCOUNT for _, owner in calls.s3_owners)

    changed = dataclasses.replace(settings, compute_type="BUILD_GENERAL1_LARGE")
    third = make_aws(region)
    calls = CallLog(third)
    assert b.bootstrap(third, changed).changes == (f"Update CodeBuild project {names.project}",)
    assert calls.writes == ["UpdateProject"]
    project = boto_client("codebuild", region=region).batch_get_projects(
        names=[names.project]
    )["projects"][0]
    assert {t["key"]: t["value"] for t in project["tags"]} == names.tags  # kept by the update
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"


def test_create_project_waits_for_a_new_role(endpoint: str) -> None:
    """Real IAM takes seconds to propagate; CodeBuild answers InvalidInputException meanwhile.

    The emulator's IAM is instant, so the first two CreateProject answers are
    injected (botocore before-call); the injected sleep records the waits.
    """
    aws = make_aws("us-west-1")
    aws.client("codebuild").meta.events.register(
        "before-call.codebuild.CreateProject", refuse("InvalidInputException", 2)
    )
    slept: list[float] = []
    infra = b.bootstrap(aws, StageSettings(name="beta", stage="dev"), sleep=slept.append)
    assert len(slept) == 2
    assert aws.get_project(infra.project) is not None


def refuse(code: str, times: int) -> Callable[..., Any]:
    """A before-call handler answering ``code`` the next ``times`` calls (then the server answers)."""
    left = [times]

    def handler(**_: Any) -> Any:
        if left[0] == 0:
            return None
        left[0] -= 1
        return AWSResponse("http://x", 400, {}, None), {
            "Error": {"Code": code, "Message": "injected"}
        }

    return handler


def test_project_refused_is_not_retried_when_the_role_already_existed(endpoint: str) -> None:
    aws = make_aws("us-west-1")
    b.bootstrap(aws, StageSettings(name="gamma", stage="dev"), sleep=lambda _: None)
    aws.client("codebuild").meta.events.register(
        "before-call.codebuild.UpdateProject", refuse("InvalidInputException", 1)
    )
    slept: list[float] = []
    changed = StageSettings(name="gamma", stage="dev", image="aws/codebuild/standard:6.0")
    with pytest.raises(AwsError) as info:
        b.bootstrap(aws, changed, sleep=slept.append)
    assert info.value.code == "InvalidInputException" and slept == []


def test_bucket_of_another_account_is_refused_and_nothing_created(
    endpoint: str, boto_client: Callable[..., Any], tmp_path: Path
) -> None:
    region = "eu-central-1"
    bucket = f"cbdeploy-{ACCOUNT}-{region}"
    # moto maps AssumeRole credentials to the role's account: 111111111111 owns the name.
    other = boto_client("sts").assume_role(
        RoleArn="arn:aws:iam::111111111111:role/squatter", RoleSessionName="squatter"
    )
    creds = other["Credentials"]
    squatter = boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    squatter.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    squatter.put_object(Bucket=bucket, Key="theirs.txt", Body=b"not yours")

    config = write_config(tmp_path, "delta")
    result = run("bootstrap", "--stage", "dev", "--region", region, "--config-path", str(config))
    assert result.exit_code == 2
    assert f"on bucket '{bucket}' for account" in result.output
    assert "Traceback" not in result.output
    assert (
        boto_client("codebuild", region=region).batch_get_projects(names=[project_name("delta", "dev")])[
            "projects"
        ]
        == []
    )
    assert (
        boto_client("logs", region=region).describe_log_groups(
            logGroupNamePrefix="/cbdeploy/delta"
        )["logGroups"]
        == []
    )
    roles = [r["RoleName"] for r in boto_client("iam").list_roles()["Roles"]]
    assert role_name("delta", "dev", region) not in roles

    destroy = run(
        "destroy",
        "--stage",
        "dev",
        "--all",
        "--yes",
        "--region",
        region,
        "--config-path",
        str(config),
    )
    assert destroy.exit_code == 2 and f"on bucket {bucket!r} for account" in destroy.output
    assert squatter.get_object(Bucket=bucket, Key="theirs.txt")["Body"].read() == b"not yours"


def created_for(boto_client: Callable[..., Any], app: str, region: str) -> list[str]:
    """What exists of ``app``'s resources in ``region``: its bucket, role, log groups, projects."""
    found = [
        b["Name"] for b in boto_client("s3").list_buckets()["Buckets"]
        if b["Name"] == f"cbdeploy-{ACCOUNT}-{region}"
    ]
    found += [
        r["RoleName"] for r in boto_client("iam").list_roles()["Roles"]
        if r["RoleName"].startswith(f"cbdeploy-{app}_") and r["RoleName"].endswith(region)
    ]
    groups = boto_client("logs", region=region).describe_log_groups(
        logGroupNamePrefix=f"/cbdeploy/{app}/"
    )
    found += [g["logGroupName"] for g in groups["logGroups"]]
    found += [
        p for p in boto_client("codebuild", region=region).list_projects()["projects"]
        if p.startswith(f"cbdeploy-{app}_")
    ]
    return found


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stage", "Dev!"], "Invalid stage name 'Dev!'"),
        (["--stage", "dev", "--aws-profile", "nobody"], "The AWS profile 'nobody' does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_message(
    endpoint: str, tmp_path: Path, boto_client: Callable[..., Any], args: list[str], message: str
) -> None:
    config = write_config(tmp_path, "epsilon")
    result = run("bootstrap", "--region", "sa-east-1", "--config-path", str(config), *args)
    assert result.exit_code == 2
    assert result.output.count("Error:") == 1 and message in result.output
    assert "Traceback" not in result.output
    assert created_for(boto_client, "epsilon", "sa-east-1") == []


def test_no_credentials_exits_2_and_creates_nothing(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boto_client: Callable[..., Any]
) -> None:
    s3 = boto_client("s3")  # made before the credentials go away
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = write_config(tmp_path, "zeta")
    result = run(
        "bootstrap", "--stage", "dev", "--region", "sa-east-1", "--config-path", str(config)
    )
    assert result.exit_code == 2
    assert "Error: No usable AWS credentials were found." in result.output
    assert "aws sso login" in result.output and "Traceback" not in result.output
    assert all(b["Name"] != f"cbdeploy-{ACCOUNT}-sa-east-1" for b in s3.list_buckets()["Buckets"])


def test_bootstrap_and_destroy_commands(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    boto_client: Callable[..., Any],
    build_waiter: Callable[..., dict[str, Any]],
) -> None:
    region = "ap-southeast-2"
    config = write_config(tmp_path, "eta", '[codebuild]\ncomputeType = "BUILD_GENERAL1_SMALL"\n')
    common = ["--region", region, "--config-path", str(config)]
    dev, prod = project_name("eta", "dev"), project_name("eta", "prod")
    dry = run("bootstrap", "--stage", "dev", "--dry-run", *common)
    assert dry.exit_code == 0 and "would" in dry.output
    assert f"Create CodeBuild project {dev}" in dry.output
    codebuild = boto_client("codebuild", region=region)
    assert codebuild.batch_get_projects(names=[dev])["projects"] == []
    first = run("bootstrap", "--stage", "dev", *common)
    assert first.exit_code == 0, first.output
    assert f"Create CodeBuild project {dev}" in first.output
    assert dev in first.output and f"cbdeploy-{ACCOUNT}-{region}" in first.output
    # Where it acts, as deploy says it (issue 17, item 4).
    assert first.output.startswith(
        f"cbdeploy: Bootstrap\n\n  Stage:    dev\n  Region:   {region}\n  Account:  {ACCOUNT}\n"
    )
    assert run("bootstrap", "--stage", "prod", *common).exit_code == 0
    second = run("bootstrap", "--stage", "dev", *common)
    assert "up to date" in second.output
    assert "change nothing" in run("bootstrap", "--stage", "dev", "--dry-run", *common).output

    s3 = boto_client("s3", region=region)
    bucket = f"cbdeploy-{ACCOUNT}-{region}"
    s3.put_object(Bucket=bucket, Key="sources/eta/dev/x.zip", Body=b"zip", ExpectedBucketOwner=ACCOUNT)
    s3.create_multipart_upload(Bucket=bucket, Key="sources/eta/dev/y.zip")

    running = codebuild.start_build(
        projectName=dev,
        buildspecOverride="version: 0.2\nphases:\n  build:\n    commands: [sleep 30]\n",
    )["build"]["id"]
    refused = CliRunner().invoke(main, ["destroy", "--stage", "dev", *common], input="n\n")
    assert refused.exit_code == 2 and refused.output.endswith("Cancelled: nothing was changed\n")
    assert "Error" not in refused.output and f"  Account:  {ACCOUNT}\n" in refused.output
    assert codebuild.batch_get_projects(names=[dev])["projects"] != []

    gone = CliRunner().invoke(main, ["destroy", "--stage", "dev", *common], input="y\n")
    assert gone.exit_code == 0, gone.output
    assert f"Delete CodeBuild project {dev}" in gone.output
    assert f"Stop running build {running}" in gone.output
    assert codebuild.batch_get_builds(ids=[running])["builds"][0]["buildStatus"] in (
        "STOPPED",
        "IN_PROGRESS",
    )
    names = [
        p["name"]
        for p in codebuild.batch_get_projects(names=[dev, prod])[
            "projects"
        ]
    ]
    assert names == [prod]
    roles = [r["RoleName"] for r in boto_client("iam").list_roles()["Roles"]]
    assert role_name("eta", "dev", region) not in roles
    assert role_name("eta", "prod", region) in roles
    assert s3.head_bucket(Bucket=bucket)  # shared pieces stay

    # From anywhere, without the project: --name says which app. (Not from a folder
    # inside the project: its cbdeploy.toml is found there, as git finds a repository.)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    unnamed = run("destroy", "--stage", "prod", "--all", "--yes", "--region", region)
    assert unnamed.exit_code == 2 and "Pass --name APP" in unnamed.output
    everything = run("destroy", "--stage", "prod", "--all", "--yes", "--region", region, "--name", "eta")
    assert everything.exit_code == 0, everything.output
    assert everything.output.count(f"Delete CodeBuild project {prod}") == 1
    assert all(bk["Name"] != bucket for bk in s3.list_buckets()["Buckets"])
    logs = boto_client("logs", region=region)
    assert logs.describe_log_groups(logGroupNamePrefix="/cbdeploy/eta")["logGroups"] == []
    assert codebuild.batch_get_projects(names=[prod])["projects"] == []

    nothing = run("destroy", "--stage", "prod", "--all", "--yes", *common)
    assert nothing.exit_code == 0
    assert f"Nothing to destroy in account {ACCOUNT}, region {region}:" in nothing.output
    assert f"  CodeBuild project:  {prod}\n" in nothing.output


def test_dry_run_shows_what_changes_in_each_resource(
    endpoint: str, tmp_path: Path, boto_client: Callable[..., Any]
) -> None:
    """``bootstrap --dry-run`` after a config change: each field old → new, policies by statement."""
    region = "eu-north-1"
    small = '[codebuild]\ncomputeType = "BUILD_GENERAL1_SMALL"\n'
    config = write_config(tmp_path, "iota", small)
    common = ["--stage", "dev", "--region", region, "--config-path", str(config)]
    assert run("bootstrap", *common).exit_code == 0
    iam = boto_client("iam")
    role = role_name("iota", "dev", region)
    document = iam.get_role_policy(RoleName=role, PolicyName=b.BASE_POLICY)["PolicyDocument"]
    extra = {"Sid": "Extra", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
    document["Statement"] = [*document["Statement"][1:], extra]
    iam.put_role_policy(RoleName=role, PolicyName=b.BASE_POLICY, PolicyDocument=json.dumps(document))
    write_config(tmp_path, "iota", small.replace("SMALL", "MEDIUM"))

    dry = run("bootstrap", "--dry-run", *common)
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    at = lines.index(f"  • Update CodeBuild project {project_name('iota', 'dev')}")
    assert lines[at + 1] == "      environment.computeType: BUILD_GENERAL1_SMALL → BUILD_GENERAL1_MEDIUM"
    policy = next(i for i, line in enumerate(lines) if line.startswith(f"  • Allow {role}"))
    shown = lines[policy + 1 : policy + 3]
    assert "      - Statement: Extra: Allow sqs:SendMessage on *" in shown
    assert any(line.startswith("      + Statement: ") for line in shown)
    assert (
        boto_client("codebuild", region=region).batch_get_projects(
            names=[project_name("iota", "dev")])["projects"][0]["environment"]["computeType"]
        == "BUILD_GENERAL1_SMALL"  # a dry run
    )
