"""The local AWS endpoint: one threaded werkzeug server in this process.

Requests whose ``X-Amz-Target`` starts with ``CodeBuild_20161006.`` go to the
emulator's CodeBuild; every other request goes to moto's server application,
so S3, CloudWatch Logs, IAM, STS, SSM and Secrets Manager share their state
with the builds. In front of both sit seeded fault injection and the S3
checks moto does not make (``x-amz-expected-bucket-owner``, checksums).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import re
import socket
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from cbdeploy.emulator import ecr, s3_checks
from cbdeploy.emulator.auth import Credentials, Refusal, Verifier, allowed_hosts, error_response
from cbdeploy.emulator.codebuild_api import ApiError, CodeBuildApi
from cbdeploy.emulator.ecr import EcrFront
from cbdeploy.emulator.faults import FaultInjector, fault_response

CODEBUILD_PREFIX = "CodeBuild_20161006."
# Unsigned, answered only by cbdeploy's emulator: how ``--local`` tells it from LocalStack.
IDENTITY_PATH = "/__cbdeploy/emulator"
IDENTITY_SERVICE = "cbdeploy-emulator"
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

logger = logging.getLogger("emulator")


class _QuietHandler(MotoRequestHandler):
    """moto's request handler, without werkzeug's line per request on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s %s", self.command, self.path, code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug(format, *args)


def credential_scope(environ: dict[str, Any]) -> tuple[str | None, str | None]:
    """(region, service) from a SigV4 Authorization header, or (None, None)."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (match.group(2), match.group(3)) if match else (None, None)


def access_key_id(environ: dict[str, Any]) -> str | None:
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else None


class EndpointApp:
    """The WSGI application: the Host rule, SigV4, fault injection, then CodeBuild or moto.

    moto's management routes (``/moto-api``) are not served over HTTP: code in
    this process that needs them uses moto's Python API.
    """

    def __init__(
        self,
        codebuild: CodeBuildApi,
        faults: FaultInjector,
        verifier: Verifier,
        host_allowed: Callable[[str], bool],
        instance: str,
    ) -> None:
        self.codebuild = codebuild
        self.faults = faults
        self.verifier = verifier
        self.host_allowed = host_allowed
        self.instance = instance
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.ecr = EcrFront(self.moto)  # moto's ECR in front of a real registry

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "")
        if not self.host_allowed(host):
            # A name we did not bind: DNS rebinding from a web page, or a mistake.
            logger.warning("refused a request for Host %r", host)
            refused = error_response(Refusal("foreign-host"), _protocol(environ))
            return _respond(start_response, *refused)
        path = environ.get("PATH_INFO", "")
        if "/".join(part for part in path.split("/") if part).startswith("moto-api"):
            # (Whatever the slashes: werkzeug's routing would merge them.)
            return _respond(start_response, 404, {"Content-Type": "text/plain"}, b"Not Found\n")
        if path == IDENTITY_PATH and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps({"service": IDENTITY_SERVICE, "instance": self.instance}).encode()
            return _respond(start_response, 200, {"Content-Type": "application/json"}, body)
        refusal = self.verifier.check(environ)
        if refusal is not None:
            logger.info("refused an unsigned or wrongly signed request: %s", refusal.kind)
            return _respond(start_response, *error_response(refusal, _protocol(environ)))
        kind = self.faults.decide()
        if kind == "drop":
            _drop_connection(environ)
        if kind == "drop-after":
            # The request takes effect, its answer is lost: what idempotency tokens are for.
            answer = self._serve(environ, lambda *args: None)
            for _ in answer:
                pass
            if hasattr(answer, "close"):
                answer.close()
            _drop_connection(environ, body_read=True)
        if kind is not None:
            status, headers, body = fault_response(kind, _protocol(environ))
            return _respond(start_response, status, headers, body)
        return self._serve(environ, start_response)

    def _serve(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(CODEBUILD_PREFIX):
            return self._codebuild(environ, start_response, target[len(CODEBUILD_PREFIX):])
        region, service = credential_scope(environ)
        if target.startswith(ecr.PREFIX):
            return self.ecr(environ, start_response, target[len(ecr.PREFIX):], region or "us-east-1")
        if service == "s3":
            refusal = s3_checks.check(environ)
            if refusal is not None:
                return _respond(start_response, *refusal)
        return self.moto(environ, start_response)

    def _codebuild(self, environ: dict[str, Any], start_response: Any, operation: str) -> Iterable[bytes]:
        region = credential_scope(environ)[0] or "us-east-1"
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": str(uuid.uuid4())}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError as error:
                raise ApiError("SerializationException", "The request body is not valid JSON") from error
            if not isinstance(body, dict):
                raise ApiError("SerializationException", "The request body must be a JSON object")
            result = self.codebuild.handle(operation, region, body, access_key_id(environ))
        except ApiError as error:
            payload = {"__type": error.code, "message": error.message}
            return _respond(start_response, 400, headers, json.dumps(payload).encode())
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            # A request of the wrong shape (botocore validates, raw callers may not).
            logger.debug("bad CodeBuild request %s", operation, exc_info=True)
            payload = {"__type": "InvalidInputException", "message": f"Invalid request: {error}"}
            return _respond(start_response, 400, headers, json.dumps(payload).encode())
        except Exception:
            logger.exception("CodeBuild %s failed", operation)
            payload = {"__type": "InternalFailure", "message": "The emulator failed; see its log"}
            return _respond(start_response, 500, headers, json.dumps(payload).encode())
        return _respond(start_response, 200, headers, json.dumps(result).encode())


_live: weakref.WeakSet[Endpoint] = weakref.WeakSet()


@atexit.register
def _stop_live_endpoints() -> None:
    # Builds run in process groups of their own: do not leave them behind when
    # the interpreter exits without leaving ``running()`` (an uncaught signal, os._exit aside).
    for endpoint in list(_live):
        endpoint.stop()


class Endpoint:
    """The running server: ``url`` while started; ``stop`` ends builds and the server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fault_rate: float = 0.0,
        fault_seed: int | None = None,
        minute_seconds: float = 60.0,
        credentials: Credentials | None = None,
    ) -> None:
        self.credentials = credentials or Credentials.generate()
        self.instance = uuid.uuid4().hex
        self.faults = FaultInjector(fault_rate, fault_seed)
        self.codebuild = CodeBuildApi(
            lambda: self.url, minute_seconds=minute_seconds, credentials=self.credentials
        )
        # Bind ourselves: werkzeug calls sys.exit() when the port is taken; we raise OSError.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, port), family=family) as listener:
            self._server: BaseWSGIServer = make_server(
                host, port, lambda environ, start: self.app(environ, start), threaded=True,
                request_handler=_QuietHandler, fd=listener.fileno(),
            )
        bound_host, bound_port = self._server.server_address[:2]
        self.app = EndpointApp(
            self.codebuild, self.faults, Verifier(self.credentials),
            allowed_hosts(host, bound_port), self.instance,
        )
        url_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
        if ":" in url_host and not url_host.startswith("["):
            url_host = f"[{url_host}]"
        self.url = f"http://{url_host}:{bound_port}"
        # A short poll interval makes stop() (and so every --local run) end promptly.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        _live.add(self)

    def stop(self) -> None:
        if self not in _live:
            return
        _live.discard(self)
        self.codebuild.shutdown()
        self.app.ecr.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _protocol(environ: dict[str, Any]) -> str:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return "query"
    return "rest-xml"


def _drop_connection(environ: dict[str, Any], body_read: bool = False) -> None:
    """Read the request (unless done), then close the socket without any response."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length and not body_read:
        environ["wsgi.input"].read(length)
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionResetError("fault injection: connection dropped")


def _respond(start_response: Any, status: int, headers: dict[str, str], body: bytes) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
              421: "Misdirected Request", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(status, "Error")
    start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
    return [body]
