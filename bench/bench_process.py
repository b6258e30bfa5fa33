"""Issue 3 benchmarks: process start/wait and output throughput.

(a) start 1000 ``true`` processes, then wait for all: against a bare
    ``subprocess.Popen`` loop (the floor), bare asyncio, and Execo 2.8.2
    when it is installed.
(b) one process writing N MiB of zeros (``head -c``) and of ``yes`` lines to
    stdout, captured by the default handler and discarded
    (``default_stdout_handler=False``): against ``... | cat > /dev/null``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import subprocess
import time
from collections.abc import Callable

from bench._util import median_time, print_table
from procession import Process

N_PROCS = 1000


def floor_popen(n: int) -> None:
    procs = [subprocess.Popen(["true"]) for _ in range(n)]
    for p in procs:
        p.wait()


def bare_asyncio(n: int) -> None:
    async def main() -> None:
        procs = [
            await asyncio.create_subprocess_exec(
                "true", stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(n)
        ]
        await asyncio.gather(*(p.communicate() for p in procs))

    asyncio.run(main())


def ours_start_wait(n: int) -> None:
    procs = [Process("true").start() for _ in range(n)]
    for p in procs:
        p.wait()
    assert all(p.ok for p in procs)


def execo_start_wait(n: int) -> Callable[[], None] | None:
    try:
        import execo  # type: ignore[import-untyped]
    except ImportError:
        return None

    def run() -> None:
        procs = [execo.Process("true").start() for _ in range(n)]
        for p in procs:
            p.wait()

    return run


def bench_start_wait(runs: int, quick: bool) -> None:
    n = 200 if quick else N_PROCS
    rows = [
        ("floor: bare Popen loop", median_time(lambda: floor_popen(n), runs), ""),
        ("procession Process start+wait", median_time(lambda: ours_start_wait(n), runs), ""),
        ("bare asyncio subprocess (pipes)", median_time(lambda: bare_asyncio(n), runs), ""),
    ]
    execo_run = execo_start_wait(n)
    if execo_run is not None:
        rows.append(("execo 2.8.2 Process start+wait", median_time(execo_run, runs), ""))
    else:
        rows.append(("execo 2.8.2 (not installed: pip install execo)", float("nan"), ""))
    print_table(f"(a) start {n} `true` then wait all", "floor: bare Popen loop", rows)


def _throughput(label: str, secs: float, size: int) -> tuple[str, float, str]:
    return (label, secs, f"{size / secs / 1e6:8.0f} MB/s")


def bench_output(runs: int, quick: bool) -> None:
    sizes = [64] if quick else [64, 256, 1024]
    for producer, what in (("head -c {n} /dev/zero", "zeros"), ("yes | head -c {n}", "yes lines")):
        for mib in sizes:
            n = mib << 20
            cmd = producer.format(n=n)

            def floor(cmd: str = cmd) -> None:
                subprocess.run(f"{cmd} | cat > /dev/null", shell=True, check=True)

            def captured(cmd: str = cmd, n: int = n) -> None:
                p = Process(cmd, shell=True).run()
                assert len(p._collected[1].data) == n

            def discarded(cmd: str = cmd) -> None:
                assert Process(cmd, shell=True, default_stdout_handler=False).run().ok

            rows = [
                _throughput("floor: cat > /dev/null", median_time(floor, runs), n),
                _throughput("procession captured", median_time(captured, runs), n),
                _throughput("procession discarded", median_time(discarded, runs), n),
                _throughput(
                    "subprocess.run(capture_output=True)",
                    median_time(lambda cmd=cmd: _capture_run(cmd), runs),
                    n,
                ),
            ]
            if mib == 64:
                execo_row = _execo_output(cmd, n)
                if execo_row is not None:
                    rows.append(execo_row)
            print_table(f"(b) {mib} MiB of {what} on stdout", "floor: cat > /dev/null", rows)


def _capture_run(cmd: str) -> None:
    subprocess.run(cmd, shell=True, capture_output=True, check=True)


def _execo_output(cmd: str, n: int) -> tuple[str, float, str] | None:
    try:
        import execo
    except ImportError:
        return None
    logging.getLogger("execo").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        execo.Process(cmd, shell=True).run(timeout=300)
    # One run only: Execo's output handling is quadratic in the size.
    return _throughput("execo 2.8.2 captured (1 run, 64 MiB only)", time.perf_counter() - t0, n)


def main(runs: int, quick: bool) -> None:
    """Run both benchmarks and print their tables."""
    bench_start_wait(runs, quick)
    bench_output(runs, quick)
