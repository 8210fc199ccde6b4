"""A workspace's services as ONE CodeBuild batch build of type build-graph, as data.

Decided from the configs, the chosen services and the git state alone (no AWS): the files
added to the archive, the batch buildspec sent as StartBuildBatch's ``buildspecOverride``
and the request itself. Layout added to the shipped workspace root::

    .cbdeploy/runner/<module>.py                  the runner, once
    .cbdeploy/services/<name>/plan.json           each service's plan ("folder": its folder)
    .cbdeploy/services/<name>/buildspec.yml       each service's buildspec: the runner on
                                                  that plan; its secrets in env/parameter-store
                                                  and env/secrets-manager (a graph entry's env
                                                  takes plain variables only)

The batch buildspec (CodeBuild's "Batch build buildspec reference")::

    version: 0.2
    batch:
      fast-fail: true            # false with --keep-going
      build-graph:
        - identifier: shop_infra # letters, digits, underscores: the name with '-' -> '_'
          buildspec: .cbdeploy/services/shop-infra/buildspec.yml
          depend-on: []          # the service's dependsOn, among the chosen services
          env:
            type: LINUX_CONTAINER
            compute-type: BUILD_GENERAL1_SMALL
            image: aws/codebuild/standard:7.0
            privileged-mode: false
            variables: {STAGE: dev, CBDEPLOY_SERVICE: shop-infra, ...}

Each build tells its service by ``CBDEPLOY_SERVICE`` (no state is kept on the client: a
watch, ``logs`` or ``builds`` reads it back from the build's environment).
A service with its own ``codebuild.buildspec`` runs that file (at the workspace root).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from cbdeploy.client.config.model import ProjectConfig
from cbdeploy.client.config.schema import secret_reference
from cbdeploy.client.config.statedir import NAME as STATE_DIR
from cbdeploy.client.config.workspace import Service
from cbdeploy.client.deploy.buildspec import buildspec_data
from cbdeploy.client.deploy.delta import BASE_SOURCE
from cbdeploy.client.deploy.runner_plan import (
    RUNNER_DIR,
    environment_variables,
    plan_bytes,
    runner_modules,
)
from cbdeploy.client.deploy.workspace_deploy import SERVICE_VARIABLE
from cbdeploy.client.packaging.gitcmd import GitInfo

SERVICES_DIR = f"{STATE_DIR}/services"
_TEMPLATE_PLAN = f"{STATE_DIR}/plan.json"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,127}$")


@dataclass(frozen=True)
class BatchEntry:
    """One service's build in the graph."""

    service: str
    identifier: str
    buildspec: str  # its path in the archive
    depend_on: tuple[str, ...]  # identifiers
    compute_type: str
    image: str
    environment_type: str
    privileged_mode: bool
    variables: Mapping[str, str]


@dataclass(frozen=True)
class BatchPlan:
    project: str
    invocation_id: str
    fast_fail: bool
    timeout_in_minutes: int  # each build's (StartBuildBatch's buildTimeoutInMinutesOverride)
    no_cache: bool
    entries: tuple[BatchEntry, ...]
    buildspec: str  # the batch buildspec (buildspecOverride)
    files: Mapping[str, bytes] = field(repr=False, compare=False)  # added to the archive

    @property
    def runs_runner(self) -> bool:
        """Whether every build runs cbdeploy's runner (no service has its own buildspec)."""
        return all(e.buildspec.startswith(SERVICES_DIR + "/") for e in self.entries)

    @property
    def services(self) -> tuple[tuple[str, str], ...]:
        """(service name, batch identifier), in dependency order."""
        return tuple((e.service, e.identifier) for e in self.entries)


def identifier(service: str) -> str:
    """The batch identifier of a service: letters, digits and underscores only."""
    mapped = service.replace("-", "_")
    assert _IDENTIFIER.match(mapped), service  # NAME_RE allows [a-z0-9-] only
    return mapped


def service_dir(service: str) -> str:
    return f"{SERVICES_DIR}/{service}"


def make_batch_plan(
    chosen: Sequence[Service],
    configs: Mapping[str, ProjectConfig],
    *,
    project: str,
    stage: str,
    region: str,
    git: GitInfo | None,
    invocation_id: str,
    keep_going: bool = False,
    no_cache: bool = False,
) -> BatchPlan:
    """The batch for ``chosen`` (in dependency order); ``configs`` by service name.

    A ``dependsOn`` naming a service that is not chosen is dropped from ``depend-on``
    (``--no-deps`` deploys a service without what it depends on).
    """
    names = {s.name for s in chosen}
    files: dict[str, bytes] = {
        f"{RUNNER_DIR}/{name}": content for name, content in runner_modules().items()
    }
    entries = []
    for service in chosen:
        config = configs[service.name]
        folder = None if service.folder == "." else service.folder
        base = service_dir(service.name)
        files[f"{base}/plan.json"] = plan_bytes(config, stage, region, folder)
        if config.codebuild.buildspec:
            buildspec = f"{service.folder}/{config.codebuild.buildspec}".removeprefix("./")
        else:
            buildspec = f"{base}/buildspec.yml"
            files[buildspec] = service_buildspec(config, f"{base}/plan.json").encode("utf-8")
        entries.append(_entry(service, config, buildspec, names, stage, region, git))
    spec = batch_buildspec(entries, fast_fail=not keep_going)
    return BatchPlan(
        project=project,
        invocation_id=invocation_id,
        fast_fail=not keep_going,
        timeout_in_minutes=max(configs[s.name].codebuild.timeout_in_minutes for s in chosen),
        no_cache=no_cache,
        entries=tuple(entries),
        buildspec=spec,
        files=files,
    )


def _entry(
    service: Service, config: ProjectConfig, buildspec: str, chosen: set[str], stage: str,
    region: str, git: GitInfo | None,
) -> BatchEntry:
    variables = {
        v["name"]: v["value"]
        for v in environment_variables(config, stage, region, git)
        if v["type"] == "PLAINTEXT"
    }
    variables[SERVICE_VARIABLE] = service.name
    return BatchEntry(
        service=service.name,
        identifier=identifier(service.name),
        buildspec=buildspec,
        depend_on=tuple(identifier(d) for d in service.depends_on if d in chosen),
        compute_type=config.codebuild.compute_type,
        image=config.codebuild.image,
        environment_type=config.codebuild.environment_type,
        privileged_mode=config.codebuild.privileged_mode or bool(config.images),
        variables=variables,
    )


def service_buildspec(config: ProjectConfig, plan_path: str) -> str:
    """The runner's buildspec for one service: its plan, cache paths and secrets."""
    assert not config.codebuild.buildspec, "a service's own buildspec is shipped as written"
    spec = buildspec_data(config)
    for phase in spec["phases"].values():
        phase["commands"] = [c.replace(_TEMPLATE_PLAN, plan_path) for c in phase["commands"]]
    stores: dict[str, dict[str, str]] = {}
    for name, reference in sorted(config.secrets.items()):
        kind, value = secret_reference(reference)
        key = "parameter-store" if kind == "PARAMETER_STORE" else "secrets-manager"
        stores.setdefault(key, {})[name] = value
    spec["env"] = {**spec.get("env", {}), **stores}
    return _dump(spec)


def batch_buildspec(entries: Sequence[BatchEntry], *, fast_fail: bool) -> str:
    graph: list[dict[str, Any]] = []
    for entry in entries:
        graph.append({
            "identifier": entry.identifier,
            "buildspec": entry.buildspec,
            "depend-on": list(entry.depend_on),
            "env": {
                "type": entry.environment_type,
                "compute-type": entry.compute_type,
                "image": entry.image,
                "privileged-mode": entry.privileged_mode,
                "variables": dict(entry.variables),
            },
        })
    return _dump({"version": 0.2, "batch": {"fast-fail": fast_fail, "build-graph": graph}})


def start_batch_request(
    plan: BatchPlan, bucket: str, key: str, base_key: str | None = None
) -> dict[str, Any]:
    """The StartBuildBatch parameters. The invocation id is the idempotency token;
    ``base_key``: the upload is a delta, its base goes as the secondary source."""
    request: dict[str, Any] = {
        "projectName": plan.project,
        "sourceTypeOverride": "S3",
        "sourceLocationOverride": f"{bucket}/{key}",
        "buildspecOverride": plan.buildspec,
        "buildTimeoutInMinutesOverride": plan.timeout_in_minutes,
        "idempotencyToken": plan.invocation_id,
    }
    if plan.no_cache:
        request["cacheOverride"] = {"type": "NO_CACHE"}
    if base_key is not None:
        request["secondarySourcesOverride"] = [
            {"type": "S3", "location": f"{bucket}/{base_key}", "sourceIdentifier": BASE_SOURCE}
        ]
    return request


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False, width=1000)
