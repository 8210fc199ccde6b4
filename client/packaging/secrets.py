"""Which selected files look like secrets (shipped if selected, but warned about)."""

from __future__ import annotations

import posixpath

_KEY_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
_TEMPLATE_SUFFIXES = (".example", ".sample", ".template", ".dist")
_NPM_TOKEN_MARKERS = (b"_authtoken", b"_auth=", b"_auth =", b"_password")
_CONTENT_LIMIT = 256 * 1024


# What makes a path a candidate, found in all paths at once (lowercased, a NUL before
# and after each, as no name holds one): a name starting with "." or "id_", ending in
# .pem or .key, or holding "credentials", or a ".aws" directory at any depth. Every
# path looks_secret() could say yes to is found (and a few more), with C-level searches
# through the text instead of Python work per path. A component's start is searched as
# "/" in a copy of the text with its NULs made slashes (a path's first component then
# starts after one too). ``True``: the marker must be in the last component (no "/"
# after it in its path), but for ".aws/".
_STARTS = (b"/.", b"/id_")
_MARKERS = ((b"credentials", True), (b".pem\0", False), (b".key\0", False))
_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_LOWER_SLASHED = bytes.maketrans(b"\0" + _UPPER, b"/" + _UPPER.lower())


def secret_candidates(paths: list[bytes], joined: bytes | None = None) -> set[bytes]:
    """A cheap first look at raw paths: a path not returned is not secret-looking.
    ``joined``, if given, is ``b"\\0" + b"\\0".join(paths) + b"\\0"``."""
    return _candidates(b"\0".join([b"", *paths, b""]) if joined is None else joined)


def _candidates(text: bytes) -> set[bytes]:
    """The paths of ``text`` (a NUL before and after each) that are candidates."""
    low = text.lower()
    found: set[bytes] = set()

    def add(at: int, after: int, in_name: bool) -> None:
        end = low.find(b"\0", at + 1)
        if not in_name or low.find(b"/", after, end) < 0:
            found.add(text[low.rfind(b"\0", 0, at + 1) + 1 : end])

    slashed = text.translate(_LOWER_SLASHED)  # (lowercased too: one copy, not two)
    for marker in _STARTS:
        at = slashed.find(marker)
        while at >= 0:
            after = at + len(marker)
            add(at, after, marker != b"/." or not low.startswith(b"aws/", after))
            at = slashed.find(marker, at + 1)
    for marker, in_name in _MARKERS:
        at = low.find(marker)
        while at >= 0:
            add(at, at + len(marker), in_name)
            at = low.find(marker, at + len(marker) - 1)  # a NUL may start the next
    return found


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
