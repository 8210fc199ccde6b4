"""A monorepo workspace: a root ``cbdeploy.toml`` with ``[workspace]`` and its services.

The root file declares the folders that hold services, as glob patterns
relative to the root (``services = ["services/*", "infra"]``); each such
folder holding a ``cbdeploy.toml`` is one service, named by that file's
``name`` (default: the folder's name, as for any project). A service's file
keeps the usual format and may add ``dependsOn`` (names of services of the
workspace that deploy before it) and ``paths`` (gitwildmatch patterns relative
to the workspace root naming the files whose changes affect it; default: its
own folder). Matching uses the ``pathspec`` library's ``GitIgnoreSpec``
(gitwildmatch patterns, ``!`` negation, last match wins, as in a .gitignore);
which files are *shipped* is git's business, not this module's.

Problems are :class:`ConfigError` naming the file and line: a service pattern
outside the root or matching no service, a cycle in ``dependsOn``, an unknown
service, two services with one name, a service folder that resolves outside the
workspace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cbdeploy.client.config import toml
from cbdeploy.client.config.lines import find_key_line
from cbdeploy.client.config.load import CONFIG_FILE, default_name, read_config_text
from cbdeploy.client.config.model import NAME_RE
from cbdeploy.client.config.schema import NAME_HINT
from cbdeploy.client.errors import ConfigError

if TYPE_CHECKING:
    import pathspec  # (imported where a workspace is read: a project alone never needs it)

WORKSPACE_KEYS = frozenset({"services"})
_GLOB_CHARS = frozenset("*?[")


def _no_paths() -> pathspec.PathSpec:
    """The patterns of a service built by hand: none, so it matches no path."""
    import pathspec

    return pathspec.PathSpec([])


@dataclass(frozen=True)
class Service:
    """One service of a workspace. ``folder`` is POSIX, relative to the workspace root."""

    name: str
    folder: str
    path: Path  # its cbdeploy.toml
    depends_on: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    _spec: pathspec.PathSpec = field(default_factory=_no_paths, compare=False, repr=False)

    def matches(self, relative_path: str) -> bool:
        """Whether a change to ``relative_path`` (POSIX, from the root) affects this service."""
        return self._spec.match_file(relative_path)

    def pattern_for(self, relative_path: str) -> str | None:
        """The pattern of ``paths`` that makes ``relative_path`` affect this service, or None."""
        result = self._spec.check_file(relative_path)
        if not result.include or result.index is None:
            return None
        # (An index into the spec's patterns, which drops blank lines: not into ``paths``.)
        return str(getattr(self._spec.patterns[result.index], "pattern", "")) or None


@dataclass(frozen=True)
class Workspace:
    """The workspace: its root folder and file, and its services in dependency order."""

    name: str
    root: Path
    path: Path
    services: tuple[Service, ...]

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(s.name for s in self.services)
        raise ConfigError(
            f"No service {name!r} in the workspace {self.path}.", f"The services are: {known}."
        )

    def service_at(self, folder: Path) -> Service | None:
        """The service whose folder is ``folder`` (an absolute path), or None."""
        try:
            relative = Path(folder).resolve().relative_to(self.root)
        except ValueError:
            return None
        posix = relative.as_posix() or "."
        return next((s for s in self.services if s.folder == posix), None)

    def with_dependencies(self, names: Iterable[str]) -> tuple[Service, ...]:
        """The named services and everything they depend on, in dependency order."""
        wanted: set[str] = set()
        stack = [self.service(n).name for n in names]
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(self.service(name).depends_on)
        return tuple(s for s in self.services if s.name in wanted)

    def affected(self, changed: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """For each service some of ``changed`` (root-relative POSIX paths) affect: those files."""
        files = sorted(set(changed))
        found: dict[str, tuple[str, ...]] = {}
        for service in self.services:
            hits = tuple(f for f in files if service.matches(f))
            if hits:
                found[service.name] = hits
        return found


def find_workspace_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` whose cbdeploy.toml has a ``[workspace]`` table."""
    folder = Path(start).resolve()
    for candidate in (folder, *folder.parents):
        config = candidate / CONFIG_FILE
        try:
            present = config.is_file()
        except OSError:  # (a folder we may not search: the project's own checks say so)
            continue
        if present and "workspace" in _document(config, read_config_text(config)):
            return candidate
    return None


def load_workspace(root: Path) -> Workspace:
    """Read the workspace whose root file is ``root/cbdeploy.toml``; ConfigError if it is wrong."""
    root = Path(root).resolve()
    path = root / CONFIG_FILE
    text = read_config_text(path)
    document = _document(path, text)
    table = document.get("workspace")
    _need(isinstance(table, dict), path, text, "workspace", "must be a table with services = [...]")
    assert isinstance(table, dict)
    unknown = sorted(set(table) - WORKSPACE_KEYS)
    _need(not unknown, path, text, f"workspace.{unknown[0] if unknown else ''}",
          "is not a workspace setting", "A [workspace] table holds services = [...] only.")
    patterns = _strings(table.get("services"), path, text, "workspace.services")
    _need(bool(patterns), path, text, "workspace.services",
          "must name at least one service folder", 'For example services = ["services/*"].')
    name = document.get("name") or default_name(root)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _error(path, text, "name", f"{name!r} is not a valid workspace name", NAME_HINT)
    folders = _service_folders(root, path, text, patterns)
    services = [_service(root, folder, path, text) for folder in folders]
    _check_names(services, path, text)
    _check_dependencies(services)
    return Workspace(name=name, root=root, path=path, services=_ordered(services))


# --- services --------------------------------------------------------------------------


def _service_folders(root: Path, path: Path, text: str, patterns: Sequence[str]) -> list[str]:
    folders: list[str] = []
    for pattern in patterns:
        posix = PurePosixPath(pattern.replace("\\", "/").rstrip("/") or ".")
        _need(
            not posix.is_absolute() and ".." not in posix.parts,
            path, text, "workspace.services",
            f"{pattern!r} is outside the workspace",
            "Give service folders relative to the workspace root, without '..'.",
        )
        if _GLOB_CHARS & set(pattern):
            found = sorted(p for p in root.glob(posix.as_posix()) if (p / CONFIG_FILE).is_file())
            _need(bool(found), path, text, "workspace.services",
                  f"{pattern!r} matches no folder holding a {CONFIG_FILE}",
                  f"Add a {CONFIG_FILE} to each service folder, or fix the pattern.")
        else:
            found = [root / posix]
            _need((root / posix / CONFIG_FILE).is_file(), path, text, "workspace.services",
                  f"{pattern!r} holds no {CONFIG_FILE}",
                  f"Each service folder needs its own {CONFIG_FILE} (cbdeploy init writes one).")
        for folder in found:
            resolved = folder.resolve()
            inside = resolved == root or root in resolved.parents
            _need(inside, path, text, "workspace.services",
                  f"service folder {folder.relative_to(root).as_posix()} resolves to {resolved}, "
                  "outside the workspace",
                  "A service must live inside the workspace root; replace the link by the folder.")
            relative = resolved.relative_to(root).as_posix() or "."
            if relative not in folders:
                folders.append(relative)
    return folders


def _service(root: Path, folder: str, workspace_path: Path, workspace_text: str) -> Service:
    path = root / folder / CONFIG_FILE
    if folder == ".":
        text, document = workspace_text, _document(workspace_path, workspace_text)
    else:
        text = read_config_text(path)
        document = _document(path, text)
        _need("workspace" not in document, path, text, "workspace",
              "a service cannot declare a workspace of its own",
              f"Declare [workspace] once, in {workspace_path}.")
    name = document.get("name", default_name(root / folder))
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _error(path, text, "name", f"{name!r} is not a valid project name", NAME_HINT)
    depends_on = _strings(document.get("dependsOn", []), path, text, "dependsOn")
    default_paths = ["**"] if folder == "." else [f"{folder}/**"]
    paths = _strings(document.get("paths", default_paths), path, text, "paths")
    for pattern in paths:
        posix = PurePosixPath(pattern)
        _need(bool(pattern.strip()) and ".." not in posix.parts, path, text, "paths",
              f"{pattern!r} must be a pattern inside the workspace",
              "Patterns are relative to the workspace root, without '..'.")
    import pathspec

    try:
        spec = pathspec.GitIgnoreSpec.from_lines(paths)
    except ValueError as error:  # pathspec's GitWildMatchPatternError
        raise _error(path, text, "paths", f"not a valid pattern: {error}",
                     "Use gitignore-style patterns such as libs/shared/** or *.lock.") from None
    return Service(name=name, folder=folder, path=path, depends_on=depends_on,
                   paths=paths, _spec=spec)


def _check_names(services: list[Service], path: Path, text: str) -> None:
    seen: dict[str, Service] = {}
    for service in services:
        first = seen.get(service.name)
        if first is not None:
            service_text = read_config_text(service.path)
            key = "name" if find_key_line(service_text, "name") else "workspace.services"
            where_path, where_text = (service.path, service_text) if key == "name" else (path, text)
            raise _error(
                where_path, where_text, key,
                f"two services are named {service.name!r}: {first.folder} and {service.folder}",
                "Give each service its own name = \"...\" in its cbdeploy.toml.",
            )
        seen[service.name] = service


def _check_dependencies(services: list[Service]) -> None:
    by_name = {s.name: s for s in services}
    for service in services:
        for dependency in service.depends_on:
            if dependency not in by_name:
                known = ", ".join(sorted(by_name))
                raise _error(service.path, read_config_text(service.path), "dependsOn",
                             f"names {dependency!r}, which is not a service of the workspace",
                             f"The services are: {known}.")
            if dependency == service.name:
                raise _error(service.path, read_config_text(service.path), "dependsOn",
                             f"{service.name} cannot depend on itself")
    # A cycle: follow dependencies depth-first, remembering the path walked.
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "walking":
            cycle = [*trail[trail.index(name):], name]
            first = by_name[cycle[0]]
            raise _error(first.path, read_config_text(first.path), "dependsOn",
                         f"dependency cycle: {' -> '.join(cycle)}",
                         "Remove one of these dependsOn entries to break the cycle.")
        state[name] = "walking"
        for dependency in by_name[name].depends_on:
            visit(dependency, [*trail, name])
        state[name] = "done"

    for service in services:
        visit(service.name, [])


def _ordered(services: list[Service]) -> tuple[Service, ...]:
    """Dependencies first; otherwise the declared order (the graph has no cycle here)."""
    done: list[Service] = []
    names: set[str] = set()
    remaining = list(services)
    while remaining:
        for service in remaining:
            if set(service.depends_on) <= names:
                done.append(service)
                names.add(service.name)
                remaining.remove(service)
                break
    return tuple(done)


# --- reading and errors ----------------------------------------------------------------


def _document(path: Path, text: str) -> dict[str, Any]:
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as error:
        raise ConfigError(
            f"{path}: not valid TOML: {error}",
            "Fix the syntax there: strings in quotes, arrays in [ ], one key = value a line.",
        ) from None


def _strings(raw: Any, path: Path, text: str, key: str) -> tuple[str, ...]:
    _need(isinstance(raw, list) and all(isinstance(item, str) for item in raw),
          path, text, key, "must be an array of strings")
    return tuple(raw)


def _need(condition: bool, path: Path, text: str, key: str, message: str,
          hint: str | None = None) -> None:
    if not condition:
        raise _error(path, text, key, message, hint)


def _error(path: Path, text: str, key: str, message: str, hint: str | None = None) -> ConfigError:
    line = find_key_line(text, key)
    where = f"{path}:{line}" if line else str(path)
    return ConfigError(
        f"{where}: {key}: {message}", hint or f"Change {key} in {where}, then run the command again."
    )
