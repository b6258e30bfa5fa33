"""Timeline pictures: one bar per process, from its start to its end.

The spans are computed by pure functions (from event-log records or from
process objects); only :func:`plot_timeline` touches matplotlib, imported
when it is called (extra ``plot``). It draws on a bare ``Figure`` with the
Agg canvas: no pyplot, no display, no global state, safe in any thread.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .._process import ProcessBase
from .._time import format_unixts
from ._eventlog import read_event_log
from ._records import flatten_processes, host_address, outcome, outcome_of_record

__all__ = ["OUTCOME_COLORS", "Span", "plot_timeline", "spans_from_events", "spans_from_processes"]

OUTCOME_COLORS: Final = {
    "ok": "#2ca02c",
    "non-zero exit": "#ff7f0e",
    "error": "#d62728",
    "timeout": "#9467bd",
    "killed": "#7f7f7f",
    "running": "#1f77b4",
}
"""Bar colour of each outcome (see ``outcome``)."""

_MAX_LABELLED_ROWS: Final = 80


@dataclass(frozen=True, slots=True)
class Span:
    """One process run on the timeline.

    Attributes:
        label: host address, or name for a local process.
        name: the process name.
        start: unix time of the start.
        end: unix time of the end (for a process still running: the last
            time known).
        outcome: one of ``OUTCOMES``.
    """

    label: str
    name: str
    start: float
    end: float
    outcome: str


def spans_from_events(events: Iterable[Mapping[str, Any]]) -> list[Span]:
    """The runs recorded in event-log records (pure), by start time.

    A ``started`` event opens a run of its process id and the next
    ``ended`` closes it; a run never closed lasts until the last event
    time, with outcome ``"running"``.
    """
    open_runs: dict[Any, Mapping[str, Any]] = {}
    spans: list[Span] = []
    last = 0.0
    for e in events:
        last = max(last, float(e.get("time") or 0.0))
        if e.get("event") == "started":
            open_runs[e.get("id")] = e
        elif e.get("event") == "ended":
            begun = open_runs.pop(e.get("id"), None)
            start = e.get("start_date") or (begun or e).get("time")
            end = e.get("end_date") or e.get("time")
            kind = outcome_of_record(
                error=e.get("error"),
                timeouted=e.get("timeouted"),
                killed=e.get("killed"),
                exit_signal=e.get("exit_signal"),
                ok=e.get("ok"),
            )
            spans.append(_span(e, float(start or 0.0), float(end or 0.0), kind))
    spans += [_span(e, float(e["time"]), last, "running") for e in open_runs.values()]
    return sorted(spans, key=lambda s: s.start)


def _span(e: Mapping[str, Any], start: float, end: float, kind: str) -> Span:
    name = str(e.get("name"))
    return Span(str(e.get("host") or name), name, start, max(end, start), kind)


def spans_from_processes(processes: Iterable[ProcessBase], now: float) -> list[Span]:
    """The runs of processes that started, by start time; ``now`` ends the
    bars of those still running."""
    spans = []
    for p in processes:
        if p.start_date is None:
            continue
        end = p.end_date if p.end_date is not None else now
        spans.append(Span(host_address(p) or p.name, p.name, p.start_date, end, outcome(p)))
    return sorted(spans, key=lambda s: s.start)


def _spans(source: Any) -> list[Span]:
    if isinstance(source, str | os.PathLike):
        return spans_from_events(read_event_log(source))
    if hasattr(source, "stats_objects") or hasattr(source, "stats"):
        source = [source]
    items = list(source)
    if items and all(isinstance(i, Mapping) for i in items):
        return spans_from_events(items)
    return spans_from_processes(flatten_processes(items), time.time())


def _row_labels(spans: list[Span]) -> list[str]:
    # Several runs on one host: add the process name so rows can be told apart.
    counts = Counter(s.label for s in spans)
    return [s.label if counts[s.label] == 1 or s.label == s.name else f"{s.label} {s.name}"
            for s in spans]  # fmt: skip


def _import_matplotlib() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
        from matplotlib.patches import Patch  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError("plot_timeline needs matplotlib: pip install 'procession[plot]'") from exc
    return Figure, FigureCanvasAgg, Patch


def plot_timeline(source: Any, path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Draw one horizontal bar per process run and save the picture.

    Bars go from start to end (seconds since the first start), coloured by
    outcome (see :data:`OUTCOME_COLORS`: ok, non-zero exit, error, timeout,
    killed, still running) and labelled by host address, or by name for
    local processes; the first run is at the top.

    Args:
        source: an event-log file (path), a list of event records (as
            :func:`read_event_log` returns), a :class:`Report`, or
            processes and actions.
        path: the picture file; its extension picks the format (``.png``,
            ``.svg``, or any other matplotlib knows, such as ``.pdf``).
        title: the title (default: the date of the first start).

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Raises:
        ImportError: matplotlib is missing (install the ``plot`` extra).
        ValueError: ``path`` has no extension.

    Safe to call from any thread (no pyplot, no display). matplotlib keeps
    the font files it used open in a cache, one per font and thread.
    """
    out = Path(path)
    if not out.suffix:
        raise ValueError(f"{out}: give the file an extension (.png, .svg, ...) to pick a format")
    figure_cls, canvas_cls, patch_cls = _import_matplotlib()
    spans = _spans(source)
    origin = min((s.start for s in spans), default=0.0)
    fig = figure_cls(figsize=(10, min(2.0 + 0.28 * len(spans), 60.0)), layout="constrained")
    canvas_cls(fig)
    ax = fig.add_subplot()
    rows = range(len(spans))
    widths = [max(s.end - s.start, 0.0) for s in spans]
    ax.barh(
        list(rows),
        widths,
        left=[s.start - origin for s in spans],
        color=[OUTCOME_COLORS.get(s.outcome, "#000000") for s in spans],
        height=0.7,
    )
    # Runs too short to see as a bar (a command not found) get a mark.
    span_all = max((s.end for s in spans), default=origin) - origin
    short = [(i, s) for i, s in enumerate(spans) if s.end - s.start < span_all / 200]
    if short:
        ax.scatter(
            [s.start - origin for _, s in short],
            [i for i, _ in short],
            c=[OUTCOME_COLORS.get(s.outcome, "#000000") for _, s in short],
            marker="D",
            s=30,
            zorder=3,
        )
    if len(spans) <= _MAX_LABELLED_ROWS:
        ax.set_yticks(list(rows), _row_labels(spans), fontsize=8)
    ax.set_ylim(max(len(spans), 1) - 0.5, -0.5)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the first start")
    ax.grid(axis="x", alpha=0.3)
    seen = [o for o in OUTCOME_COLORS if any(s.outcome == o for s in spans)]
    if seen:
        ax.legend(
            handles=[patch_cls(color=OUTCOME_COLORS[o], label=o) for o in seen],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=8,
        )
    default = f"{len(spans)} processes from {format_unixts(origin)}" if spans else "no process"
    ax.set_title(title if title is not None else default)
    fig.savefig(out)
    return out
