"""``cbdeploy emulator``: serve the local AWS endpoint until interrupted."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shlex
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cbdeploy.client.aws import local_emulator
from cbdeploy.client.cli.factory import command
from cbdeploy.client.cli.options import finite_callback, validate_region
from cbdeploy.client.errors import MissingExtraError, UsageError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SEED_VARIABLE = local_emulator.SEED_VARIABLE


@command("emulator", short_help="Serve a local AWS endpoint that really runs builds.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=local_emulator.DEFAULT_PORT, show_default=True,
              type=click.IntRange(0, 65535), help="Port to listen on (0: any free port).")
@click.option("--access-key-id", default=None,
              help="Access key id requests must be signed with (default: a random one).")
@click.option("--secret-access-key", default=None,
              help="Its secret access key (give both or neither).")
@click.option("--region", "-r", default=None,
              help="Region the banner exports and the seed goes to "
                   "(default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).")
@click.option("--seed", "seed_path", default=None, type=click.Path(dir_okay=False),
              help="TOML file of SSM parameters and Secrets Manager secrets to load at start "
                   f"(default: ${SEED_VARIABLE}). Keep it out of git.")
@click.option("--fault-rate", default=0.0, type=click.FloatRange(0.0, 1.0), callback=finite_callback,
              help="Fraction of requests answered with a throttle, a 5xx or a dropped connection.")
@click.option("--fault-seed", default=None, type=int, help="Seed for the injected faults.")
def emulator_command(host: str, port: int, access_key_id: str | None,
                     secret_access_key: str | None, region: str | None, seed_path: str | None,
                     fault_rate: float, fault_seed: int | None) -> None:
    """Serve the local AWS endpoint: CodeBuild emulator plus moto (S3, Logs, IAM, STS, SSM,
    Secrets Manager). Builds run real commands as the current user.

    Every request must be signed (AWS Signature Version 4) with the key pair
    the emulator prints at start: random unless --access-key-id and
    --secret-access-key are given. Paste the printed export lines into the
    shell that runs your AWS tools, or use --local, which finds this emulator
    on its default port (or at CBDEPLOY_EMULATOR_URL) and signs with the pair
    it recorded for you. Builds stop and their work directories go when the
    emulator ends, however it ends.
    Needs the local extra: pip install 'cbdeploy[local]'.

    Examples:

    \b
      cbdeploy emulator
      cbdeploy emulator --seed .cbdeploy-seed.toml
      cbdeploy emulator --port 0 --fault-rate 0.05 --fault-seed 7
    """
    _check_keys(access_key_id, secret_access_key)
    region = validate_region(
        region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    emulator, seeding = _emulator_modules()
    seed_path = seed_path or os.environ.get(SEED_VARIABLE) or None
    try:
        seed = seeding.load_seed(Path(seed_path)) if seed_path else None
    except seeding.SeedError as error:
        raise UsageError(f"Bad seed file: {error}.",
                         "See 'Seed file' in the README for its format.") from error
    if not _is_loopback(host):
        click.echo(
            f"Warning: listening on {host}: builds run arbitrary commands as the current user; "
            "the emulator is not a sandbox. Anyone who can reach this address with its keys "
            "can run them.",
            err=True,
        )
    credentials = (
        emulator.Credentials(access_key_id, secret_access_key)
        if access_key_id is not None and secret_access_key is not None
        else emulator.Credentials.generate()
    )
    # Signals stop like Ctrl-C: SIGTERM (a service manager, timeout) and SIGHUP
    # (a closed terminal) must also stop the builds and remove their work dirs.
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        _serve(emulator, host, port, credentials, region,
               (lambda: seeding.apply(seed, region)) if seed is not None else None, seed_path,
               fault_rate=fault_rate, fault_seed=fault_seed)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_keys(access_key_id: str | None, secret_access_key: str | None) -> None:
    if (access_key_id is None) != (secret_access_key is None):
        raise UsageError("--access-key-id and --secret-access-key go together.",
                         "Give both, or neither for a random pair.")
    if access_key_id is not None and (not access_key_id.strip() or not secret_access_key):
        raise UsageError("The access key id and secret must not be empty.",
                         "Give both, or neither for a random pair.")


def _emulator_modules() -> tuple[Any, Any]:
    """``cbdeploy.emulator`` and its seed module: only with the local extra (moto) installed."""
    try:
        import cbdeploy.emulator as emulator
        from cbdeploy.emulator import seed as seeding
    except ImportError as error:
        raise MissingExtraError(
            f"The local emulator needs moto, which is not installed ({error.name or error}).",
            hint="Install the extra: pip install 'cbdeploy[local]'",
        ) from error
    return emulator, seeding


def _serve(emulator: Any, host: str, port: int, credentials: Any, region: str,
           apply_seed: Callable[[], None] | None, seed_path: str | None, *, fault_rate: float,
           fault_seed: int | None) -> None:
    """Start the endpoint, record it for --local, serve until a signal; clean up however it ends."""
    with contextlib.ExitStack() as stack:
        try:
            endpoint = emulator.Endpoint(host, port, fault_rate=fault_rate,
                                         fault_seed=fault_seed, credentials=credentials)
        except OSError as error:
            raise UsageError(
                f"Cannot listen on {host}:{port}: {error.strerror or error}.",
                hint="Pick another port with --port (0 picks a free one).",
            ) from error
        if apply_seed is not None:
            apply_seed()
        endpoint.start()
        stack.callback(endpoint.stop)
        bound_port = int(endpoint.url.rsplit(":", 1)[1])
        standing = local_emulator.StandingEmulator(
            url=endpoint.url, access_key_id=credentials.access_key_id,
            secret_access_key=credentials.secret_access_key, region=region,
            instance=endpoint.instance, pid=os.getpid(),
        )
        path = local_emulator.record(standing, bound_port)
        stack.callback(local_emulator.forget, path, endpoint.instance)
        _banner(endpoint.url, credentials, region, path, seed_path)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("Stopping the emulator and its builds.", err=True)


def _banner(url: str, credentials: Any, region: str, path: Path, seed: str | None) -> None:
    exports = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    for name, value in exports.items():
        click.echo(f"export {name}={shlex.quote(value)}")
    click.echo(f"cbdeploy emulator listening on {url} (Ctrl-C to stop)", err=True)
    click.echo("Requests must be signed with the keys above: paste the export lines into the "
               "shell of your AWS tools.", err=True)
    port = int(url.rsplit(":", 1)[1])
    how = "" if port == local_emulator.DEFAULT_PORT else (
        f" with {local_emulator.URL_VARIABLE}={url} set")
    click.echo(f"'cbdeploy ... --local' uses this emulator{how} (keys recorded in {path}).",
               err=True)
    if seed:
        click.echo(f"Seeded parameters and secrets from {seed} into {region}.", err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
