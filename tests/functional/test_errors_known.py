"""The known errors, as a user sees them through the CLI (click's CliRunner).

Each one is one message plus the next step on stderr, exit 2, no traceback
(unless ``--log-level debug``); a bug is one line and exit 1.

Neither moto nor our emulator answers with ExpiredToken or AccessDenied, so
those come from :class:`RefusingEndpoint`, a small HTTP server on loopback that
answers as AWS does for a refused call (the JSON error body of CodeBuild's
protocol), reached through ``AWS_ENDPOINT_URL`` like any endpoint. Expired SSO
logins are real: botocore reads an SSO profile and a token cache under a
temporary HOME. The running-build conflict is covered against the emulator in
``test_deploy_cli.py::test_second_deploy_while_one_runs_is_refused_naming_it``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.main import CbdeployGroup, main
from cbdeploy.client.cli.options import log_level_option

BUILD_ID = "cbdeploy-app-dev:0b7c7a56-1d1e-4d6e-9d8a-3f1e5c7d9a10"
RUNNING_BUILD = {
    "id": BUILD_ID,
    "arn": f"arn:aws:codebuild:us-east-1:123456789012:build/{BUILD_ID}",
    "projectName": "cbdeploy-app-dev",
    "buildStatus": "IN_PROGRESS",
    "currentPhase": "BUILD",
    "buildComplete": False,
    "startTime": 1767225600.0,
}
DENIED_STOP = (
    "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
    "codebuild:StopBuild on resource: arn:aws:codebuild:us-east-1:123456789012:project/cbdeploy-app-dev"
)


class RefusingEndpoint:
    """Answers CodeBuild calls from ``answers`` (operation -> (status, body)); others refused."""

    def __init__(self, answers: dict[str, tuple[int, dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = (self.headers.get("X-Amz-Target") or ".?").rsplit(".", 1)[1]
                endpoint.calls.append(operation)
                status, body = endpoint.answers.get(
                    operation, (400, {"__type": "InvalidInputException", "message": "unexpected"})
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def refusing() -> Iterator[RefusingEndpoint]:
    endpoint = RefusingEndpoint({})
    yield endpoint
    endpoint.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME with an AWS config of two profiles: static keys, and an SSO login."""
    aws = tmp_path / "home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "config").write_text(
        "[profile work]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secret\n\n"
        "[profile sso]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = Deployer\n"
    )
    return tmp_path / "home"


def run(home: Path, *args: str, endpoint: str | None = None, **env: str | None) -> Result:
    """cbdeploy with no credentials anywhere but those ``home`` and ``env`` give."""
    base: dict[str, str | None] = {
        name: None
        for name in (
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL",
        )
    }
    base.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / ".aws" / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",  # no instance-metadata lookups from a test
        AWS_MAX_ATTEMPTS="1",
        XDG_CONFIG_HOME=str(home / "xdg"),
        AWS_ENDPOINT_URL=endpoint,
    )
    base.update(env)
    return CliRunner().invoke(main, list(args), env=base)


def lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


def test_no_credentials(home: Path, refusing: RefusingEndpoint) -> None:
    result = run(home, "stop", BUILD_ID, "--region", "us-east-1", endpoint=refusing.url)
    assert result.exit_code == 2
    assert lines(result) == [
        "Error: No usable AWS credentials were found.",
        "Configure AWS credentials (aws configure, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
        "run 'aws sso login' if your profile uses SSO, or check --aws-profile. "
        "To try cbdeploy without an AWS account, add --local.",
    ]
    assert refusing.calls == []  # nothing unsigned went out


def test_unknown_profile(home: Path) -> None:
    result = run(home, "stop", BUILD_ID, "--region", "us-east-1", "--aws-profile", "nope")
    assert result.exit_code == 2
    assert lines(result) == [
        "Error: The AWS profile 'nope' does not exist.",
        "Check --aws-profile, AWS_PROFILE or the stored default ('cbdeploy defaults:list') "
        "against 'aws configure list-profiles'.",
    ]


@pytest.mark.parametrize("code", ["ExpiredTokenException", "ExpiredToken"])
def test_expired_token_says_how_to_refresh_the_profile(
    home: Path, refusing: RefusingEndpoint, code: str
) -> None:
    refusing.answers["BatchGetBuilds"] = (400, {"__type": code, "message": "token expired"})
    result = run(home, "stop", BUILD_ID, "--region", "us-east-1", "--aws-profile", "work",
                 endpoint=refusing.url)
    assert result.exit_code == 2
    assert lines(result) == [
        f"Error: The AWS credentials have expired ({code}).",
        "Refresh them: 'aws sso login --profile work' if that profile uses SSO, otherwise get "
        "new temporary credentials for it; then run cbdeploy again.",
    ]


def test_expired_token_in_the_environment_says_to_export_new_keys(
    home: Path, refusing: RefusingEndpoint
) -> None:
    refusing.answers["BatchGetBuilds"] = (400, {"__type": "ExpiredTokenException"})
    result = run(home, "stop", BUILD_ID, "--region", "us-east-1", endpoint=refusing.url,
                 AWS_ACCESS_KEY_ID="ASIAEXAMPLE", AWS_SECRET_ACCESS_KEY="s",
                 AWS_SESSION_TOKEN="old")
    assert result.exit_code == 2
    assert "AWS_SESSION_TOKEN" in lines(result)[1]


@pytest.mark.parametrize("cached", ["expired", "none"])
def test_expired_sso_login_says_to_sign_in_again(home: Path, cached: str) -> None:
    """botocore's own SSO errors: UnauthorizedSSOTokenError for a cached token past its
    expiry, SSOTokenLoadError when there is none; no request leaves the machine."""
    if cached == "expired":
        cache = home / ".aws" / "sso" / "cache"
        cache.mkdir(parents=True)
        key = hashlib.sha1(b"https://example.awsapps.com/start").hexdigest()
        (cache / f"{key}.json").write_text(json.dumps({
            "startUrl": "https://example.awsapps.com/start", "region": "us-east-1",
            "accessToken": "old", "expiresAt": "2020-01-01T00:00:00Z",
        }))
    result = run(home, "stop", BUILD_ID, "--region", "us-east-1", "--aws-profile", "sso")
    assert result.exit_code == 2
    assert lines(result) == [
        "Error: The AWS SSO login of profile 'sso' has expired (or you have not signed in yet).",
        "Sign in again with 'aws sso login --profile sso', then run cbdeploy again.",
    ]


def test_access_denied_names_the_action(home: Path, refusing: RefusingEndpoint) -> None:
    refusing.answers["BatchGetBuilds"] = (200, {"builds": [RUNNING_BUILD]})
    refusing.answers["StopBuild"] = (
        400, {"__type": "AccessDeniedException", "message": DENIED_STOP}
    )
    result = run(home, "stop", BUILD_ID, "--region", "us-east-1", "--aws-profile", "work",
                 endpoint=refusing.url)
    assert result.exit_code == 2
    assert refusing.calls == ["BatchGetBuilds", "StopBuild"]
    assert lines(result) == [
        f"Error: AWS denied codebuild:StopBuild to these credentials (AccessDeniedException): "
        f"{DENIED_STOP}",
        "Allow codebuild:StopBuild in the IAM policy of the user or role you deploy with (see "
        "which one with 'aws sts get-caller-identity'), or use another --aws-profile.",
    ]
    assert "Traceback" not in result.output


def test_unknown_region(home: Path) -> None:
    result = run(home, "builds", "--stage", "dev", "--region", "mars-1")
    assert result.exit_code == 2
    assert lines(result) == [
        "Error: Unknown AWS region 'mars-1'.",
        "Pass a region name such as us-east-1 or eu-west-1 with --region.",
    ]


def test_debug_level_adds_the_traceback_to_a_known_error(home: Path) -> None:
    result = run(home, "builds", "--stage", "dev", "--region", "mars-1", "--log-level", "debug")
    assert result.exit_code == 2
    # (After the debug lines of what was decided before the error.)
    assert "\nTraceback (most recent call last):" in result.stderr
    assert lines(result)[-2:] == [
        "Error: Unknown AWS region 'mars-1'.",
        "Pass a region name such as us-east-1 or eu-west-1 with --region.",
    ]


def test_unknown_region_from_the_environment_says_where_it_came_from(home: Path) -> None:
    result = run(home, "builds", "--stage", "dev", AWS_REGION="mars-2")
    assert result.exit_code == 2
    assert lines(result) == [
        "Error: Unknown AWS region 'mars-2' (from AWS_REGION).",
        "Set AWS_REGION to a valid region such as us-east-1, or pass --region.",
    ]


def test_bad_stored_stage_points_at_the_defaults(home: Path) -> None:
    stored = home / "xdg" / "cbdeploy" / "defaults.json"
    stored.parent.mkdir(parents=True)
    stored.write_text('{"stage": "Prod"}')  # edited by hand: configure refuses it
    result = run(home, "builds", "--region", "us-east-1")
    assert result.exit_code == 2
    assert lines(result) == [
        f"Error: Invalid stage name 'Prod' (from the stored defaults in {stored}).",
        "Store a valid one with 'cbdeploy defaults:configure --stage dev', or pass --stage.",
    ]


def test_config_error_names_file_line_and_key(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "cbdeploy.toml"
    config.write_text(
        'name = "app"\n\n[pipeline]\ndeploy = ["make deploy"]\n\n'
        '[codebuild]\ncomputeType = "BUILD_GENERAL1_HUGE"\n'
    )
    result = run(home, "builds", "--stage", "dev", "--region", "us-east-1",
                 "--config-path", str(config))
    assert result.exit_code == 2
    first = lines(result)[0]
    assert first.startswith(f"Error: {config}:7: codebuild.computeType: ")
    assert "BUILD_GENERAL1_HUGE" in first
    assert len(lines(result)) == 2  # and what to do about it


@pytest.mark.parametrize(
    ("text", "line"),
    [('name = "app"\n[pipeline\ndeploy = ["x"]\n', 2),  # tomllib: "(at line 2, column 10)"
     ('name = "app"\n[pipeline]\ndeploy = ["x"\n', 3)],  # "(at end of document)"
)
def test_config_syntax_error_names_the_line(
    home: Path, tmp_path: Path, text: str, line: int
) -> None:
    config = tmp_path / "cbdeploy.toml"
    config.write_text(text)
    result = run(home, "builds", "--stage", "dev", "--region", "us-east-1",
                 "--config-path", str(config))
    assert result.exit_code == 2
    assert lines(result)[0].startswith(f"Error: {config}:{line}: not valid TOML: ")
    assert lines(result)[1].startswith("Fix the syntax there")


def test_config_type_error_says_what_to_change(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "cbdeploy.toml"
    config.write_text(
        'name = "app"\n[pipeline]\ndeploy = ["x"]\n[stages.prod.codebuild]\n'
        'timeoutInMinutes = "ten"\n'
    )
    result = run(home, "builds", "--stage", "dev", "--region", "us-east-1",
                 "--config-path", str(config))
    assert result.exit_code == 2
    key = "stages.prod.codebuild.timeoutInMinutes"
    assert lines(result) == [
        f"Error: {config}:5: {key}: must be a whole number of minutes, not a string",
        f"Change {key} in {config}:5, then run the command again.",
    ]


def test_missing_emulator_extra(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``import emulator`` fails as it does without the [local] extra (moto missing)."""
    monkeypatch.setitem(sys.modules, "cbdeploy.emulator", None)
    for args in (["stop", BUILD_ID, "--region", "us-east-1", "--local"], ["emulator"]):
        result = run(home, *args)
        assert result.exit_code == 2, args
        assert lines(result)[1] in (
            "Install it with: pip install 'cbdeploy[local]'",
            "Install the extra: pip install 'cbdeploy[local]'",
        )
        assert "not installed" in lines(result)[0]


# ----------------------------------------------------------------- bugs and Ctrl-C


def failing_cli(error: BaseException) -> click.Group:
    """The real CbdeployGroup with one command (as the factory makes them) that raises ``error``."""

    @command("boom")
    @log_level_option
    def boom(log_level: str) -> None:
        raise error

    group = CbdeployGroup("cbdeploy")
    group.add_command(boom)
    return group


def test_a_bug_is_one_line_and_exit_1() -> None:
    result = CliRunner().invoke(failing_cli(ValueError("bad split")), ["boom"])
    assert result.exit_code == 1
    assert lines(result) == [
        "Error: internal error: ValueError: bad split",
        "This is a bug in cbdeploy: rerun with --log-level debug for the traceback and report it.",
    ]
    assert result.stdout == ""


def test_a_bug_shows_its_traceback_at_debug_level() -> None:
    result = CliRunner().invoke(
        failing_cli(ValueError("bad split")), ["boom", "--log-level", "debug"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert 'raise error' in result.stderr
    assert lines(result)[-1] == "Error: internal error: ValueError: bad split"


def test_ctrl_c_in_a_command_exits_130() -> None:
    result = CliRunner().invoke(failing_cli(KeyboardInterrupt()), ["boom"])
    assert result.exit_code == 130
    assert lines(result) == ["Interrupted."]
