"""Helpers shared by the g5k tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from procession import Host


@dataclass(frozen=True)
class OarTestbed:
    """Coordinates of the running OAR testbed."""

    frontend: Host
    node_params: dict[str, Any]
    addresses: dict[str, str]

    def hosts_of(self, site: str) -> list[str]:
        return sorted(n for n in self.addresses if f".{site}." in n)
