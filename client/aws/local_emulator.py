"""Finding a standing ``cbdeploy emulator`` for ``--local``, and the file that lets us use it.

``cbdeploy emulator`` records its URL and key pair in a file only its user
can read (mode 0600, in ``$XDG_STATE_HOME/cbdeploy/emulators/``, by default
``~/.local/state/cbdeploy/emulators/``, one file per port) and removes it when
it stops. ``--local`` looks for the emulator at ``CBDEPLOY_EMULATOR_URL``, else
on the default port 4566 of 127.0.0.1. It is used when it answers as
cbdeploy's emulator (``GET /__cbdeploy/emulator``, which LocalStack, also on
4566 by default, does not serve) with the instance id the file recorded;
otherwise ``--local`` starts an emulator in-process. With
``CBDEPLOY_EMULATOR_URL`` set, an emulator that cannot be used is an error.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cbdeploy.client.errors import UsageError

DEFAULT_PORT = 4566
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
URL_VARIABLE = "CBDEPLOY_EMULATOR_URL"
SEED_VARIABLE = "CBDEPLOY_EMULATOR_SEED"  # the seed file of an emulator we start
IDENTITY_PATH = "/__cbdeploy/emulator"
IDENTITY_SERVICE = "cbdeploy-emulator"
PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class StandingEmulator:
    """What ``cbdeploy emulator`` recorded about itself."""

    url: str
    access_key_id: str
    secret_access_key: str
    region: str
    instance: str
    pid: int


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "cbdeploy" / "emulators"


def record_path(port: int, env: Mapping[str, str] | None = None) -> Path:
    return state_dir(env) / f"emulator-{port}.json"


def record(emulator: StandingEmulator, port: int, env: Mapping[str, str] | None = None) -> Path:
    """Write the record, readable by this user only; its path."""
    path = record_path(port, env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        json.dump(asdict(emulator), file)
    os.replace(temp, path)
    return path


def forget(path: Path, instance: str) -> None:
    """Remove the record if it is still this emulator's (a newer one may have replaced it)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("instance") == instance:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _read(path: Path) -> StandingEmulator | None:
    try:
        info = os.stat(path)
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            return None  # not ours, or readable by others: do not trust it
        data = json.loads(path.read_text(encoding="utf-8"))
        return StandingEmulator(**{k: data[k] for k in StandingEmulator.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def identity(url: str, timeout: float = PROBE_SECONDS) -> str | None:
    """The instance id of the cbdeploy emulator answering at ``url``, or None (nothing, or not ours)."""
    # Straight to the address: an HTTP proxy from the environment must not answer for it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url.rstrip("/") + IDENTITY_PATH, timeout=timeout) as answer:
            data = json.loads(answer.read(4096))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    if not isinstance(data, dict) or data.get("service") != IDENTITY_SERVICE:
        return None
    instance = data.get("instance")
    return instance if isinstance(instance, str) else None


def find(
    env: Mapping[str, str] | None = None,
    probe: Callable[[str], str | None] = identity,
) -> StandingEmulator | None:
    """The standing emulator ``--local`` should use, or None to start one in-process.

    Raises :class:`UsageError` when ``CBDEPLOY_EMULATOR_URL`` names one that cannot be used.
    """
    env = os.environ if env is None else env
    explicit = env.get(URL_VARIABLE, "").strip()
    url = explicit or DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{URL_VARIABLE}={explicit!r} is not an http:// URL.",
                         f"Set it to the URL 'cbdeploy emulator' printed, e.g. {DEFAULT_URL}.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    instance = probe(url)
    if instance is None:
        if explicit:
            raise UsageError(
                f"No cbdeploy emulator answers at {url} ({URL_VARIABLE}).",
                "Start one with 'cbdeploy emulator' in another terminal, or unset "
                f"{URL_VARIABLE} to let --local start one for this command.",
            )
        return None
    recorded = _read(record_path(port, env))
    if recorded is None or recorded.instance != instance:
        if explicit:
            raise UsageError(
                f"The cbdeploy emulator at {url} was not started by this user, or its "
                f"credentials file ({record_path(port, env)}) is missing.",
                "Start your own with 'cbdeploy emulator --port N' and point "
                f"{URL_VARIABLE} at it.",
            )
        return None
    return StandingEmulator(
        url=url.rstrip("/"), access_key_id=recorded.access_key_id,
        secret_access_key=recorded.secret_access_key, region=recorded.region,
        instance=instance, pid=recorded.pid,
    )
