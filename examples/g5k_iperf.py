"""iperf3 between the nodes of two clusters, in one OAR job (Execo's g5k sample).

Execo's user guide reserves nodes of two clusters of a Grid'5000 site in one
OAR job, groups the job's nodes by cluster, starts an iperf server on each
node of the second cluster and an iperf client on each node of the first
one, each client measuring towards "its" server (``{{...}}`` substitution),
prints a ``Report`` and every client's output, and always deletes the job.
This is that sample with procession (``from procession.g5k import ...``
instead of ``from execo_g5k import ...``), with iperf3.

Where it runs:

- ``python examples/g5k_iperf.py`` (as root): on this machine's own OAR
  testbed (``scripts/oar-testbed.sh``, a real OAR server whose nodes are
  loopback addresses served by OAR's sshd): it takes the testbed's lock,
  starts it, and stops it at the end. Nodes are reached as OAR does for
  oarsh: user ``oar``, port 6667, OAR's key.
  ``--running-testbed`` uses a testbed that is already up (the tests hold
  its lock and start it).
- ``python examples/g5k_iperf.py --site nancy --clusters graphene griffon``:
  on Grid'5000 (from a frontend, or with ssh access to the site), nodes
  reached through ``oarsh``.

Exits 0 when every client measured a bandwidth to its server.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import itertools
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from procession import STDOUT, Host, Remote, Report, logger
from procession.g5k import (
    OarSubmission,
    default_oarsh_oarcp_params,
    get_oar_job_nodes,
    oardel,
    oarsub,
    wait_oar_job_start,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "oar-testbed.sh"
LOCK_FILE = Path("/tmp/procession-oar.lock")  # the tests' lock: one OAR server per machine


def cluster_of(host: Host) -> str:
    """``graphene-12.nancy.grid5000.fr`` -> ``graphene`` (Grid'5000 node names)."""
    return host.address.split(".")[0].rsplit("-", 1)[0]


def iperf_between_clusters(
    site: Any,
    clusters: tuple[str, str],
    n_nodes: int,
    frontend_params: dict[str, Any] | None,
    node_params: dict[str, Any],
    address_of: Callable[[str], str],
) -> int:
    """The sample itself: reserve, measure, release. Returns the exit status."""
    resources = "+".join(f"{{cluster='{c}'}}/nodes={n_nodes}" for c in clusters)
    jobs = oarsub([(OarSubmission(resources=resources, walltime=600), site)], frontend_params)
    [(job_id, frontend)] = jobs
    if job_id is None:
        print("the job was refused (see the log for OAR's message)")
        return 1
    try:
        wait_oar_job_start(job_id, frontend, frontend_params, timeout=300)
        nodes = get_oar_job_nodes(job_id, frontend, frontend_params)
        # group the nodes by cluster: the first cluster's are the clients
        by_cluster = {
            c: list(n) for c, n in itertools.groupby(sorted(nodes, key=cluster_of), cluster_of)
        }
        sources, targets = by_cluster[clusters[0]], by_cluster[clusters[1]]
        print(f"job {job_id}: {len(sources)} clients on {clusters[0]}, "
              f"{len(targets)} servers on {clusters[1]}")  # fmt: skip
        # each server listens on its own address (on the local testbed, every
        # node is this machine), on a port free everywhere
        with socket.socket() as s:
            s.bind(("", 0))
            ports = [s.getsockname()[1]]  # noqa: F841 ({{...}})
        server_addresses = [address_of(t.address) for t in targets]  # noqa: F841 ({{...}})
        client_addresses = [address_of(h.address) for h in sources]  # noqa: F841 ({{...}})
        servers = Remote("iperf3 -s -1 --forceflush -B {{server_addresses}} -p {{ports}}",
                         targets, node_params, process_args={"timeout": 120})  # fmt: skip
        clients = Remote("iperf3 -c {{server_addresses}} -B {{client_addresses}} -p {{ports}} -t 1",
                         sources, node_params, process_args={"timeout": 60})  # fmt: skip
        with servers.start():
            # --forceflush: iperf3 buffers its output when it is not on a terminal
            listening = servers.expect(r"Server listening", timeout=30, stream=STDOUT)
            print(f"{sum(m is not None for _, _, m in listening)}/{len(targets)} servers listening")
            clients.run()
            servers.wait(30)
        print(Report([servers, clients]).to_string())
        measured = 0
        for index, p in enumerate(clients.processes):
            assert p.host is not None
            target = targets[index % len(targets)]
            rate = re.search(r"([\d.]+ [KMG]?bits/sec).*receiver", p.stdout)
            print(f"client {p.host.address} -> server {target.address}: "
                  f"{rate[1] if rate else 'no measure'} (ok={p.ok})")  # fmt: skip
            measured += bool(rate and p.ok)
        print(f"{measured}/{len(clients.processes)} clients measured their server")
        return 0 if measured == len(clients.processes) and measured > 0 else 1
    finally:
        oardel(jobs, frontend_params)


# ---------------------------------------------------------------- the local OAR testbed


def testbed_script(command: str) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), command], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"oar-testbed.sh {command} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def local_testbed(running: bool) -> Iterator[dict[str, str]]:
    """The local OAR testbed's coordinates (``oar-testbed.sh env``); unless
    ``running``, under its lock, started here and stopped at the end."""
    if running:
        yield dict(line.split("=", 1) for line in testbed_script("env").splitlines() if "=" in line)
        return
    with LOCK_FILE.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LOCK_FILE} (another session uses the OAR testbed)")
            fcntl.flock(lock, fcntl.LOCK_EX)
        testbed_script("up")
        try:
            yield dict(
                line.split("=", 1) for line in testbed_script("env").splitlines() if "=" in line
            )
        finally:
            testbed_script("stop")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--site", help="a Grid'5000 site (default: the local OAR testbed)")
    ap.add_argument("--clusters", nargs=2, metavar=("CLIENTS", "SERVERS"))
    ap.add_argument("--nodes", type=int, default=2, help="nodes per cluster (default 2)")
    ap.add_argument(
        "--running-testbed",
        action="store_true",
        help="use the local OAR testbed already up (its lock is held by the caller)",
    )
    args = ap.parse_args()
    logger.setLevel("ERROR")  # the example prints its own summary
    t0 = time.monotonic()
    if args.site:
        if not args.clusters:
            ap.error("--site needs --clusters CLIENTS SERVERS")
        status = iperf_between_clusters(args.site, tuple(args.clusters), args.nodes, None,
                                        default_oarsh_oarcp_params, lambda name: name)  # fmt: skip
    else:
        with local_testbed(args.running_testbed) as env:
            names = dict(
                line.split() for line in Path(env["HOSTS_FILE"]).read_text().splitlines() if line
            )
            clusters = args.clusters or sorted({cluster_of(Host(n)) for n in names})[:2]
            frontend = Host(env["FRONTEND"], env["FRONTEND_USER"], env["FRONTEND_KEY"],
                            int(env["FRONTEND_PORT"]))  # fmt: skip
            # oarsh's way in: user oar, port 6667, OAR's key; names -> loopback addresses
            node_params = {"user": "oar", "port": 6667, "keyfile": env["NODE_KEY"],
                           "host_rewrite_func": lambda name: names.get(name, name)}  # fmt: skip
            rewrite = node_params["host_rewrite_func"]
            status = iperf_between_clusters(frontend, tuple(clusters), args.nodes, None,
                                            node_params, rewrite)  # fmt: skip
    print(
        f"{'OK' if status == 0 else 'FAILED'}: g5k_iperf finished in {time.monotonic() - t0:.1f} s"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
