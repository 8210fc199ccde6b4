"""Local AWS endpoint: cbdeploy's CodeBuild emulator in front of moto.

``running()`` starts the endpoint in a background thread of this process and
yields its URL; point any AWS SDK at it (``AWS_ENDPOINT_URL``). CodeBuild
requests are answered by the emulator, which really runs builds as the
current user (it is not a sandbox); everything else is answered by moto.

Importing this package imports moto: client code imports it lazily and turns
an ImportError into "install cbdeploy[local]".

The endpoint is locked (``auth``): every request must be signed (SigV4)
with the key pair given at start (``credentials``; random when not given) or
keys moto issued through it, and addressed to the address it bound; moto's
``/moto-api`` routes are not served over HTTP. Builds get the pair, and a
``watchdog`` process kills them and removes their work directories if this
process dies without stopping them.

Modules: ``server`` (the endpoint, routing, fault injection), ``auth``,
``watchdog``, ``seed`` (parameters and secrets loaded at start), ``codebuild_api``
(the CodeBuild operations), ``runner`` (one build through its phases),
``shell`` (the build's shell session), ``buildspec``, ``source`` (the zip),
``logs`` (CloudWatch output), ``backends`` (moto state the builds use),
``faults``, ``s3_checks``.

Not emulated: CodeBuild's CBOR protocol (botocore sends JSON 1.1), Docker
images (the host is the build image: ``python3`` is this interpreter, with
boto3), batch builds, artifacts other than NO_ARTIFACTS, reports, VPCs.
Everything lives in moto's default account 123456789012.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cbdeploy.emulator.auth import Credentials
from cbdeploy.emulator.server import Endpoint

__all__ = ["Credentials", "Endpoint", "running"]


@contextmanager
def running(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    fault_rate: float = 0.0,
    fault_seed: int | None = None,
    minute_seconds: float = 60.0,
    credentials: Credentials | None = None,
) -> Iterator[str]:
    """Serve the endpoint on ``host:port`` (0: a free port) and yield its URL.

    ``fault_rate``/``fault_seed``: answer that seeded fraction of client
    requests with a throttle, a 500/503 or a dropped connection.
    ``minute_seconds``: how long one minute of ``timeoutInMinutes`` lasts, so
    tests can reach a build's timeout in a second or two (keep 60 otherwise).
    ``credentials``: the key pair every request must be signed with (SigV4);
    random when not given (then only ``Endpoint.credentials`` knows it).
    On exit, running builds are stopped and the server shuts down.
    """
    endpoint = Endpoint(
        host, port, fault_rate=fault_rate, fault_seed=fault_seed, minute_seconds=minute_seconds,
        credentials=credentials,
    )
    endpoint.start()
    try:
        yield endpoint.url
    finally:
        endpoint.stop()
