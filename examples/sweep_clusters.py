"""A benchmark sweep over "clusters", resumable with ``-c``, with a plot.

In the spirit of Execo's flops benchmark engine: an ``Engine`` whose
parameter space is cluster x problem size, run as a bag of tasks over host
groups (``ClusterEngine``, i.e. ``run_on_clusters``): each cluster runs one
combination at a time on all of its hosts, every cluster in parallel. A
combination runs a small CPU benchmark (a floating-point loop of ``size``
multiply-adds in ``python3``) on every host of its group through
``Remote``, and records the mean rate with ``Results``. The sweep's state is
a crash-proof ``ParamSweeper`` in the result directory: run the script again
with ``-c RESULT_DIR`` after a crash or a Ctrl-C and it does only what is
left. At the end the results are plotted to ``RESULT_DIR/results.png``.

The "clusters" are groups of hosts of a local testbed of loopback sshd
daemons (started and stopped here): ``alpha`` and ``beta``, two hosts each.

``python examples/sweep_clusters.py [-c RESULT_DIR] [--stop-after N]``;
``--stop-after N`` cuts the run short after N combinations, to try ``-c``:
the combinations after the N-th are skipped (the task returns False), and a
skipped combination is retried by the next run. Exits 0 when every
combination of the sweep is done, 1 otherwise (with the ``-c`` command to
continue), 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from matplotlib.figure import Figure

from procession import Remote, logger
from procession.engine import ClusterEngine, sweep
from procession.testbed import LoopbackTestbed

SIZES = [100_000, 200_000, 400_000, 800_000]
BENCH = (
    "python3 -c 'import time; n = {size}; x = 0.0; t = time.perf_counter()\n"
    "for i in range(n): x = x * 0.5 + 1.0\n"
    "print(2 * n / (time.perf_counter() - t) / 1e6)'"
)


class FlopsSweep(ClusterEngine):
    """Mflop/s of a Python loop for each cluster x problem size."""

    def __init__(self, testbed: LoopbackTestbed) -> None:
        super().__init__()
        self.testbed = testbed
        self.args_parser.add_argument(
            "--stop-after", type=int, default=None, metavar="N",
            help="run only N combinations; skip the others (retried by the next run, with -c)",
        )  # fmt: skip
        self._started = 0  # combinations started by this run
        self._count = 0  # combinations done by this run
        self._lock = threading.Lock()
        self.all_done = False
        """Every combination of the sweep is done (after :meth:`start`)."""

    def get_sweeps(self) -> list[Any]:
        return sweep({"cluster": list(self.get_clusters()), "size": SIZES})

    def get_clusters(self) -> dict[str, list[str]]:
        hosts = self.testbed.hosts
        return {"alpha": hosts[:2], "beta": hosts[2:4]}

    def run_combination(self, combination: Any, hosts: list[str]) -> bool:
        """Run on every host of the group (a thread per group calls this)."""
        if not self._take_slot():
            return False  # skipped: todo again for the next run
        bench = Remote(BENCH.format(size=combination["size"]), hosts,
                       self.testbed.connection_params()).run(timeout=120)  # fmt: skip
        if not bench.ok:
            return False  # skipped: retried by the next run with -c
        rates = [float(p.stdout) for p in bench.processes]
        assert self.results is not None
        mflops = sum(rates) / len(rates)
        self.results.append(combination, {"mflops": mflops, "hosts": len(rates)})
        cluster, size = combination["cluster"], combination["size"]
        print(
            f"  done {cluster} size={size}: {mflops:.1f} Mflop/s on {len(rates)} hosts", flush=True
        )
        with self._lock:
            self._count += 1
        return True

    def _take_slot(self) -> bool:
        """False once ``--stop-after N`` combinations were started by this run."""
        assert self.args is not None
        with self._lock:
            if self.args.stop_after is not None and self._started >= self.args.stop_after:
                return False
            self._started += 1
            return True

    def run(self) -> None:
        """Called after ClusterEngine.run (base classes first): report and plot."""
        assert self.sweeper is not None and self.results is not None
        total = len(self.sweeper.sweeps)
        done = len(self.sweeper.get_done())
        print(f"result directory: {self.result_dir}")
        print(f"combinations done: {done}/{total} (this run: {self._count})")
        self.all_done = done == total
        self.plot(os.path.join(str(self.result_dir), "results.png"))

    def plot(self, path: str) -> None:
        assert self.results is not None
        rows = self.results.load()
        fig = Figure(figsize=(6, 4), layout="constrained")  # no pyplot: no display, no global state
        ax = fig.subplots()
        for cluster in sorted({r["cluster"] for r in rows}):
            points = sorted((r["size"], r["mflops"]) for r in rows if r["cluster"] == cluster)
            ax.plot(*zip(*points, strict=True), marker="o", label=cluster)
        ax.set(xscale="log", xlabel="problem size (loop iterations)", ylabel="Mflop/s",
               title="python3 loop, mean over each cluster's hosts")  # fmt: skip
        ax.legend()
        fig.savefig(path, dpi=80)
        print(f"plot of {len(rows)} results: {path}")


def main() -> int:
    logger.setLevel("ERROR")  # the example prints its own summary
    with LoopbackTestbed(n_hosts=4) as tb:
        engine = FlopsSweep(tb)
        try:
            engine.start()
        except KeyboardInterrupt:  # the running combinations were waited for
            print(f"INTERRUPTED: resume with: python {sys.argv[0]} -c {engine.result_dir}")
            return 130
    if not engine.all_done:
        print(f"NOT FINISHED: resume with: python {sys.argv[0]} -c {engine.result_dir}")
        return 1
    print("OK: every combination is done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
