"""Where a command's build runs: region, endpoint and ``--local``, known once.

The output session (``client.output.session``) learns it when the AWS door
opens and hands it to every presenter, so no event has to carry it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cbdeploy.client.aws.endpoint import AWS, Endpoint


@dataclass(frozen=True)
class Place:
    region: str | None = None
    local: bool = False  # --local
    endpoint: Endpoint = AWS  # where the calls go, when not AWS itself

    @property
    def on_aws(self) -> bool:
        """Whether the build runs on AWS itself (it has a console page)."""
        return not self.local and self.endpoint.url is None

    @property
    def ends_with_us(self) -> bool:
        """Whether the build runs in an emulator in this process (no command can find it later)."""
        return self.local and not self.endpoint.standing

    @property
    def endpoint_label(self) -> str | None:
        """What a header's ``Endpoint:`` row says; None for AWS itself (no row)."""
        if self.endpoint.url is not None:
            return self.endpoint.label
        return "local emulator (--local)" if self.local else None

    @property
    def flags(self) -> str:
        """What a printed command needs to reach the endpoint again (`` --local``)."""
        return self.endpoint.flags
