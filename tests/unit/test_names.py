"""Names of what cbdeploy creates: no two (app, stage) pairs ever share one (issue 10, item 9)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from cbdeploy.client.config.model import NAME_RE, STAGE_RE
from cbdeploy.client.infra.names import (
    ROLE_NAME_MAX,
    cache_prefix,
    log_group_name,
    project_name,
    role_name,
    sources_prefix,
    stage_names,
    state_prefix,
)

ALPHABET = "ab1-"
PROJECT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_]{1,149}$")  # CodeBuild CreateProject
ROLE_RE = re.compile(r"^[\w+=,.@-]{1,64}$")  # IAM CreateRole
LOG_GROUP_RE = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")  # CloudWatch Logs CreateLogGroup


def words(max_length: int) -> list[str]:
    return [
        "".join(letters)
        for length in range(1, max_length + 1)
        for letters in itertools.product(ALPHABET, repeat=length)
    ]


APPS = [w for w in words(4) if NAME_RE.match(w)]
STAGES = [w for w in words(4) if STAGE_RE.match(w)]
PAIRS = list(itertools.product(APPS, STAGES))


def test_the_alphabet_gives_the_cases_that_collided() -> None:
    assert ("a-b", "a") in PAIRS and ("a", "b-a") in PAIRS  # 'coll-x'/'prod' vs 'coll'/'x-prod'
    assert len(PAIRS) > 10_000


def test_no_two_pairs_share_any_name() -> None:
    for kind, name_of in [
        ("project", project_name),
        ("role", lambda app, stage: role_name(app, stage, "us-east-1")),
        ("log group", log_group_name),
        ("sources prefix", sources_prefix),
        ("cache prefix", cache_prefix),
        ("state prefix", state_prefix),
    ]:
        seen: dict[str, tuple[str, str]] = {}
        for pair in PAIRS:
            name = name_of(*pair)
            assert name not in seen, f"{kind} {name}: {seen[name]} and {pair}"
            seen[name] = pair


def test_no_stage_prefix_or_log_group_contains_another_stages() -> None:
    """S3 grants end in ``<prefix>*`` and log grants in ``<group>:log-stream:*``: one stage's
    prefix must never begin another stage's, or its role would reach that stage."""
    for name_of in (sources_prefix, cache_prefix, state_prefix,
                    lambda a, s: log_group_name(a, s) + ":"):
        names = sorted(name_of(*pair) for pair in PAIRS)
        for shorter, longer in itertools.pairwise(names):
            assert not longer.startswith(shorter), (shorter, longer)


def test_roles_in_two_regions_differ() -> None:
    assert role_name("a", "b", "us-east-1") != role_name("a", "b", "eu-west-1")


def test_longest_names_fit_aws_limits() -> None:
    app, stage = "a" * 40, "s" + "-" * 10 + "1"
    assert NAME_RE.match(app) and STAGE_RE.match(stage)
    for region in ("us-east-1", "ap-southeast-2", "us-gov-west-1"):
        names = stage_names(app, stage, account="123456789012", region=region)
        assert PROJECT_RE.match(names.project)
        assert ROLE_RE.match(names.role) and len(names.role) <= ROLE_NAME_MAX
        assert LOG_GROUP_RE.match(names.log_group)
        # A name shortened with a hash still differs from its neighbour's.
        other = stage_names(app[:-1] + "b", stage, account="123456789012", region=region)
        assert names.role != other.role


def test_every_pair_gives_valid_aws_names() -> None:
    for app, stage in PAIRS[::97]:
        names = stage_names(app, stage, account="123456789012", region="eu-west-1")
        assert PROJECT_RE.match(names.project), names.project
        assert ROLE_RE.match(names.role), names.role
        assert LOG_GROUP_RE.match(names.log_group), names.log_group
        assert names.tags == {"cbdeploy:app": app, "cbdeploy:stage": stage}


def test_resource_names_are_built_in_names_py_only() -> None:
    """No f-string outside client/infra/names.py starts like one of cbdeploy's AWS names."""
    import ast

    client = Path(__file__).resolve().parents[2] / "client"
    prefixes = ("cbdeploy-", "cbdeploy/", "/cbdeploy/", "sources/", "cache/")
    builders = set()
    for path in client.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and str(head.value).startswith(prefixes):
                    builders.add(path.relative_to(client).as_posix())
    assert builders == {"infra/names.py"}
