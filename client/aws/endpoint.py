"""Where a command's AWS calls go: AWS itself, an endpoint of the user's, or cbdeploy's emulator.

Shown in every command's header when it is not AWS (``Endpoint: <url>``),
reported as ``endpoint`` in ``--json``, and deciding what can be printed: no
AWS console link for a build that is not on AWS; re-attach commands with
``--local`` for a standing emulator; none that could work for an in-process
one, whose builds end with the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# Hosts of AWS's own endpoints, in every partition.
AWS_DOMAINS = (
    ".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov",
    ".cloud.adc-e.uk", ".csp.hci.ic.gov", ".amazonaws.eu",
)
KINDS = ("aws", "custom", "standing", "in-process")


@dataclass(frozen=True)
class Endpoint:
    url: str | None = None  # None: AWS itself
    kind: str = "aws"  # aws, custom (AWS_ENDPOINT_URL...), standing or in-process emulator

    @property
    def label(self) -> str:
        """What the header shows after ``Endpoint:``."""
        if self.kind == "standing":
            return f"{self.url} (cbdeploy emulator, --local)"
        if self.kind == "in-process":
            return f"{self.url} (emulator in this process, --local: it ends with the command)"
        return self.url or "AWS"

    @property
    def standing(self) -> bool:
        return self.kind == "standing"

    @property
    def in_process(self) -> bool:
        return self.kind == "in-process"

    @property
    def flags(self) -> str:
        """What a printed cbdeploy command needs to reach the same endpoint again."""
        return " --local" if self.standing else ""


AWS = Endpoint()


def from_client_url(url: str | None) -> Endpoint:
    """The endpoint botocore resolved for a client: AWS's own hosts, or a custom one."""
    host = (urlsplit(url).hostname or "") if url else ""
    if not host or host.endswith(AWS_DOMAINS):
        return AWS
    return Endpoint(str(url).rstrip("/"), "custom")
