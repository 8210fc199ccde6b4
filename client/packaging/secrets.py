"""Which selected files look like secrets (shipped if selected, but warned about)."""

from __future__ import annotations

import posixpath
import re

_KEY_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
_TEMPLATE_SUFFIXES = (".example", ".sample", ".template", ".dist")
_NPM_TOKEN_MARKERS = (b"_authtoken", b"_auth=", b"_auth =", b"_password")
_CONTENT_LIMIT = 256 * 1024


# Matches, one path per line, every raw path looks_secret() could say yes to (and a few
# more): one C-level scan of all paths instead of Python string work per path.
_MAYBE = re.compile(
    rb"^(?:[^\n]*/)?(?:\.[^/\n]*|id_[^/\n]*|[^/\n]*\.(?:pem|key)|[^/\n]*credentials[^/\n]*"
    rb"|\.aws/[^\n]*)$",
    re.MULTILINE | re.IGNORECASE,
)


def secret_candidates(paths: list[bytes]) -> set[bytes]:
    """A cheap first look at raw paths: a path not returned is not secret-looking."""
    if any(b"\n" in path for path in paths):
        return {path for path in paths if _MAYBE.fullmatch(path.replace(b"\n", b"\0"))}
    return set(_MAYBE.findall(b"\n".join(paths)))


def looks_secret(path: str, full_path: bytes) -> bool:
    """True for ``.env*``, ``*.pem``, ``*.key``, private SSH keys, an ``.npmrc`` holding a
    token and AWS credentials files. ``full_path`` is read only for the last two."""
    name = posixpath.basename(path)
    lower = name.lower()
    if lower.startswith(".env"):
        return not lower.endswith(_TEMPLATE_SUFFIXES)
    if lower.endswith((".pem", ".key")):
        return True
    if lower.startswith(_KEY_PREFIXES):
        return not lower.endswith(".pub")
    if lower == ".npmrc":
        return any(marker in _head(full_path).lower() for marker in _NPM_TOKEN_MARKERS)
    if lower == "credentials" and posixpath.basename(posixpath.dirname(path)) == ".aws":
        return True
    if "credentials" in lower or posixpath.basename(posixpath.dirname(path)) == ".aws":
        return b"aws_secret_access_key" in _head(full_path).lower()
    return False


def _head(full_path: bytes) -> bytes:
    try:
        with open(full_path, "rb") as handle:
            return handle.read(_CONTENT_LIMIT)
    except OSError:
        return b""
