"""Which paths are flagged as secret-looking; the cheap pre-check never hides one."""

from __future__ import annotations

import itertools
import os
import random
import re
from pathlib import Path

from cbdeploy.client.packaging.secrets import looks_secret, secret_candidates

NAMES = [
    ".env",
    ".env.local",
    ".env.production",
    ".env.example",
    ".envrc",
    "env",
    "id_rsa",
    "id_rsa.pub",
    "id_ed25519",
    "id_ecdsa_sk",
    "server.pem",
    "SERVER.PEM",
    "tls.key",
    "tls.keys",
    "keyboard.py",
    "credentials",
    "aws-credentials",
    "credentials.json",
    ".npmrc",
    "npmrc",
    "config",
    "README.md",
    ".gitignore",
    "app.py",
]
DIRS = ["", "a/", ".aws/", "home/.aws/", "deep/er/"]


def test_names_that_look_like_secrets(tmp_path: Path) -> None:
    flagged = {n for n in NAMES if looks_secret(n, os.fsencode(tmp_path / "absent"))}
    assert flagged == {
        ".env",
        ".env.local",
        ".env.production",
        ".envrc",
        "id_rsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "server.pem",
        "SERVER.PEM",
        "tls.key",
    }


def test_content_decides_for_npmrc_and_credentials_files(tmp_path: Path) -> None:
    cases = {
        ".npmrc": (b"//registry.npmjs.org/:_authToken=npm_abc\n", True),
        "web/.npmrc": (b"registry=https://registry.npmjs.org/\n", False),
        "legacy/.npmrc": (b"_auth = dXNlcjpwYXNz\n", True),
        ".aws/credentials": (b"[default]\n", True),
        ".aws/config": (b"[default]\nregion = eu-west-1\n", False),
        "ops/ci-credentials": (b"aws_secret_access_key = abc\n", True),
        "ops/credentials.md": (b"How we rotate credentials.\n", False),
    }
    for path, (content, expected) in cases.items():
        full = tmp_path / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content)
        assert looks_secret(path, os.fsencode(full)) is expected, path


def test_the_pre_check_lets_through_every_secret(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"_authToken aws_secret_access_key")
    paths = [d + n for d, n in itertools.product(DIRS, NAMES)]
    for candidates in (
        secret_candidates([os.fsencode(p) for p in paths]),
        secret_candidates([os.fsencode(p) for p in paths] + [b"new\nline"]),  # one per path
    ):
        for path in paths:
            if looks_secret(path, os.fsencode(tmp_path / "f")):
                assert os.fsencode(path) in candidates, path
        assert b"src/app.py" not in candidates and b"keyboard.py" not in candidates
        assert b"my.aws/x" not in candidates and b"home/.aws/config" in candidates


# The pre-check's definition as one regular expression (too slow to scan with: it
# backtracks across each line), kept as the oracle for the marker search.
_CANDIDATE = re.compile(
    rb"(?:[^\n]*/)?(?:\.[^/\n]*|id_[^/\n]*|[^/\n]*\.(?:pem|key)|[^/\n]*credentials[^/\n]*"
    rb"|\.aws/[^\n]*)",
    re.IGNORECASE,
)


def test_the_pre_check_matches_its_definition_on_random_paths() -> None:
    rng = random.Random(7)
    parts = [
        b".",
        b"/",
        b"id_",
        b"ID_",
        b".aws",
        b".AWS",
        b"credentials",
        b"Credentials",
        b"x",
        b".pem",
        b".KEY",
        b"pem",
        b"key",
        b"/.",
        b"aws",
        b"_",
        b"\n",
        b"\xff",
    ]
    for _ in range(3000):
        names = {b"".join(rng.choices(parts, k=rng.randint(1, 6))) for _ in range(12)}
        paths = sorted(names)
        expected = {p for p in paths if _CANDIDATE.fullmatch(p.replace(b"\n", b"\0"))}
        assert secret_candidates(paths) == expected, paths
