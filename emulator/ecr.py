"""The emulator's ECR: moto's API for repositories and logins, a real registry for images.

moto keeps the repositories (CreateRepository, DescribeRepositories, tags,
GetAuthorizationToken ...). Its answers name AWS's registry host
(``<account>.dkr.ecr.<region>.amazonaws.com``); here they name the registry
process the emulator runs (:mod:`emulator.registry`), so ``repositoryUri``
and ``proxyEndpoint`` are ``127.0.0.1:<port>/<name>`` and
``http://127.0.0.1:<port>``, and ``docker login``/``push``/``pull`` work.
DescribeImages, BatchGetImage and ListImages are answered from what was
really pushed to that registry (moto knows nothing of pushes).
With no registry binary on the host, moto's answers pass unchanged (so
bootstrap still creates repositories), except GetAuthorizationToken, which
fails naming what is missing.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from cbdeploy.emulator import backends
from cbdeploy.emulator.registry import Registry, RegistryUnavailable

logger = logging.getLogger(__name__)

PREFIX = "AmazonEC2ContainerRegistry_V20150921."
_AWS_HOST = re.compile(r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
FROM_REGISTRY = ("DescribeImages", "BatchGetImage", "ListImages")

Wsgi = Callable[[dict[str, Any], Any], Iterable[bytes]]


class ImageApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EcrFront:
    """Serves ECR requests: those about images from the registry, the rest through moto."""

    def __init__(self, moto: Wsgi) -> None:
        self.moto = moto
        self.registry = Registry()

    def stop(self) -> None:
        self.registry.stop()

    def __call__(
        self, environ: dict[str, Any], start_response: Any, operation: str, region: str
    ) -> Iterable[bytes]:
        try:
            host = self.registry.ensure()
        except RegistryUnavailable as error:
            logger.warning("ECR without a registry: %s", error)
            if operation == "GetAuthorizationToken":
                # Nothing could log in or push: say what is missing instead of naming
                # AWS's registry host, which docker would fail to reach.
                payload = json.dumps(
                    {"__type": "ServerException",
                     "message": f"the local emulator cannot serve images: {error}"}
                ).encode()
                start_response("500 Internal Server Error", [
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("Content-Length", str(len(payload))),
                ])
                return [payload]
            return self.moto(environ, start_response)
        if operation in FROM_REGISTRY:
            return self._images(environ, start_response, operation, region)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        answer = self.moto(environ, capture)
        try:
            body = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        text = _AWS_HOST.sub(host, body.decode("utf-8")).replace(
            f"https://{host}", f"http://{host}"
        )
        data = text.encode("utf-8")
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(data)))])
        return [data]

    def _images(
        self, environ: dict[str, Any], start_response: Any, operation: str, region: str
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ]
        try:
            result = self._answer(operation, region, body)
            status, payload = "200 OK", json.dumps(result).encode()
        except ImageApiError as error:
            status = "400 Bad Request"
            payload = json.dumps({"__type": error.code, "message": error.message}).encode()
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    def _answer(self, operation: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("repositoryName", ""))
        registry_id = str(body.get("registryId") or backends.ACCOUNT_ID)
        if not _repository_exists(registry_id, region, name):
            raise ImageApiError(
                "RepositoryNotFoundException",
                f"The repository with name '{name}' does not exist in the registry with id "
                f"'{registry_id}'",
            )
        details = self.registry.images(name)
        wanted = body.get("imageIds") or []
        if operation == "ListImages":
            return {
                "imageIds": [
                    {"imageDigest": d["imageDigest"], "imageTag": t}
                    for d in details
                    for t in d["imageTags"]
                ]
            }
        base = {"registryId": registry_id, "repositoryName": name}
        if operation == "DescribeImages":
            chosen = _described(details, wanted, name, registry_id)
            return {"imageDetails": [{**base, **d} for d in chosen]}
        return self._batch_get(details, wanted, base)

    def _batch_get(
        self, details: list[dict[str, Any]], wanted: list[dict[str, Any]], base: dict[str, str]
    ) -> dict[str, Any]:
        """BatchGetImage: each wanted image with its manifest, or a failure naming it."""
        name = base["repositoryName"]
        images, failures = [], []
        for image_id in wanted:
            hit = next((d for d in details if _matches(d, image_id)), None)
            if hit is None:
                failures.append(
                    {
                        "imageId": image_id,
                        "failureCode": "ImageNotFound",
                        "failureReason": "Requested image not found",
                    }
                )
                continue
            manifest = self.registry.manifest(name, hit["imageDigest"])
            assert manifest is not None
            images.append(
                {
                    **base,
                    "imageId": {
                        "imageDigest": hit["imageDigest"],
                        "imageTag": image_id.get("imageTag") or hit["imageTags"][0],
                    },
                    "imageManifest": manifest[2].decode("utf-8"),
                    "imageManifestMediaType": manifest[1],
                }
            )
        return {"images": images, "failures": failures}


def _matches(detail: dict[str, Any], image_id: dict[str, Any]) -> bool:
    tag, digest = image_id.get("imageTag"), image_id.get("imageDigest")
    return (tag is None or tag in detail["imageTags"]) and (
        digest is None or digest == detail["imageDigest"]
    )


def _described(
    details: list[dict[str, Any]], wanted: list[dict[str, Any]], name: str, registry_id: str
) -> list[dict[str, Any]]:
    """DescribeImages: every image, or the wanted ones (each must exist), without repeats."""
    if not wanted:
        return details
    chosen: list[dict[str, Any]] = []
    for image_id in wanted:
        found = [d for d in details if _matches(d, image_id)]
        if not found:
            raise ImageApiError(
                "ImageNotFoundException",
                f"The image with imageId {json.dumps(image_id)} does not exist "
                f"within the repository with name '{name}' in the registry with "
                f"id '{registry_id}'",
            )
        chosen += [d for d in found if d not in chosen]
    return chosen

def _repository_exists(account: str, region: str, name: str) -> bool:
    from moto.ecr.models import ecr_backends

    try:
        return name in ecr_backends[account][region].repositories
    except KeyError:
        return False
