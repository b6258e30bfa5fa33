"""A real one-machine Slurm cluster for the session, started by scripts/slurm-testbed.sh.

Four virtual nodes node-1..node-4, each its own slurmd; the NodeAddr of each
is a host of the session's loopback sshd testbed, so that the allocated
nodes are reachable by ssh through ``node_address="addr"``. The daemons run
as root (slurmctld, slurmd) and munge, hence the root requirement; the
Debian packages come from .ci/apt-packages.txt (``make test``), or are
installed here when missing.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _slurm_testing import SlurmCluster

from procession.testbed import LoopbackTestbed

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm-testbed.sh"
N_NODES = 4
SCRIPT_TIMEOUT = 600  # install may download packages; start fails by itself after 60 s


def _free_ports(n: int) -> int:
    """A base port B such that B and B+1..B+n are free on every address."""
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randint(20000, 60000 - n - 1)
        try:
            for port in range(base, base + n + 1):
                with socket.socket() as s:
                    s.bind(("0.0.0.0", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range for Slurm")


def _script(command: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"slurm-testbed.sh {command} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )


@pytest.fixture(scope="session")
def slurm_cluster(testbed: LoopbackTestbed) -> Iterator[SlurmCluster]:
    """The session's Slurm cluster, stopped and removed in the finalizer."""
    if os.geteuid() != 0:
        pytest.skip("the Slurm test cluster needs root (slurmd, slurmctld and munged run as root)")
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        _script("install", {})
    # Not under pytest's tmp_path: its 0700 parents would keep munged (user munge) out.
    base = Path(tempfile.mkdtemp(prefix="procession-slurm-"))
    base.chmod(0o755)
    port0 = _free_ports(N_NODES)
    addresses = testbed.hosts[:N_NODES]
    env = {
        "TESTBED_DIR": str(base),
        "SLURM_NODES": str(N_NODES),
        "SLURM_NODE_ADDRS": " ".join(addresses),
        "SLURM_CTLD_PORT": str(port0),
        "SLURM_NODE_PORT0": str(port0),  # node i on port0 + i
    }
    try:
        _script("start", env)
        yield SlurmCluster(
            dir=base,
            env={"SLURM_CONF": str(base / "slurm.conf")},
            nodes=[f"node-{i}" for i in range(1, N_NODES + 1)],
            addresses=addresses,
        )
    finally:
        try:
            _script("stop", env)
        finally:
            shutil.rmtree(base, ignore_errors=True)
