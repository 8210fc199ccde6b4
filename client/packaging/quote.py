"""Paths printed as ``git ls-files`` prints them (``core.quotePath`` left at true).

A path with a control character, a double quote, a backslash or any byte from
0x80 up is written in double quotes with C escapes (``\\t``, ``\\n``, ``\\"``,
``\\\\``, other bytes as three octal digits); any other path is written as is.
This is git's ``quote_c_style`` (quote.c), so a listing can be compared with
git's line for line, and a newline inside a name cannot pass for two names.
"""

from __future__ import annotations

import re

_NAMED = {0x07: b"a", 0x08: b"b", 0x09: b"t", 0x0A: b"n", 0x0B: b"v", 0x0C: b"f", 0x0D: b"r"}


def _escape(byte: int) -> bytes | None:
    if byte in (0x22, 0x5C):  # " and \
        return b"\\" + bytes([byte])
    if byte in _NAMED:
        return b"\\" + _NAMED[byte]
    if byte < 0x20 or byte >= 0x7F:
        return b"\\%03o" % byte
    return None


_TABLE = [_escape(byte) for byte in range(256)]
_NEEDS_QUOTES = re.compile(rb'[\x00-\x1f"\\\x7f-\xff]')


def quote_path(name: bytes) -> bytes:
    """``name`` as ``git ls-files`` shows it (without ``-z``)."""
    if _NEEDS_QUOTES.search(name) is None:
        return name
    out = bytearray(b'"')
    for byte in name:
        escaped = _TABLE[byte]
        if escaped is None:
            out.append(byte)
        else:
            out += escaped
    out += b'"'
    return bytes(out)
