"""Run the benchmarks: ``python -m bench [NAME ...] [--runs N] [--quick]``.

Each ``bench/bench_<name>.py`` module defines ``main(runs: int, quick: bool)``
which prints a table: medians of ``runs`` runs and the ratio of each
candidate against a floor measured in the same run. Timing never appears in
tests; it lives here.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sys
from pathlib import Path


def _names() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def main() -> int:
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so that testbeds stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = _names()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {names}")
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    unknown = set(args.names) - set(names)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {names}")
    for name in args.names or names:
        print(f"\n=== bench {name} (median of {args.runs} runs)", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        module.main(runs=args.runs, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
