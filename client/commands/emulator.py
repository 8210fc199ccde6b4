"""``cbdeploy emulator``: serve the local AWS endpoint until interrupted."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import time

import click

from client.errors import MissingExtraError, UsageError
from client.options import finite_callback


@click.command("emulator", short_help="Serve a local AWS endpoint that really runs builds.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=4566, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--fault-rate", default=0.0, type=click.FloatRange(0.0, 1.0), callback=finite_callback,
              help="Fraction of requests answered with a throttle, a 5xx or a dropped connection.")
@click.option("--fault-seed", default=None, type=int, help="Seed for the injected faults.")
def emulator_command(host: str, port: int, fault_rate: float, fault_seed: int | None) -> None:
    """Serve the local AWS endpoint: CodeBuild emulator plus moto (S3, Logs, IAM, STS, SSM,
    Secrets Manager). Builds run real commands as the current user.

    Point any AWS SDK or tool at it with the AWS_ENDPOINT_URL it prints.
    Needs the local extra: pip install 'cbdeploy[local]'.

    Examples:

    \b
      cbdeploy emulator --port 4566
      cbdeploy emulator --port 0 --fault-rate 0.05 --fault-seed 7
    """
    try:
        import emulator
    except ImportError as error:
        raise MissingExtraError(
            f"The local emulator needs moto, which is not installed ({error.name or error}).",
            hint="Install the extra: pip install 'cbdeploy[local]'",
        ) from error
    if not _is_loopback(host):
        click.echo(
            f"Warning: listening on {host}: builds run arbitrary commands as the current user; "
            "the emulator is not a sandbox. Anyone who can reach this address can run them.",
            err=True,
        )
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(
                emulator.running(host, port, fault_rate=fault_rate, fault_seed=fault_seed)
            )
        except OSError as error:
            raise UsageError(
                f"Cannot listen on {host}:{port}: {error.strerror or error}.",
                hint="Pick another port with --port (0 picks a free one).",
            ) from error
        click.echo(f"cbdeploy emulator listening on {url} (Ctrl-C to stop)", err=True)
        click.echo(f"export AWS_ENDPOINT_URL={url}")
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("Stopping the emulator.", err=True)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM stops like Ctrl-C, so running builds are stopped rather than orphaned.
    raise KeyboardInterrupt


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
