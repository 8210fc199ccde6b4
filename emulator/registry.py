"""A real Docker registry behind the emulator's ECR: Debian's ``docker-registry``.

Started on first use (the first ECR request) on a free loopback port, with
its storage in a temporary directory, and stopped with the endpoint. Docker
treats registries on 127.0.0.0/8 as insecure-allowed by default, so
``docker login``/``push``/``pull`` work over plain HTTP without any daemon
setting. What ECR's DescribeImages and BatchGetImage report is read back
from the registry's own v2 API.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BINARIES = ("docker-registry", "registry")
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


class RegistryUnavailable(Exception):
    """No registry binary on this host, or it did not start."""


class Registry:
    """One registry process; :meth:`ensure` starts it, :attr:`host` is ``127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.host: str | None = None
        self._failed: str | None = None  # why it did not start: not tried again

    def ensure(self) -> str:
        with self._lock:
            if self.host is not None and self._process is not None and self._process.poll() is None:
                return self.host
            if self._failed is not None:
                raise RegistryUnavailable(self._failed)
            binary = next((found for b in BINARIES if (found := shutil.which(b))), None)
            if binary is None:
                raise RegistryUnavailable(
                    "no docker-registry binary on this host (apt-get install docker-registry)"
                )
            for _attempt in range(3):  # another process may take the free port first
                host = self._start(binary)
                if host is not None:
                    return host
            self._failed = f"{binary} did not start; see the emulator's log"
            raise RegistryUnavailable(self._failed)

    def _start(self, binary: str) -> str | None:
        self._dir = tempfile.TemporaryDirectory(prefix="cbdeploy-registry-")
        root = Path(self._dir.name)
        port = _free_port()
        config = root / "config.yml"
        config.write_text(CONFIG.format(root=root / "data", port=port), encoding="utf-8")
        with (root / "registry.log").open("wb") as log:
            self._process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        host = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{host}/v2/", timeout=1):
                    self.host = host
                    logger.info("registry %s serves %s", binary, host)
                    return host
            except (OSError, urllib.error.URLError):
                if self._process.poll() is not None:
                    break
                time.sleep(0.05)
        logger.warning(
            "registry on %s did not start: %s", host,
            (root / "registry.log").read_text(errors="replace")[-500:],
        )
        self._stop_locked()
        return None

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self.host = None

    # ------------------------------------------------------------------ v2 API

    def _get(self, path: str, accept: tuple[str, ...] = ()) -> tuple[dict[str, str], bytes] | None:
        assert self.host is not None
        request = urllib.request.Request(f"http://{self.host}{path}")
        if accept:
            request.add_header("Accept", ", ".join(accept))
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return dict(answer.headers.items()), answer.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def tags(self, repository: str) -> list[str]:
        found = self._get(f"/v2/{repository}/tags/list")
        if found is None:
            return []
        return sorted(json.loads(found[1]).get("tags") or [])

    def manifest(self, repository: str, reference: str) -> tuple[str, str, bytes] | None:
        """(digest, media type, raw manifest) of ``repository:reference``, or None."""
        found = self._get(f"/v2/{repository}/manifests/{reference}", MANIFEST_TYPES)
        if found is None:
            return None
        headers, body = found
        lowered = {k.lower(): v for k, v in headers.items()}
        media = lowered.get("content-type", "") or str(json.loads(body).get("mediaType", ""))
        return lowered.get("docker-content-digest", ""), media, body

    def images(self, repository: str) -> list[dict[str, Any]]:
        """Every manifest in ``repository`` with its tags and size, as ECR's imageDetails."""
        by_digest: dict[str, dict[str, Any]] = {}
        for tag in self.tags(repository):
            found = self.manifest(repository, tag)
            if found is None:
                continue
            digest, media, body = found
            detail = by_digest.get(digest)
            if detail is None:
                document = json.loads(body)
                size = sum(int(layer.get("size", 0)) for layer in document.get("layers") or ())
                size += int((document.get("config") or {}).get("size", 0))
                detail = by_digest[digest] = {
                    "imageDigest": digest,
                    "imageTags": [],
                    "imageSizeInBytes": size,
                    "imageManifestMediaType": media,
                    "artifactMediaType": (document.get("config") or {}).get("mediaType", ""),
                }
            detail["imageTags"].append(tag)
        return list(by_digest.values())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
