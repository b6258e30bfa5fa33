"""Issue 6 benchmark: broadcast one big file to many hosts.

512 MiB (64 MiB with ``--quick``) sent to 8 and 16 loopback hosts with
``Put`` (one scp per host), ``TaktukPut`` (one taktuk, self-propagated) and
``ChainPut`` (hop to hop, ``ssh`` and ``nc`` transports). The floor is one
plain ``scp`` of the same file to one host, measured in the same run.
Target: ChainPut to 16 hosts within 3x the floor. ``BENCH_BROADCAST_TOOLS``
(comma-separated among ``put,taktuk,chainput-ssh,chainput-nc``; default all)
narrows the tools, e.g. to take medians of several runs without TaktukPut's
minutes per run.

Every "host" is this machine (loopback addresses served by local sshd), so:

- each host writes its copy to the same memory: the remote locations are in
  a tmpfs (``/dev/shm``), which measures the network and pipeline cost, not
  the disk; copies are deleted after each run;
- every hop's processes share this machine's CPUs. On a real cluster each
  hop has its own CPU and link, so ChainPut's time stays nearly that of one
  copy; here the work of all hops adds up on the same cores, which favours
  the transports with the least CPU per byte (``nc`` over ``ssh``, whose
  every hop encrypts and decrypts).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench._util import print_table, selected_tools
from procession import ChainPut, Put, TaktukPut
from procession.testbed import LoopbackTestbed

MIB = 1 << 20
SHM = Path("/dev/shm")


def _make_source(path: Path, mib: int) -> None:
    with path.open("wb") as f:
        for _ in range(mib):
            f.write(os.urandom(MIB))


def _median(fn: Callable[[], None], runs: int, reset: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        reset()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    reset()
    return sorted(times)[len(times) // 2]


class _Broadcast:
    """The candidates, sending ``source`` to ``hosts`` under ``dest/<host>/``."""

    def __init__(self, source: Path, dest: Path, hosts: list[str], cp: dict[str, Any]) -> None:
        self.source, self.dest, self.hosts, self.cp = source, dest, hosts, cp
        self.per_host = f"{dest}/{{{{{{host}}}}}}"

    def reset(self) -> None:
        shutil.rmtree(self.dest, ignore_errors=True)
        for h in self.hosts:
            (self.dest / h).mkdir(parents=True)

    def check(self) -> None:
        for h in self.hosts:
            size = (self.dest / h / self.source.name).stat().st_size
            assert size == self.source.stat().st_size, f"{h}: {size} bytes"

    def scp(self) -> None:
        host = self.hosts[0]
        argv = ["scp", *self.cp["scp_options"], str(self.source), f"{host}:{self.dest}/{host}/"]
        subprocess.run(argv, check=True)
        self.check()

    def put(self) -> None:
        assert Put(self.hosts, [str(self.source)], self.per_host, self.cp).run().ok
        self.check()

    def taktuk(self) -> None:
        # One broadcast: taktuk expands $TAKTUK_HOSTNAME on each host.
        where = f"{self.dest}/$TAKTUK_HOSTNAME"
        r = TaktukPut(self.hosts, [str(self.source)], where, self.cp).run()
        assert r.ok, [p.failure_reason() for p in r.processes]
        self.check()

    def chain(self, transport: str) -> Callable[[], None]:
        def run() -> None:
            r = ChainPut(
                self.hosts, [str(self.source)], self.per_host, self.cp, transport=transport
            ).run()
            assert r.ok, [p.failure_reason() for p in r.processes]
            self.check()

        return run


TOOLS = ("put", "taktuk", "chainput-ssh", "chainput-nc")


def main(runs: int, quick: bool) -> None:
    """Print broadcast times and their ratio to one scp."""
    mib = 64 if quick else 512
    selected = selected_tools("BENCH_BROADCAST_TOOLS", TOOLS)  # before any work
    free = shutil.disk_usage(SHM).free // MIB
    if free < mib * 18:
        print(f"   (skipped: {free} MiB free in {SHM}, {mib * 18} MiB needed)")
        return
    with LoopbackTestbed(16) as tb, _shm_dir() as work:
        source = work / "image.bin"
        _make_source(source, mib)
        cp: dict[str, Any] = tb.connection_params()
        one = _Broadcast(source, work / "dest", tb.hosts[:1], cp)
        for n in (8, 16):
            # The floor again for each table: the load of a shared machine drifts.
            floor = ("floor: one scp to one host", _median(one.scp, runs, one.reset), "")
            b = _Broadcast(source, work / "dest", tb.hosts[:n], cp)
            rows = [floor]
            tools = {
                "put": (f"Put (scp) to {n} hosts", b.put),
                "taktuk": (f"TaktukPut to {n} hosts", b.taktuk),
                "chainput-ssh": (f"ChainPut ssh to {n} hosts", b.chain("ssh")),
                "chainput-nc": (f"ChainPut nc to {n} hosts", b.chain("nc")),
            }
            for label, fn in (tools[t] for t in selected):
                secs = _median(fn, runs, b.reset)
                rows.append((label, secs, f"{mib * n / secs:7.0f} MiB/s delivered"))
            print_table(
                f"broadcast {mib} MiB to {n} loopback hosts (tmpfs destinations)",
                floor[0],
                rows,
            )
        print("   target: ChainPut to 16 hosts within 3x the floor", flush=True)


@contextlib.contextmanager
def _shm_dir() -> Iterator[Path]:
    path = SHM / f"procession-bench-{os.getpid()}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
