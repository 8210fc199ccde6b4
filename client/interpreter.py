"""The command line of a helper process of cbdeploy: the packaging workers, the AWS agent.

A leaf module, so that ``packaging`` and ``aws`` (one layer, which do not import each
other) both start their processes the same way.

The helper's interpreter is this one, isolated (-I: no PYTHON* variables, no user
site), with this process's import path: cbdeploy is found wherever it was found here
(a venv, an editable install, a zipapp that set sys.path). Without the site module
(-S: its .pth files cost a helper more than its own imports): the paths they add
come with sys.path, and the one thing they may add that a path does not carry,
the import hook of an editable install, is replaced by naming the namespace
package's folder (the one that holds this client/, wherever it was installed).
Never a fork: the same on macOS as on Linux.
"""

from __future__ import annotations

import os
import sys

_IMPORT_PATH = (
    "import sys; sys.path[:] = sys.argv[2:]; "
    "namespace = type(sys)('cbdeploy'); namespace.__path__ = [sys.argv[1]]; "
    "sys.modules['cbdeploy'] = namespace; "
)
CBDEPLOY_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def helper_command(code: str) -> list[str]:
    """This interpreter, isolated and without site, running ``code`` with this process's
    import path."""
    return [sys.executable, "-I", "-S", "-c", _IMPORT_PATH + code, CBDEPLOY_DIR, *sys.path]
