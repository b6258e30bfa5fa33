"""ParamSweeper throughput: get_next + done on N combinations, against Execo 2.8.2.

Every measured loop runs in a fresh worker process (started, then told to
go once ready, so that interpreter start-up is not timed) on a fresh
persistence directory; the multi-process rows share the N combinations
between the workers. The floor is a bare ``write`` + ``fdatasync`` loop of
N small appends: what one durable done per call costs on this disk, before
any bookkeeping. ``durable`` means done() is on stable storage when it
returns (procession's default; Execo fsyncs every operation).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from bench._util import median_time, print_table

WORKER = r"""
import os, sys, threading, time
kind, directory, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if kind.startswith("execo"):
    from execo_engine import ParamSweeper
    sweeper = ParamSweeper(directory)
else:
    from procession.engine import ParamSweeper
    sweeper = ParamSweeper(directory, fsync=kind != "procession-nofsync")

def loop():
    if kind == "procession-batch":
        while batch := sweeper.get_next_batch(100):
            sweeper.done_batch(batch)
        return
    while (comb := sweeper.get_next()) is not None:
        sweeper.done(comb)

print("ready", flush=True)
sys.stdin.readline()
workers = [threading.Thread(target=loop) for _ in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(time.monotonic(), flush=True)
os._exit(0)
"""


def _prepare(kind: str, directory: str, n: int) -> None:
    code = (
        "import sys\n"
        + (
            "from execo_engine import ParamSweeper, sweep\n"
            if kind.startswith("execo")
            else "from procession.engine import ParamSweeper, sweep\n"
        )
        + "ParamSweeper(sys.argv[1], sweep({'i': range(int(sys.argv[2]))}), save_sweeps=True)\n"
    )
    subprocess.run([sys.executable, "-c", code, directory, str(n)], check=True)


def _measure(kind: str, n: int, procs: int, threads: int = 1) -> float:
    """Seconds for ``procs`` workers of ``threads`` threads to get_next+done ``n`` items."""
    directory = tempfile.mkdtemp(prefix="bench-sweeper-", dir=os.environ.get("BENCH_DIR"))
    try:
        _prepare(kind, directory, n)
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, kind, directory, str(n), str(threads)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(procs)
        ]
        for w in workers:
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        start = time.monotonic()
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        ends = []
        for w in workers:
            out, _ = w.communicate()
            if w.returncode != 0:
                raise RuntimeError(f"{kind} worker failed ({w.returncode})")
            ends.append(float(out.split()[-1]))
        return max(ends) - start
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _floor(n: int, sync: Callable[[int], None] | None) -> Callable[[], None]:
    def loop() -> None:
        directory = tempfile.mkdtemp(prefix="bench-floor-", dir=os.environ.get("BENCH_DIR"))
        fd = os.open(os.path.join(directory, "f"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for _ in range(n):
                os.write(fd, b"x" * 100)
                if sync is not None:
                    sync(fd)
        finally:
            os.close(fd)
            shutil.rmtree(directory)

    return loop


def _execo_available() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import execo_engine"], capture_output=True, check=False
    )
    return probe.returncode == 0


def main(runs: int, quick: bool) -> None:
    """Print the get_next+done throughput table (see the module docstring)."""
    n = 1_000 if quick else 10_000
    floor = f"write+fdatasync x{n} (floor)"
    rows: list[tuple[str, float, str]] = []

    def rate(secs: float) -> str:
        return f"{n / secs:>9,.0f} /s"

    def add(name: str, kind: str, procs: int, threads: int = 1) -> None:
        secs = statistics.median(_measure(kind, n, procs, threads) for _ in range(runs))
        rows.append((name, secs, rate(secs)))

    secs = median_time(_floor(n, getattr(os, "fdatasync", os.fsync)), runs)
    rows.append((floor, secs, rate(secs)))
    secs = median_time(_floor(n, None), runs)
    rows.append((f"write x{n}, no sync", secs, rate(secs)))
    add("procession, 1 process, durable", "procession", 1)
    add("procession, 1 process, fsync=False", "procession-nofsync", 1)
    add("procession, 1 process, batches of 100", "procession-batch", 1)
    add("procession, 1 process x 4 threads, durable", "procession", 1, threads=4)
    add("procession, 4 processes, durable", "procession", 4)
    add("procession, 4 processes, fsync=False", "procession-nofsync", 4)
    notes = []
    if _execo_available():
        add("execo 2.8.2, 1 process", "execo", 1)
        add("execo 2.8.2, 4 processes", "execo", 4)
    else:
        notes.append("execo 2.8.2 not importable: its rows are skipped (pip install execo==2.8.2)")
    print_table(f"ParamSweeper get_next+done, {n} combinations", floor, rows)
    by_name = {name: secs for name, secs, _ in rows}
    if "execo 2.8.2, 1 process" in by_name:
        for procs in ("1 process", "4 processes"):
            ratio = by_name[f"execo 2.8.2, {procs}"] / by_name[f"procession, {procs}, durable"]
            print(f"   procession is {ratio:.1f}x faster than execo 2.8.2 ({procs}, durable)")
    for note in notes:
        print(f"   note: {note}")
