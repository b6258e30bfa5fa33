"""Report: Execo's summary of processes and actions, plus grouped output and JSON.

A report holds objects with a ``stats()`` method (processes, actions, other
reports) and reads their statistics when asked, so it can be made before a
run and printed after it. Reading never blocks and may be done from any
thread while processes run (the numbers are then a snapshot).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, Final, Protocol, runtime_checkable

from .._time import format_seconds, format_unixts
from ._grouped import GroupedOutput, group_outputs
from ._records import flatten_processes, host_address, process_record

__all__ = ["COUNT_KEYS", "HasStats", "Report"]

COUNT_KEYS: Final = (
    "num_processes",
    "num_started",
    "num_ended",
    "num_errors",
    "num_timeouts",
    "num_forced_kills",
    "num_non_zero_exit_codes",
    "num_expect_fail",
    "num_write_error",
    "num_ok",
    "num_finished_ok",
)
"""The counters of a stats dict, summed by :meth:`Report.aggregate_stats`."""

_NARROW_HEADER: Final = (
    "Name                            start               end                 total  \n"
    " length         startd ended  error  timout fkilld expfld wrterr ret!=0 ok     \n"
)
_WIDE_HEADER: Final = (
    "Name                            start               end                 length         "
    "startd ended  error  timout fkilld expfld wrterr ret!=0 ok     total  \n"
)
_NARROW_RULE: Final = "-" * 79 + "\n"
_WIDE_RULE: Final = "-" * 157 + "\n"
# The counters shown, in the order of the column headers above.
_COLUMNS: Final = (
    "num_started",
    "num_ended",
    "num_errors",
    "num_timeouts",
    "num_forced_kills",
    "num_expect_fail",
    "num_write_error",
    "num_non_zero_exit_codes",
    "num_ok",
)


@runtime_checkable
class HasStats(Protocol):
    """What a report accepts: anything with Execo's ``stats()``."""

    def stats(self) -> dict[str, Any]:
        """Execo's statistics dict (see :meth:`Report.stats`)."""


def _date(ts: float | None) -> str:
    return format_unixts(ts) or "None"


def _format_line(stats: dict[str, Any], indent: int, wide: bool) -> str:
    name = " " * indent + str(stats.get("name"))
    start, end = stats.get("start_date"), stats.get("end_date")
    length = format_seconds(end - start) if start and end else ""
    counts = "".join(f"{stats[key]!s:<7.7}" for key in _COLUMNS)
    if wide:
        return (
            f"{name:<31.31} {_date(start):<19.19} {_date(end):<19.19} {length:<15.15}"
            f"{counts}{stats['num_processes']!s:<7.7}\n"
        )
    return (
        f"{name:<31.31} {_date(start):<19.19} {_date(end):<19.19} "
        f"{stats['num_processes']!s:<7.7}\n {length:<15.15}{counts}\n"
    )


def _sort_key(stats: dict[str, Any]) -> float:
    return stats.get("start_date") or sys.maxsize


class Report:
    """Summary of processes, actions and other reports (Execo's ``Report``).

    >>> from procession import Process
    >>> r = Report([Process("true").run(), Process("false", nolog_exit_code=True).run()])
    >>> r.stats()["num_ok"], r.stats()["num_non_zero_exit_codes"]
    (1, 1)

    Args:
        stats_objects: processes, actions or reports (anything with
            ``stats()``); a single one is accepted too.
        name: the name shown in reports (default ``"Report"``).

    Differences from Execo: the report keeps the objects and reads their
    ``stats()`` each time it is asked (Execo copied them when added), so a
    report made before a run shows its end; ``to_string()`` lists the
    failed processes with their reason and uses no colour; ``reset()``,
    :meth:`grouped_output`, :meth:`to_dict` and :meth:`to_json` are new.
    """

    def __init__(
        self, stats_objects: Iterable[HasStats] | HasStats | None = None, name: str | None = None
    ) -> None:
        self.name: str = name if name is not None else type(self).__name__
        """The name shown on the report's total line."""
        self.stats_objects: list[HasStats] = []
        """The objects added, in order."""
        if stats_objects is not None:
            self.add(stats_objects)

    def add(self, stats_objects: Iterable[HasStats] | HasStats) -> Report:
        """Add processes, actions or reports; returns self."""
        if isinstance(stats_objects, HasStats):
            self.stats_objects.append(stats_objects)
        else:
            self.stats_objects.extend(stats_objects)
        return self

    def reset(self) -> Report:
        """Forget every object added; returns self."""
        self.stats_objects.clear()
        return self

    # ------------------------------------------------------------- statistics
    @staticmethod
    def empty_stats() -> dict[str, Any]:
        """A stats dict with every counter at zero and no dates."""
        stats: dict[str, Any] = {"name": None, "start_date": None, "end_date": None}
        stats.update(dict.fromkeys(COUNT_KEYS, 0))
        stats["sub_stats"] = []
        return stats

    @staticmethod
    def aggregate_stats(stats: dict[str, Any]) -> dict[str, Any]:
        """``stats`` with its ``sub_stats`` folded in (a new dict).

        The start date becomes the earliest one, the end date the latest one
        (None while any sub-object has none: still running or not started),
        and every counter of :data:`COUNT_KEYS` the sum.
        """
        agg = dict(stats)
        running = False
        for sub in stats["sub_stats"]:
            start, end = sub.get("start_date"), sub.get("end_date")
            if start is not None and (agg["start_date"] is None or start < agg["start_date"]):
                agg["start_date"] = start
            if end is None:
                running = True
            elif agg["end_date"] is None or end > agg["end_date"]:
                agg["end_date"] = end
            for key in COUNT_KEYS:
                agg[key] = agg.get(key, 0) + sub.get(key, 0)
        if running:
            agg["end_date"] = None
        return agg

    def stats(self) -> dict[str, Any]:
        """The aggregate statistics of everything added (Execo's keys).

        - ``name``: the report's name; ``sub_stats``: each object's stats;
        - ``start_date``: earliest start (unix time), None if none started;
        - ``end_date``: latest end, None while any object has not ended;
        - ``num_processes``, ``num_started``, ``num_ended``;
        - ``num_errors``: could not start (or connect, for remote ones);
        - ``num_timeouts``, ``num_forced_kills`` (SIGKILL after SIGTERM);
        - ``num_non_zero_exit_codes``: ran and exited with a non-zero code;
        - ``num_expect_fail``, ``num_write_error``;
        - ``num_ok``: processes not failed (including those not started or
          still running); ``num_finished_ok``: ended and ok.
        """
        stats = self.empty_stats()
        stats["name"] = self.name
        stats["sub_stats"] = [obj.stats() for obj in self.stats_objects]
        return self.aggregate_stats(stats)

    # ------------------------------------------------------------------ text
    def to_string(self, wide: bool = False, brief: bool = False) -> str:
        """The report as a table, Execo's layout.

        Args:
            wide: one 157-column line per object instead of two 79-column
                lines.
            brief: only the total line; otherwise every object (and its
                sub-objects, indented) first, then the total, then each
                failed process with its reason.
        """
        header, rule = (_WIDE_HEADER, _WIDE_RULE) if wide else (_NARROW_HEADER, _NARROW_RULE)
        out = [header, rule]
        stats = self.stats()
        if not brief and stats["sub_stats"]:
            for sub in sorted(stats["sub_stats"], key=_sort_key):
                out += self._recurse(sub, 0, wide)
            out.append(rule)
        out.append(_format_line(stats, 0, wide))
        if not brief:
            out.append(self._failures())
        return "".join(out)

    def _recurse(self, stats: dict[str, Any], indent: int, wide: bool) -> list[str]:
        lines = [_format_line(stats, indent, wide)]
        for sub in stats.get("sub_stats", []):
            lines += self._recurse(sub, indent + 2, wide)
        return lines

    def _failures(self) -> str:
        failed = [p for p in flatten_processes(self.stats_objects) if not p.ok]
        if not failed:
            return ""
        lines = [f"failed processes ({len(failed)}):\n"]
        for p in failed:
            host = host_address(p)
            where = f" on {host}" if host is not None else ""
            lines.append(f"  {p.name}{where}: {p.failure_reason()}\n")
        return "".join(lines)

    def __repr__(self) -> str:
        return f"<Report(<{len(self.stats_objects)} entries>, name={self.name!r})>"

    def __str__(self) -> str:
        s = self.stats()
        fields = ", ".join(
            [f"name={s['name']!r}", f"start_date={format_unixts(s['start_date'])!r}",
             f"end_date={format_unixts(s['end_date'])!r}"]
            + [f"{key}={s[key]!r}" for key in COUNT_KEYS]
        )  # fmt: skip
        return f"<Report(<{len(s['sub_stats'])} entries>, {fields})>"

    # ------------------------------------------------------- beyond Execo
    def processes(self) -> list[Any]:
        """Every process of the objects added, flattened, each once."""
        return flatten_processes(self.stats_objects)

    def grouped_output(self, stream: str | int = "stdout") -> GroupedOutput:
        """The outputs gathered by content, like ``clush -b`` (see
        :func:`group_outputs`); ``print()`` it."""
        return group_outputs(self.stats_objects, stream)

    def to_dict(self, tail_chars: int = 2048) -> dict[str, Any]:
        """The report as JSON-ready data.

        Returns:
            ``{"name", "stats", "processes"}``: ``stats`` is :meth:`stats`
            without ``sub_stats``; ``processes`` has one record per process
            (keys documented in the user guide: ``id``, ``name``, ``kind``,
            ``host``, ``command``, dates, ``exit_code``, ``exit_signal``,
            ``error``, ``error_reason``, ``timeouted``, ``killed``, ``ok``,
            ``connected``, ``stdout_tail``, ``stderr_tail``, ...).

        Args:
            tail_chars: how many characters of the end of each output to
                keep (0: none).
        """
        stats = self.stats()
        del stats["sub_stats"]
        return {
            "name": self.name,
            "stats": stats,
            "processes": [process_record(p, tail_chars) for p in self.processes()],
        }

    def to_json(self, indent: int | None = 2, tail_chars: int = 2048) -> str:
        """:meth:`to_dict` as a JSON document."""
        return json.dumps(self.to_dict(tail_chars), indent=indent, ensure_ascii=False)
