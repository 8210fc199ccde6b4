"""The one place that chooses the TOML parser: ``tomllib`` (Python 3.11+), else ``tomli``.

Import ``loads`` and ``TOMLDecodeError`` from here; nothing else in client/ imports either.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from tomllib import TOMLDecodeError as TOMLDecodeError
    from tomllib import loads as loads
else:  # pragma: no cover - exercised on Python 3.10 only
    from tomli import TOMLDecodeError as TOMLDecodeError
    from tomli import loads as loads
