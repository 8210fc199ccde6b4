"""``cbdeploy policy`` without AWS: the document for a config, and bad input (issue 17, item 1).

tests/functional/test_policy_covers_calls.py checks the policy against every
call a stage's life makes; this checks its shape and the command's input.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cbdeploy.client.cli.main import main
from cbdeploy.client.infra.model import StageSettings
from cbdeploy.client.infra.names import stage_names
from cbdeploy.client.infra.policy import deployer_policy, partition_of
from tests.iam_policy import allows

ACCOUNT = "123456789012"
UNSCOPED = {"sts:GetCallerIdentity", "ssm:DescribeParameters", "ecr:GetAuthorizationToken"}


def test_only_the_actions_aws_cannot_narrow_are_on_star() -> None:
    names = stage_names("shop", "prod", account=ACCOUNT, region="eu-west-1")
    settings = StageSettings(
        name="shop", stage="prod", secrets=("secretsmanager:shop/token:key", "ssm:/shop/db"),
        repositories=("cbdeploy/shop/prod/api",),
        policies=("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",),
    )
    policy = deployer_policy(settings, names)
    on_star = {a for s in policy["Statement"] if "*" in s["Resource"] for a in s["Action"]}
    assert on_star == UNSCOPED
    secret = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:shop/token-AbCdEf"
    assert allows([policy], "secretsmanager:DescribeSecret", secret)
    assert not allows([policy], "secretsmanager:GetSecretValue", secret)
    repo = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/cbdeploy/shop/prod/api"
    assert allows([policy], "ecr:CreateRepository", repo)
    assert not allows([policy], "ecr:CreateRepository", repo.replace("prod", "dev"))
    context = {"iam:PassedToService": "codebuild.amazonaws.com"}
    assert allows([policy], "iam:PassRole", names.role_arn, context)
    assert allows([policy], "iam:PassRole", names.batch_role_arn, context)
    assert not allows([policy], "iam:PassRole", names.role_arn, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allows([policy], "s3:PutObject", f"arn:aws:s3:::{names.bucket}/sources/shop/dev/x.zip")
    record = f"arn:aws:s3:::{names.bucket}/{names.state_prefix}deployed/api.json"
    assert allows([policy], "s3:DeleteObject", record)  # destroy takes the stage's records
    assert not allows([policy], "s3:DeleteObject", record.replace("/prod/", "/dev/"))
    assert not allows([policy], "s3:DeleteObject",
                      f"arn:aws:s3:::{names.bucket}/{names.sources_prefix}x.zip")


def test_without_images_or_secrets_there_is_no_ecr_or_secret_grant() -> None:
    names = stage_names("shop", "dev", account=ACCOUNT, region="us-east-1")
    text = json.dumps(deployer_policy(StageSettings(name="shop", stage="dev"), names))
    assert "ecr:" not in text and "secretsmanager:" not in text and "ssm:" not in text


def test_partitions() -> None:
    assert partition_of("cn-north-1") == "aws-cn"
    assert partition_of("us-gov-west-1") == "aws-us-gov"
    assert partition_of("eu-central-1") == "aws"


def test_the_command_prints_the_document_and_refuses_a_bad_account(tmp_path: Path) -> None:
    (tmp_path / "cbdeploy.toml").write_text('name = "shop"\n')
    base = ["policy", "--stage", "dev", "--region", "cn-north-1",
            "--config-path", str(tmp_path / "cbdeploy.toml")]
    done = CliRunner().invoke(main, [*base, "--account", ACCOUNT, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert (report["app"], report["stage"], report["account"]) == ("shop", "dev", ACCOUNT)
    assert "arn:aws-cn:codebuild:cn-north-1:123456789012:project/cbdeploy-shop_dev" in done.stdout
    bad = CliRunner().invoke(main, [*base, "--account", "12345"])
    assert bad.exit_code == 2
    assert "--account '12345' is not an AWS account id" in bad.output
    assert "Traceback" not in bad.output
