"""Issue 5 benchmark: ``Remote("hostname", hosts)`` on many loopback hosts.

Floor measured in the same run: a bare loop starting one ``ssh`` per host,
then waiting for all. Peers where installed: clush (ClusterShell), pdsh,
Execo 2.8.2. Then a second command to the same hosts through the shared
connections left by the first (connection reuse).

``BENCH_FANOUT_SIZES`` (e.g. ``500,1000``) sets the sizes;
``BENCH_FANOUT_TOOLS`` (comma-separated among ``remote,asyncssh,taktuk,
peers,reuse``; default all) narrows the rows after the floor.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

from bench._util import print_table, selected_tools
from procession import AsyncSshRemote, Process, Remote, TaktukRemote
from procession._remote import stop_masters
from procession._remote._asyncssh import stop_engine
from procession.testbed import LoopbackTestbed


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _bare_loop(hosts: list[str], ssh: list[str]) -> None:
    procs = [
        subprocess.Popen([*ssh, h, "hostname"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for h in hosts
    ]
    for p in procs:
        p.communicate()
        assert p.returncode == 0


def _ours(hosts: list[str], cp: dict[str, Any], reuse: bool) -> None:
    r = Remote("hostname", hosts, {**cp, "connection_reuse": reuse}).run()
    assert r.ok, [p.error_reason for p in r.processes if not p.ok][:3]


def _ours_asyncssh(hosts: list[str], cp: dict[str, Any]) -> None:
    r = AsyncSshRemote("hostname", hosts, cp).run()
    assert r.ok, [p.error_reason for p in r.processes if not p.ok][:3]
    stop_engine()  # every run opens its connections, like the others


def _ours_taktuk(hosts: list[str], cp: dict[str, Any]) -> None:
    r = TaktukRemote("hostname", hosts, cp).run()
    assert r.ok, [p.error_reason for p in r.processes if not p.ok][:3]


TOOLS = ("remote", "asyncssh", "taktuk", "peers", "reuse")


def _clush(hosts: list[str], ssh_options: str) -> Any:
    clush = shutil.which("clush") or os.path.join(os.path.dirname(sys.executable), "clush")
    if not os.path.exists(clush):
        return None
    return lambda: subprocess.run(
        [clush, "-q", "-S", "-b", "-f", str(len(hosts)), "-o", ssh_options,
         "-w", ",".join(hosts), "hostname"],
        stdout=subprocess.DEVNULL, check=True,
    )  # fmt: skip


def _pdsh(hosts: list[str], ssh_options: str) -> Any:
    if not shutil.which("pdsh"):
        return None
    env = dict(os.environ, PDSH_SSH_ARGS=f"{ssh_options} %h", PDSH_RCMD_TYPE="ssh")
    return lambda: subprocess.run(
        ["pdsh", "-f", str(len(hosts)), "-w", ",".join(hosts), "hostname"],
        stdout=subprocess.DEVNULL, check=True, env=env,
    )  # fmt: skip


def _execo(hosts: list[str], cp: dict[str, Any]) -> Any:
    try:
        import execo  # type: ignore[import-untyped]
    except ImportError:
        return None
    logging.getLogger("execo").setLevel(logging.ERROR)
    params = {k: cp[k] for k in ("user", "keyfile", "port", "ssh_options")}

    def run() -> None:
        with contextlib.redirect_stderr(io.StringIO()):
            execo.Remote("hostname", hosts, connection_params=params).run()

    return run


def main(runs: int, quick: bool) -> None:
    """Fan-out to 100, 500 and 1000 hosts (100 when quick; or $BENCH_FANOUT_SIZES)."""
    sizes = [100] if quick else [100, 500, 1000]
    if os.environ.get("BENCH_FANOUT_SIZES"):
        sizes = [int(n) for n in os.environ["BENCH_FANOUT_SIZES"].split(",")]
    Process("true").run()  # the conductor thread exists from here on
    with LoopbackTestbed(n_hosts=max(sizes)) as tb:
        for n in sizes:
            _one_size(tb, tb.hosts[:n], runs)


def _one_size(tb: LoopbackTestbed, hosts: list[str], runs: int) -> None:
    cp = tb.connection_params()
    ssh = ["ssh", *cp["ssh_options"]]
    options = shlex.join(cp["ssh_options"])
    threads = threading.active_count()
    tools = set(selected_tools("BENCH_FANOUT_TOOLS", TOOLS))
    rows = [("floor: bare ssh loop", _median(lambda: _bare_loop(hosts, ssh), runs), "")]
    if "remote" in tools:
        rows.append(
            ("procession Remote (no reuse)", _median(lambda: _ours(hosts, cp, False), runs), "")
        )
    if "asyncssh" in tools:
        secs = _median(lambda: _ours_asyncssh(hosts, cp), runs)
        rows.append(("procession AsyncSshRemote (in-process)", secs, ""))
    if "taktuk" in tools:
        secs = _median(lambda: _ours_taktuk(hosts, cp), runs)
        rows.append(("procession TaktukRemote (one taktuk tree)", secs, ""))
    assert threading.active_count() == threads, "the thread count grew with the fan-out"
    peers = (
        ("clush", _clush(hosts, options)),
        ("pdsh", _pdsh(hosts, options)),
        ("execo 2.8.2 Remote", _execo(hosts, cp)),
    )
    for name, fn in peers if "peers" in tools else ():
        if fn is None:
            print(f"   ({name} not installed)")
        else:
            rows.append((name, _median(fn, runs), ""))
    if "reuse" in tools:
        first = _timed(lambda: _ours(hosts, cp, True))
        later = _median(lambda: _ours(hosts, cp, True), runs)
        rows.append(("procession Remote, reuse, first command", first, "(1 run)"))
        rows.append(
            ("procession Remote, reuse, later commands", later, f"{first / later:.1f}x faster")
        )
    print_table(f"Remote('hostname') on {len(hosts)} hosts", "floor: bare ssh loop", rows)
    stop_masters()


def _median(fn: Any, runs: int) -> float:
    import statistics

    return statistics.median(_timed(fn) for _ in range(runs))
