"""The emulator's ECR front without a registry binary on the host: what it says."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from cbdeploy.emulator.ecr import PREFIX, EcrFront
from cbdeploy.emulator.registry import Registry, RegistryUnavailable


def test_no_registry_binary_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RegistryUnavailable, match="apt-get install docker-registry"):
        Registry().ensure()


def test_login_without_a_registry_fails_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    front = EcrFront(DomainDispatcherApplication(create_backend_app))

    def call(operation: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raw = json.dumps(body).encode()
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "4566", "HTTP_HOST": "127.0.0.1:4566",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(raw),
            "CONTENT_LENGTH": str(len(raw)), "CONTENT_TYPE": "application/x-amz-json-1.1",
            "HTTP_X_AMZ_TARGET": PREFIX + operation,
            "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
            "ecr/aws4_request, SignedHeaders=host, Signature=0",
        }
        statuses: list[str] = []
        answer = b"".join(front(environ, lambda s, h: statuses.append(s), operation, "us-east-1"))
        return statuses[0], json.loads(answer)

    status, body = call("GetAuthorizationToken", {})
    assert status.startswith("500") and "docker-registry" in body["message"]
    # Repositories still come from moto: bootstrap works on a machine without Docker,
    # and the URI is AWS's (nothing to rewrite it to).
    status, body = call("CreateRepository", {"repositoryName": "no-registry-here"})
    assert status.startswith("200")
    assert body["repository"]["repositoryUri"].endswith(".amazonaws.com/no-registry-here")
