"""The one door to AWS: every boto3 call cbdeploy makes goes through here.

:func:`open_aws` builds an :class:`AwsClient` for a :class:`~client.cli.options.Target`:
credentials from ``--aws-profile``, the environment or the default chain, the
region from the target, endpoints from the standard ``AWS_ENDPOINT_URL*``
variables (botocore reads them), or, with ``--local``, a standing
``cbdeploy emulator`` with the keys it recorded, else an emulator in this
process with keys of its own (seeded from ``CBDEPLOY_EMULATOR_SEED``).

Methods have cbdeploy's names and return plain values or the frozen
dataclasses of :mod:`client.aws.results`; they live by service in mixins
(:mod:`client.aws.codebuild`, :mod:`client.aws.logs`, :mod:`client.aws.iam`,
:mod:`client.aws.lookups` for SSM, Secrets Manager and ECR, :mod:`client.aws.s3`)
that only go through :meth:`AwsClient.call`. AWS errors are translated once, in :meth:`AwsClient.call`
(:mod:`client.aws.errors`), by error code (never by message):
credential problems become :class:`CredentialsError`, missing resources
:class:`NotFoundError`, a second build of a stage :class:`BuildConflictError`,
an S3 refusal of ``ExpectedBucketOwner`` :class:`BucketOwnershipError`, and
anything else :class:`AwsError` carrying ``code``. Callers that expect a code
(``NoSuchEntity``, ``404`` ...) branch on ``AwsError.code``. Nothing here prints.

Connections: a 2 s connect timeout; a connection refused on loopback (no
emulator listening) fails at once; any other failure to connect is retried up
to ``CONNECT_ATTEMPTS`` times, each retry announced through
:mod:`client.aws.notices` (the CLI prints it), so an unreachable endpoint is
named within seconds. Everything after a connection is botocore's standard
retry mode. Modelled on chalice's ``TypedAWSClient``.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as bx
from botocore.config import Config

from cbdeploy.client.aws import local_emulator
from cbdeploy.client.aws.codebuild import CodeBuildMethods
from cbdeploy.client.aws.endpoint import Endpoint, from_client_url
from cbdeploy.client.aws.errors import translate_error
from cbdeploy.client.aws.iam import IamMethods
from cbdeploy.client.aws.logs import LogsMethods
from cbdeploy.client.aws.lookups import LookupMethods
from cbdeploy.client.aws.notices import notify
from cbdeploy.client.aws.s3 import S3Methods
from cbdeploy.client.collector import paused_then_frozen_gc
from cbdeploy.client.errors import (
    MissingExtraError,
    UsageError,
)
from cbdeploy.client.target import Target

PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
SEED_VARIABLE = local_emulator.SEED_VARIABLE


# A TCP connection to AWS takes well under a second; after 2 s without one the
# user hears that we retry (client.aws.notices), instead of 10 s of silence.
CONNECT_TIMEOUT = 2
# Attempts for a request that cannot connect at all (timeout, refused, no route,
# DNS): the endpoint is named after about 15 s, not after 10 attempts and minutes.
CONNECT_ATTEMPTS = 4


def _config(custom_endpoint: bool, *, polling: bool = False) -> Config:
    # Path-style S3 addressing on custom endpoints: ``bucket.localhost`` does not
    # resolve everywhere, while AWS itself keeps its default (virtual hosts).
    # Polling (the follower) retries on its own and must notice a lost endpoint
    # within seconds: botocore's ten attempts would keep it silent for minutes.
    return Config(
        retries={"mode": "standard", "max_attempts": 2 if polling else 10},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=20 if polling else 60,
        # Parallel multipart uploads plus the follower's polling share the pool.
        max_pool_connections=32,
        user_agent_extra="cbdeploy",
        s3={"addressing_style": "path"} if custom_endpoint else None,
    )


# --------------------------------------------------------------------------- client


def _not_transferring(request: Any, **_: Any) -> None:
    signal = getattr(request.body, "signal_not_transferring", None)
    if signal is not None:
        signal()


def _transferring(request: Any, **_: Any) -> None:
    signal = getattr(request.body, "signal_transferring", None)
    if signal is not None:
        signal()


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connection_retry(
    caught_exception: Exception | None = None, attempts: int = 1, endpoint: Any = None, **_: Any
) -> bool | None:
    """``needs-retry`` hook, run before botocore's own: how to treat a failed connection.

    Returns False (no retry) or None (botocore's standard policy decides). A
    connection refused on this machine means nothing listens there (an emulator
    that is not running): fail at once. Any other connection failure is retried
    up to ``CONNECT_ATTEMPTS`` times, each retry announced through
    :func:`client.aws.notices.notify`. Errors after a connection was made
    (throttling, 5xx, a dropped answer) are left to botocore.
    """
    if not isinstance(caught_exception, bx.ConnectionError):
        return None
    url = str(getattr(endpoint, "host", "") or "")
    refused = not isinstance(caught_exception, bx.ConnectTimeoutError)
    if (refused and _is_loopback(url)) or attempts >= CONNECT_ATTEMPTS:
        return False
    notify(f"{caught_exception}; retrying (attempt {attempts + 1} of {CONNECT_ATTEMPTS}).")
    return None


_calls = logging.getLogger("cbdeploy.aws")


def _log_call(service: str, op: str, began: float, answer: Any, outcome: str) -> None:
    """One line per call: ``codebuild StartBuild 120 ms, 2 retries -> ThrottlingException``."""
    retries = 0
    if isinstance(answer, dict):
        retries = int(answer.get("ResponseMetadata", {}).get("RetryAttempts") or 0)
    tries = f", {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    took = round((time.monotonic() - began) * 1000)
    _calls.debug("%s %s %d ms%s%s", service, op, took, tries, outcome)


class AwsClient(CodeBuildMethods, LogsMethods, IamMethods, LookupMethods, S3Methods):
    """Typed wrapper around the boto3 clients cbdeploy uses.

    Clients are created lazily, once per service, and shared between threads
    (boto3 clients are thread-safe; their creation is not, hence the lock).
    """

    def __init__(
        self,
        session: boto3.session.Session,
        region: str,
        *,
        endpoint_url: str | None = None,
        polling: bool = False,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.session = session
        self.region = region
        self.endpoint_url = endpoint_url
        self._endpoint = endpoint
        configured = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self._config = _config(custom_endpoint=bool(endpoint_url or configured), polling=polling)
        self._polling = polling
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account: str | None = None

    def for_polling(self) -> AwsClient:
        """The same door for a poller that retries on its own: quick to report a failure."""
        polling = type(self)(
            self.session, self.region, endpoint_url=self.endpoint_url, polling=True,
            endpoint=self._endpoint,
        )
        polling._account = self._account
        return polling

    @property
    def endpoint(self) -> Endpoint:
        """Where the calls go (CodeBuild's endpoint: AWS_ENDPOINT_URL*, a profile's, --local)."""
        if self._endpoint is None:
            self._endpoint = from_client_url(self.client("codebuild").meta.endpoint_url)
        return self._endpoint

    @property
    def partition(self) -> str:
        return str(self.session.get_partition_for_region(self.region))

    def uses_tls(self, service: str) -> bool:
        """Whether requests to ``service`` travel over https (not a local http endpoint)."""
        return str(self.client(service).meta.endpoint_url).startswith("https://")

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                try:
                    with paused_then_frozen_gc():  # (its models live as long as the door)
                        client = self.session.client(
                            service,
                            region_name=self.region,
                            endpoint_url=self.endpoint_url,
                            config=self._config,
                        )
                except bx.BotoCoreError as error:
                    raise translate_error(error, service, "client", {}) from error
                if not self._polling:
                    # (A poller says itself that it lost contact, and keeps trying.)
                    service_event = client.meta.service_model.service_id.hyphenize()
                    client.meta.events.register_first(
                        f"needs-retry.{service_event}", _connection_retry
                    )
                if service == "s3":
                    # Upload progress counts bytes sent, not bytes read to sign the
                    # request (as s3transfer does around the signer).
                    events = client.meta.events
                    events.register_first("request-created.s3", _not_transferring)
                    events.register_last("request-created.s3", _transferring)
                self._clients[service] = client
            return self._clients[service]

    def call(self, service: str, operation: str, **params: Any) -> Any:
        """Make one API call, translating every botocore error.

        At ``--log-level debug`` each call is one line on the ``cbdeploy.aws`` logger:
        the operation, how long it took, botocore's retries and the error code if any.
        """
        client = self.client(service)
        method = getattr(client, operation)
        began = time.monotonic()
        try:
            response = method(**params)
        except (bx.ClientError, bx.BotoCoreError) as error:
            op = client.meta.method_to_api_mapping.get(operation, operation)
            if _calls.isEnabledFor(logging.DEBUG):
                answer = getattr(error, "response", None) or {}
                code = answer.get("Error", {}).get("Code") or type(error).__name__
                _log_call(service, op, began, answer, f" -> {code}")
            raise translate_error(
                error, service, op, params, profile=self.session.profile_name
            ) from error
        if _calls.isEnabledFor(logging.DEBUG):
            op = client.meta.method_to_api_mapping.get(operation, operation)
            _log_call(service, op, began, response, "")
        return response

    def account_id(self) -> str:
        if self._account is None:
            self._account = str(self.call("sts", "get_caller_identity")["Account"])
        return self._account



@contextmanager
def open_aws(target: Target) -> Iterator[AwsClient]:
    """Yield an :class:`AwsClient` for ``target``.

    With ``--local``: a standing ``cbdeploy emulator`` when one of this user's
    answers (:mod:`client.aws.local_emulator`), signing with the keys it recorded;
    else an emulator started in this process for the command's duration.
    """
    if not target.local:
        yield AwsClient(_session(profile=target.profile, region=target.region), target.region)
        return
    standing = local_emulator.find()
    if standing is not None:
        with _without_profile():
            try:
                session = boto3.session.Session(
                    aws_access_key_id=standing.access_key_id,
                    aws_secret_access_key=standing.secret_access_key,
                    region_name=target.region,
                )
            except bx.BotoCoreError as error:  # e.g. a ~/.aws/config that does not parse
                raise translate_error(error, "sts", "session", {}) from error
            yield AwsClient(session, target.region, endpoint_url=standing.url,
                            endpoint=Endpoint(standing.url, "standing"))
        return
    try:
        # Lazy: moto (the [local] extra) is only needed with --local.
        emulator: Any = importlib.import_module("cbdeploy.emulator")
        running = emulator.running
        seeding: Any = importlib.import_module("cbdeploy.emulator.seed")
    except (ImportError, AttributeError) as error:
        raise MissingExtraError(
            "--local needs the local emulator, which is not installed.",
            "Install it with: pip install 'cbdeploy[local]'",
        ) from error
    seed = _local_seed(seeding)
    # The in-process endpoint checks signatures too: a pair of its own, known to this process only.
    credentials = emulator.Credentials.generate()
    with _without_profile(), running(credentials=credentials) as url:
        if seed is not None:
            seeding.apply(seed, target.region)
        try:
            session = boto3.session.Session(
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                region_name=target.region,
            )
        except bx.BotoCoreError as error:  # e.g. a ~/.aws/config that does not parse
            raise translate_error(error, "sts", "session", {}) from error
        yield AwsClient(session, target.region, endpoint_url=url,
                        endpoint=Endpoint(url, "in-process"))


def _local_seed(seeding: Any) -> Any:
    """The seed file ``CBDEPLOY_EMULATOR_SEED`` names, read and checked (None: no seed)."""
    path = os.environ.get(SEED_VARIABLE, "").strip()
    if not path:
        return None
    try:
        return seeding.load_seed(Path(path))
    except seeding.SeedError as error:
        raise UsageError(f"Bad seed file ({SEED_VARIABLE}): {error}.",
                         "See 'Seed file' in the README for its format.") from error


@contextmanager
def _without_profile() -> Iterator[None]:
    """Hide AWS_PROFILE while the in-process emulator runs.

    The user's profile means nothing to the emulator, but botocore (ours and
    moto's, in this process) refuses to start with a profile that does not
    exist here, as on a CI runner that sets one for the real account.
    """
    saved = {name: os.environ.pop(name) for name in PROFILE_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _session(profile: str | None, region: str) -> boto3.session.Session:
    try:
        return boto3.session.Session(profile_name=profile, region_name=region)
    except (bx.ProfileNotFound, bx.ConfigParseError) as error:
        raise translate_error(error, "sts", "session", {}) from error
