"""Helpers shared by the benchmarks: medians and ratio tables."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence


def median_time(fn: Callable[[], object], runs: int) -> float:
    """Median wall-clock seconds of ``runs`` calls of ``fn``."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def print_table(title: str, floor_name: str, rows: list[tuple[str, float, str]]) -> None:
    """Print ``(name, seconds, extra)`` rows with their ratio to ``floor_name``."""
    floor = next(s for n, s, _ in rows if n == floor_name)
    print(f"-- {title}")
    for name, secs, extra in rows:
        ratio = secs / floor if floor > 0 else float("nan")
        print(f"   {name:<44} {secs:9.3f} s  {ratio:6.2f}x  {extra}", flush=True)


def selected_tools(variable: str, names: Sequence[str]) -> list[str]:
    """The tools named in the environment variable (comma-separated), in
    that order; all of ``names`` when it is unset or empty.

    Raises:
        SystemExit: a name not in ``names`` (the message lists them).
    """
    wanted = [t.strip() for t in os.environ.get(variable, "").split(",") if t.strip()]
    unknown = [t for t in wanted if t not in names]
    if unknown:
        raise SystemExit(
            f"{variable}: unknown {', '.join(unknown)}; choose among {', '.join(names)}"
        )
    return wanted or list(names)
