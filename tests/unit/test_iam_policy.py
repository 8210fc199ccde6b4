"""The test IAM evaluator (tests/iam_policy.py) against AWS's documented examples.

The examples are from the IAM User Guide: "IAM JSON policy elements: Action"
(``iam:*AccessKey*``), "Resource" (``arn:aws:s3:::amzn-s3-demo-bucket/*`` and
the ``?`` wildcard), "Policy evaluation logic" (an explicit deny overrides an
allow; no allow is an implicit deny), "Condition" (a missing key does not
match ``StringEquals``) and "Granting a user permissions to pass a role"
(``iam:PassedToService``).
"""

from __future__ import annotations

from tests.iam_policy import allows, decide


def test_action_wildcards_match_case_insensitively() -> None:
    policy = {"Statement": {"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "*"}}
    for action in ("iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys",
                   "iam:UpdateAccessKey", "IAM:createaccesskey"):
        assert allows([policy], action, "arn:aws:iam::123456789012:user/x"), action
    assert not allows([policy], "iam:CreateUser", "arn:aws:iam::123456789012:user/x")


def test_resource_wildcards_span_slashes_and_are_case_sensitive() -> None:
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket/*", "arn:aws:s3:::b/home/user-??"]}]}
    assert allows([policy], "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/a/b/c.txt")
    assert not allows([policy], "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket")
    assert not allows([policy], "s3:GetObject", "arn:aws:s3:::AMZN-s3-demo-bucket/a")
    assert allows([policy], "s3:GetObject", "arn:aws:s3:::b/home/user-01")
    assert not allows([policy], "s3:GetObject", "arn:aws:s3:::b/home/user-001")


def test_explicit_deny_overrides_allow_and_no_allow_is_an_implicit_deny() -> None:
    allow = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:DeleteBucket",
                           "Resource": "arn:aws:s3:::prod-*"}]}
    assert decide([allow, deny], "s3:DeleteBucket", "arn:aws:s3:::prod-data") == "ExplicitDeny"
    assert decide([allow, deny], "s3:DeleteBucket", "arn:aws:s3:::dev-data") == "Allow"
    assert decide([deny], "s3:GetObject", "arn:aws:s3:::dev-data/x") == "ImplicitDeny"
    assert decide([], "s3:GetObject", "arn:aws:s3:::dev-data/x") == "ImplicitDeny"


def test_not_action_and_not_resource() -> None:
    policy = {"Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"}]}
    assert allows([policy], "s3:GetObject", "arn:aws:s3:::open/x")
    assert not allows([policy], "iam:CreateUser", "arn:aws:iam::123456789012:user/x")
    assert not allows([policy], "s3:GetObject", "arn:aws:s3:::secret/x")


def test_pass_role_only_to_the_named_service() -> None:
    policy = {"Statement": [{
        "Effect": "Allow", "Action": "iam:PassRole",
        "Resource": "arn:aws:iam::123456789012:role/cb",
        "Condition": {"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}},
    }]}
    role = "arn:aws:iam::123456789012:role/cb"
    assert allows([policy], "iam:PassRole", role, {"iam:PassedToService": "codebuild.amazonaws.com"})
    assert not allows([policy], "iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allows([policy], "iam:PassRole", role)  # a missing key does not match
    assert not allows([policy], "iam:PassRole", "arn:aws:iam::123456789012:role/other",
                      {"iam:PassedToService": "codebuild.amazonaws.com"})
