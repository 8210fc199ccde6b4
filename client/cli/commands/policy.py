"""``cbdeploy policy``: the IAM policy the identity that runs cbdeploy needs for a stage."""

from __future__ import annotations

import json
import re

import click

from cbdeploy.client.aws.client import open_aws
from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import Target, aws_options
from cbdeploy.client.config.load import load_config
from cbdeploy.client.deploy.workspace_deploy import settings_for, stage_shipping
from cbdeploy.client.errors import UsageError
from cbdeploy.client.infra.names import stage_names
from cbdeploy.client.infra.policy import deployer_policy, partition_of

ACCOUNT_RE = re.compile(r"^\d{12}$")


@command("policy", short_help="Print the IAM policy cbdeploy itself needs for a stage.")
@aws_options()
@click.option(
    "--account",
    help="The 12-digit AWS account id (default: the one your credentials belong to).",
)
@click.option(
    "--json", "as_json", is_flag=True,
    help="Print one JSON object: app, stage, region, account and the policy.",
)
def policy(target: Target, account: str | None, as_json: bool) -> None:
    """Print the least-privilege IAM policy for running cbdeploy on one stage.

    It covers bootstrap, deploy, logs, stop, builds and destroy (not destroy
    --all, which deletes the bucket all apps share) of the app in
    cbdeploy.toml, for --stage in --region: the stage's bucket prefixes, log
    group, roles (iam:PassRole on exactly those), CodeBuild project, the ECR
    repositories of [images] and the preflight's look-ups of [secrets].
    Attach it to the role or user your CI assumes. The policy document goes to
    standard output, the notes to standard error.

    Examples:

    \b
      cbdeploy policy --stage prod --region us-east-1 > cbdeploy-prod-policy.json
      cbdeploy policy --stage dev --region eu-west-1 --account 123456789012
      cbdeploy policy --stage prod --region us-east-1 --json
    """
    if account is not None and not ACCOUNT_RE.match(account):
        raise UsageError(
            f"--account {account!r} is not an AWS account id.",
            "Give the 12 digits of the account, e.g. --account 123456789012.",
        )
    config = load_config(target.project_root, target.stage, target.config_path)
    if account is None:
        with open_aws(target) as aws:
            account, partition = aws.account_id(), aws.partition
    else:
        partition = partition_of(target.region)
    shipping = stage_shipping(target, config)  # a workspace's service: the workspace's stage
    names = stage_names(shipping.app, config.stage, account=account, region=target.region,
                        partition=partition)
    document = deployer_policy(
        settings_for(shipping, config, target.stage, target.region, account), names)
    if as_json:
        report = {
            "app": shipping.app,
            "stage": config.stage,
            "region": target.region,
            "account": account,
            "policy": document,
        }
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"IAM policy for cbdeploy on app {shipping.app}, stage {config.stage}, "
        f"region {target.region}, account {account}. Only sts:GetCallerIdentity, "
        "ssm:DescribeParameters and ecr:GetAuthorizationToken are on \"*\": AWS does not "
        "let a policy narrow them.",
        err=True,
    )
    click.echo(json.dumps(document, indent=2))
