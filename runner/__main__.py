"""``python3 -I -S .cbdeploy/runner PLAN``: run a cbdeploy plan inside the build.

The buildspec runs this folder by path, in an isolated interpreter: no
PYTHONPATH is set for it, so the steps' environment is the build's own (a
project's PYTHONPATH stays as it is, and ``import runner`` in the project's
code finds the project's module, not this one). The folder's parent goes on
``sys.path`` below, inside this process only.

PLAN is ``<project>/.cbdeploy/plan.json`` (or, for a workspace's batch,
``<root>/.cbdeploy/services/<name>/plan.json``); the tree's root is the directory
holding ``.cbdeploy`` (or the current directory for a plan kept elsewhere). A
plan with a ``folder`` (a workspace's service) runs its pipeline in that folder
of the tree, with ``CBDEPLOY_WORKSPACE_ROOT`` set to the tree's root.
The first line printed announces the token that signs the markers
(``runner.markers``). Before the pipeline, links and executable bits are restored from
``.cbdeploy/manifest.json``. Exit status: 0 when every step succeeded, the
failing step's status (1..255) otherwise, 2 for a missing or malformed plan
or a delta whose tree cannot be rebuilt exactly (``runner.delta``: checked
before any step runs).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

if not __package__:
    # Run by path: sys.path[0] is this folder. Import the package from its
    # parent instead (python -m runner, as tests may use, needs nothing).
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))
    # The folder is the package (shipped as `runner`, installed as
    # `cbdeploy.runner`): import it, then let the relative imports below find it.
    __package__ = _here.name
    __import__(__package__)

from .delta import DeltaError, is_delta, load, merge, settle_modes, verify
from .files import restore_files
from .markers import announce, say
from .pipeline import PlanError, Runner, install_signal_forwarding, load_plan


def project_root(plan_path: Path) -> Path:
    for parent in plan_path.resolve().parents:
        if parent.name == ".cbdeploy":
            return parent.parent
    return Path.cwd()


WORKSPACE_ROOT_VARIABLE = "CBDEPLOY_WORKSPACE_ROOT"


PREPARED = "prepared"  # in .cbdeploy/: the tree was made by a --prepare run


def main(argv: list[str]) -> int:
    prepare_only = bool(argv) and argv[0] == "--prepare"
    args = argv[1:] if prepare_only else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        say("usage: python3 -I -S PATH/TO/.cbdeploy/runner [--prepare] PATH/TO/.cbdeploy/plan.json")
        return 2
    plan_path = Path(args[0])
    root = project_root(plan_path)
    marker = plan_path.resolve().parent / PREPARED
    if prepare_only:
        # In the install phase, with no token announced: the markers belong to
        # the run in the build phase, and nothing of the project has run yet.
        status = prepare_tree(root)
        if status == 0:
            marker.write_text("", encoding="utf-8")
        return status
    # First, before anything the plan says runs: the token that signs the
    # markers (see runner/markers.py).
    announce()
    try:
        plan = load_plan(plan_path)
    except PlanError as error:
        say(str(error))
        return 2
    if not marker.exists():
        status = prepare_tree(root)
        if status != 0:
            return status
    if plan.folder is not None:
        folder = root / plan.folder
        if not folder.is_dir():
            say(f"the service folder {plan.folder} is not in the shipped workspace")
            return 2
        environ = dict(os.environ)
        environ[WORKSPACE_ROOT_VARIABLE] = str(root)
        runner = Runner(plan=plan, root=folder, environ=environ)
    else:
        runner = Runner(plan=plan, root=root)
    install_signal_forwarding(runner)
    return runner.run()


def prepare_tree(root: Path) -> int:
    """Make the project's tree: merge a delta with its base, restore links and
    modes, verify the tree hash. 0, or 2 with the reason said."""
    expected = None
    began = time.monotonic()
    try:
        if is_delta(root):
            doc = load(root)
            name = f"CODEBUILD_SRC_DIR_{doc.get('sourceIdentifier')}"
            base = os.environ.get(name)
            if not base:
                raise DeltaError(f"{name} is not set: the build has no base source")
            expected = merge(root, Path(base), doc)
    except DeltaError as error:
        say(f"cannot rebuild the project's tree from the delta: {error}")
        return 2
    changed = restore_files(root, lambda message: say("warning: " + message))
    if changed:
        say(f"restored {len(changed)} symbolic link(s) and executable bit(s) lost in extraction")
    if expected is not None:
        try:
            settle_modes(root, expected)
            verify(root, expected)
        except DeltaError as error:
            say(f"refusing to run the pipeline: {error}")
            return 2
        say(f"rebuilt the tree from the delta and its base: {len(expected)} files, hash "
            f"verified, in {time.monotonic() - began:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
