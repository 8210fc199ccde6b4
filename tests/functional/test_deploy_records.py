"""Each workspace service's last successful deploy, recorded in S3, and ``--affected`` reading it.

Against the emulator over loopback: the records go through moto's S3 behind
it (checksums verified), and the CLI runs in-process (CliRunner), deploying a
service of a workspace held in a real git repository, whose builds the
emulator really runs. Each test uses its own workspace name: the emulator's
state is shared by the session.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import Result

from cbdeploy.client.aws.client import AwsClient
from cbdeploy.client.deploy.records import DeployRecord, DeployRecords, record_deployed
from cbdeploy.client.infra.names import bucket_name, deployed_record_key
from cbdeploy.client.packaging.changes import WorkTree
from tests.functional.test_affected_git import commit, git, write
from tests.functional.test_workspace_deploy import cli

__all__ = ["cli"]  # (a fixture: the in-process CLI)
pytestmark = pytest.mark.usefixtures("hermetic_git")

ACCOUNT_BUCKET = bucket_name("123456789012", "us-east-1")
NOW = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def aws(emulator_url: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> AwsClient:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    client = AwsClient(boto3.session.Session(region_name="us-east-1"), "us-east-1")
    if not client.bucket_exists(ACCOUNT_BUCKET):
        client.create_bucket(ACCOUNT_BUCKET)
    return client


def test_records_round_trip_through_s3_one_object_per_service(aws: AwsClient) -> None:
    app = f"ws{uuid.uuid4().hex[:10]}"
    tree = WorkTree("c" * 40, ("libs/shared/x.py",))
    written = record_deployed(aws, bucket=ACCOUNT_BUCKET, app=app, stage="dev",
                              services=["api", "worker"], tree=tree, build_id="p:1",
                              now=lambda: NOW)
    store = DeployRecords(aws, ACCOUNT_BUCKET, app, "dev")
    found = store.read(["infra", "api", "worker"])
    assert found == {r.service: r for r in written}
    assert found["api"] == DeployRecord("api", "c" * 40, True, ("libs/shared/x.py",),
                                        "2026-12-06T08:00:00+00:00", "p:1")
    raw = aws.get_object(ACCOUNT_BUCKET, deployed_record_key(app, "dev", "worker"))
    assert raw is not None and json.loads(raw)["commit"] == "c" * 40
    assert deployed_record_key(app, "dev", "api") == f"state/{app}/dev/deployed/api.json"
    # Another stage of the same workspace has none; neither has an account without a bucket.
    assert DeployRecords(aws, ACCOUNT_BUCKET, app, "prod").read(["api"]) == {}
    missing = f"no-bucket-{uuid.uuid4().hex[:12]}"
    assert DeployRecords(aws, missing, app, "dev").read(["api"]) == {}
    # A later deploy of api alone leaves worker's record as it was.
    record_deployed(aws, bucket=ACCOUNT_BUCKET, app=app, stage="dev", services=["api"],
                    tree=WorkTree("d" * 40, ()), now=lambda: NOW)
    again = store.read(["api", "worker"])
    assert (again["api"].commit, again["api"].dirty) == ("d" * 40, False)
    assert again["worker"] == found["worker"]


def test_nothing_is_recorded_outside_git_or_before_a_first_commit(aws: AwsClient) -> None:
    app = f"ws{uuid.uuid4().hex[:10]}"
    for tree in (None, WorkTree(None, ("a.txt",))):
        assert record_deployed(aws, bucket=ACCOUNT_BUCKET, app=app, stage="dev",
                               services=["api"], tree=tree) == ()
    assert DeployRecords(aws, ACCOUNT_BUCKET, app, "dev").read(["api"]) == {}


# ---------------------------------------------------------------- through the CLI


def workspace_in_git(tmp_path: Path, services: str) -> tuple[Path, str]:
    """A workspace (its name unique; ``services``: its TOML list of globs) in a new git
    repository on branch main, nothing committed yet."""
    name = f"ws{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {"cbdeploy.toml": f'name = "{name}"\n[workspace]\nservices = {services}\n'})
    return root, name


def shop(tmp_path: Path) -> tuple[Path, str]:
    """A workspace in git (its name unique) whose api service's pipeline echoes a line."""
    root, name = workspace_in_git(tmp_path, '["services/*"]')
    api = f"{name}-api"
    write(root, {
        "services/api/cbdeploy.toml": f'name = "{api}"\n'
        'paths = ["services/api/**", "libs/shared/**"]\n[pipeline]\nbuild = ["echo api ok"]\n',
        "services/web/cbdeploy.toml": f'name = "{name}-web"\n[pipeline]\nbuild = ["true"]\n',
        "libs/shared/prices.py": "prices\n",
    })
    commit(root, "first")
    return root, api


def record(aws: AwsClient, workspace: str, service: str) -> dict[str, Any] | None:
    raw = aws.get_object(ACCOUNT_BUCKET, deployed_record_key(workspace, "dev", service))
    return None if raw is None else dict(json.loads(raw))


def test_a_service_deploy_records_its_commit_and_affected_counts_from_it(
    cli: Callable[..., Result], aws: AwsClient, tmp_path: Path
) -> None:
    root, api = shop(tmp_path)
    name = root.name
    folder = root / "services" / "api"
    first = git(root, "rev-parse", "HEAD")

    deployed = cli(folder, "deploy", "--yes", "--json")
    assert deployed.exit_code == 0, deployed.output
    report = json.loads(deployed.stdout)
    assert report["selection"] == [{"service": api, "reasons": ["the service of this folder"]}]
    assert record(aws, name, api) == {
        "version": 1, "service": api, "commit": first, "dirty": False, "dirtyPaths": [],
        "deployedAt": record(aws, name, api)["deployedAt"],  # type: ignore[index]
        "buildId": report["buildId"],
    }
    assert f"recorded {first[:10]} as the last deploy of {api} to dev" in deployed.stderr

    # Nothing changed since: nothing to deploy, exit 0, nothing started.
    unchanged = cli(folder, "deploy", "--yes", "--affected", "--json")
    assert unchanged.exit_code == 0, unchanged.output
    report = json.loads(unchanged.stdout)
    assert (report["selection"], report["buildId"], report["archive"]) == ([], None, None)
    assert report["changesSince"] == [
        {"since": f"the last deploy to dev ({first[:7]})", "services": [api]}]
    assert "Nothing to deploy" in unchanged.stderr

    # A change under libs/shared/, not committed: affected, deployed, recorded as dirty.
    write(root, {"libs/shared/prices.py": "prices, cheaper\n"})
    dirty = cli(folder, "deploy", "--yes", "--affected", "--json")
    assert dirty.exit_code == 0, dirty.output
    assert json.loads(dirty.stdout)["selection"] == [{"service": api, "reasons": [
        "changed: libs/shared/prices.py matches libs/shared/**"]}]
    kept = record(aws, name, api)
    assert kept is not None and (kept["commit"], kept["dirty"], kept["dirtyPaths"]) == (
        first, True, ["libs/shared/prices.py"])

    # Committed and then reverted: the stage still runs the edited file, so api is
    # still affected, counted from the dirty record's list.
    write(root, {"libs/shared/prices.py": "prices\n"})
    assert git(root, "status", "--porcelain") == ""
    again = cli(folder, "deploy", "--yes", "--affected", "--json")
    assert again.exit_code == 0, again.output
    assert [s["service"] for s in json.loads(again.stdout)["selection"]] == [api]


def test_a_failed_deploy_keeps_the_older_record(
    cli: Callable[..., Result], aws: AwsClient, tmp_path: Path
) -> None:
    root, api = shop(tmp_path)
    folder = root / "services" / "api"
    assert cli(folder, "deploy", "--yes").exit_code == 0
    first = git(root, "rev-parse", "HEAD")
    write(folder, {"cbdeploy.toml": f'name = "{api}"\n[pipeline]\nbuild = ["exit 3"]\n'})
    commit(root, "break api")
    failed = cli(folder, "deploy", "--yes", "--affected")
    assert failed.exit_code == 1, failed.output
    kept = record(aws, root.name, api)
    assert kept is not None and kept["commit"] == first


@pytest.mark.parametrize(
    ("where", "args", "words"),
    [
        (".", ("--service", "nope"), "--service nope: no such service in the workspace"),
        (".", ("--since", "main"), "--since main needs --affected"),
        (".", ("--no-deps",), "--no-deps needs --service"),
        ("services/api", ("--service", "x"), "in a service's folder, cbdeploy deploys"),
        (".", ("--affected", "--since", "no-such-ref"), "--since no-such-ref: no such commit"),
    ],
)
def test_selection_mistakes_exit_2_before_anything_is_uploaded(
    cli: Callable[..., Result], aws: AwsClient, tmp_path: Path,
    where: str, args: tuple[str, ...], words: str,
) -> None:
    root, _ = shop(tmp_path)
    result = cli(root / where, "deploy", "--yes", *args)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Uploaded" not in result.output and "Started build" not in result.output


def test_at_the_root_affected_counts_from_each_services_record_through_s3(
    aws: AwsClient, tmp_path: Path
) -> None:
    """Issue 15's check through the stage's records (no --since): every service recorded
    at one commit, then one file under libs/shared/ changes: --affected picks exactly the
    services whose paths cover it. The selector is the batch deploy's Picker."""
    from cbdeploy.client.deploy.choose import ServiceSelector, workspace_member
    from cbdeploy.client.deploy.events import DeployRecorded, ServicesSelected
    from cbdeploy.client.deploy.selection import Request

    root, name = workspace_in_git(tmp_path, '["services/*", "infra"]')
    shared = 'paths = ["services/{0}/**", "libs/shared/**"]\n'
    write(root, {
        "infra/cbdeploy.toml": 'name = "infra"\n',
        "services/api/cbdeploy.toml": 'name = "api"\ndependsOn = ["infra"]\n'
                                      + shared.format("api"),
        "services/worker/cbdeploy.toml": 'name = "worker"\ndependsOn = ["infra"]\n'
                                         + shared.format("worker"),
        "services/web/cbdeploy.toml": 'name = "web"\n',
        "libs/shared/prices.py": "prices\n",
    })
    first = commit(root, "first")
    member = workspace_member(root)
    assert member is not None
    events: list[object] = []
    everything = ServiceSelector(member, Request(), "dev", events.append)
    picked = everything.pick(aws)
    assert {s.name for s in picked} == {"infra", "api", "worker", "web"}
    everything.deployed(aws, [s.name for s in picked], "batch:1")
    assert isinstance(events[-1], DeployRecorded) and events[-1].commit == first

    write(root, {"libs/shared/prices.py": "prices, cheaper\n"})
    commit(root, "cheaper")
    events.clear()
    affected = ServiceSelector(member, Request(affected=True), "dev", events.append)
    assert [s.name for s in affected.pick(aws)] == ["api", "worker"]
    shown = events[0]
    assert isinstance(shown, ServicesSelected)
    assert [p.reasons for p in shown.choice.picked] == [
        ("changed: libs/shared/prices.py matches libs/shared/**",)] * 2
    assert shown.choice.since == ((f"the last deploy to dev ({first[:7]})",
                                   tuple(s.name for s in member.workspace.services)),)


def test_destroying_a_stage_deletes_its_records_and_no_other_stages(aws: AwsClient) -> None:
    """A stage destroyed and made again starts without records: --affected must not take
    services as deployed there. Other stages of the workspace keep theirs."""
    from cbdeploy.client.infra.calls import Write, execute
    from cbdeploy.client.infra.destroy import plan_destroy

    app = f"ws{uuid.uuid4().hex[:10]}"
    tree = WorkTree("e" * 40, ())
    for stage in ("dev", "prod"):
        record_deployed(aws, bucket=ACCOUNT_BUCKET, app=app, stage=stage,
                        services=["api", "web"], tree=tree)
    calls = plan_destroy(aws, app, "dev")
    assert [(c.method, sorted(c.params["keys"])) for c in calls] == [
        (Write.DELETE_OBJECTS, [deployed_record_key(app, "dev", "api"),
                                deployed_record_key(app, "dev", "web")])]
    execute(aws, calls)
    assert DeployRecords(aws, ACCOUNT_BUCKET, app, "dev").read(["api", "web"]) == {}
    assert set(DeployRecords(aws, ACCOUNT_BUCKET, app, "prod").read(["api", "web"])) == {
        "api", "web"}
    assert plan_destroy(aws, app, "dev") == ()  # nothing left to delete


def test_service_picks_it_with_its_dependencies_and_no_deps_picks_it_alone(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """``--service`` at the root deploys the named service together with what it depends
    on, as one batch whose builds are exactly those; ``--no-deps`` leaves the dependency out.
    The batches really run on the emulator (each build echoes its service's name)."""
    root, _ = workspace_in_git(tmp_path, '["services/*", "infra"]')
    write(root, {
        "infra/cbdeploy.toml": 'name = "infra"\n[pipeline]\nbuild = ["echo built infra"]\n',
        "services/api/cbdeploy.toml": 'name = "api"\ndependsOn = ["infra"]\n'
                                      '[pipeline]\nbuild = ["echo built api"]\n',
        "services/web/cbdeploy.toml": 'name = "web"\n[pipeline]\nbuild = ["echo built web"]\n',
    })
    commit(root, "first")

    with_deps = cli(root, "deploy", "--yes", "--json", "--service", "api")
    assert with_deps.exit_code == 0, with_deps.output
    report = json.loads(with_deps.stdout)
    assert report["selection"] == [
        {"service": "infra", "reasons": ["dependency of api"]},
        {"service": "api", "reasons": ["requested"]},
    ]
    assert sorted(report["services"]) == ["api", "infra"]
    assert all(s["status"] == "SUCCEEDED" for s in report["services"].values())
    assert "built infra" in with_deps.stderr and "built api" in with_deps.stderr
    assert "built web" not in with_deps.stderr

    alone = cli(root, "deploy", "--yes", "--json", "--service", "api", "--no-deps")
    assert alone.exit_code == 0, alone.output
    report = json.loads(alone.stdout)
    assert report["selection"] == [{"service": "api", "reasons": ["requested"]}]
    assert list(report["services"]) == ["api"]
    assert "built infra" not in alone.stderr


def test_with_keep_going_the_services_that_succeeded_are_recorded_and_the_failed_is_not(
    cli: Callable[..., Result], aws: AwsClient, tmp_path: Path
) -> None:
    """A failed batch with --keep-going: the independent service that succeeded is deployed
    on the stage, so it is recorded; the failed one is not (its changes stay affected)."""
    root, name = workspace_in_git(tmp_path, '["services/*"]')
    write(root, {
        "services/good/cbdeploy.toml": 'name = "good"\n[pipeline]\nbuild = ["sleep 1"]\n',
        "services/bad/cbdeploy.toml": 'name = "bad"\n[pipeline]\nbuild = ["exit 3"]\n',
    })
    head = commit(root, "first")

    result = cli(root, "deploy", "--yes", "--json", "--keep-going")
    assert result.exit_code == 1, result.output
    statuses = {k: v["status"] for k, v in json.loads(result.stdout)["services"].items()}
    assert statuses == {"good": "SUCCEEDED", "bad": "FAILED"}
    good = record(aws, name, "good")
    assert good is not None and good["commit"] == head
    assert record(aws, name, "bad") is None
