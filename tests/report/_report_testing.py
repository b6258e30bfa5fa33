"""Helpers of the report tests (imported by name: tests/report is on sys.path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from procession import ProcessBase
from procession._report import Report


class StandInAction:
    """Test-only stand-in for an Action, which the reports read through two
    members only: ``processes`` and Execo's ``stats()`` (its processes'
    stats as ``sub_stats``, aggregated)."""

    def __init__(self, processes: Sequence[ProcessBase], name: str) -> None:
        self.processes = list(processes)
        self.name = name

    def stats(self) -> dict[str, Any]:
        stats = Report.empty_stats()
        stats["name"] = self.name
        stats["sub_stats"] = [p.stats() for p in self.processes]
        return Report.aggregate_stats(stats)
