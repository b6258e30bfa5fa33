"""``procession run --slurm-job``: the nodes of a running Slurm job, from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _slurm_testing import SlurmCluster

from procession.slurm import SlurmAllocation
from procession.testbed import LoopbackTestbed


def node_ssh_config(path: Path, names: dict[str, str]) -> Path:
    """An ssh config naming the Slurm nodes, as a cluster's DNS would."""
    blocks = [f"Host {name}\n    HostName {address}\n" for name, address in names.items()]
    common = (
        "Host *\n    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n"
        "    BatchMode yes\n    LogLevel ERROR\n"
    )
    path.write_text("".join(blocks) + common)
    return path


def test_run_on_the_nodes_of_a_slurm_job(
    slurm_cluster: SlurmCluster, testbed: LoopbackTestbed, tmp_path: Path
) -> None:
    by_name = dict(zip(slurm_cluster.nodes, slurm_cluster.addresses, strict=True))
    config = node_ssh_config(tmp_path / "ssh_config", by_name)
    with SlurmAllocation(nodes=2, walltime=300, env=slurm_cluster.env, poll_interval=0.5) as alloc:
        assert alloc.wait_start(60), alloc.state_reason
        r = subprocess.run(
            [sys.executable, "-m", "procession", "run", "--slurm-job", str(alloc.job_id),
             "-F", str(config), "-l", testbed.user, "-p", str(testbed.port),
             "-i", str(testbed.keyfile), "--prefix", "--",
             "echo $SSH_CONNECTION | cut -d' ' -f3"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, **slurm_cluster.env},
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        want = sorted(f"{n}: {by_name[n]}" for n in alloc.node_names)
        assert sorted(r.stdout.splitlines()) == want


def test_a_job_that_does_not_exist_is_a_clear_error(slurm_cluster: SlurmCluster) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "procession", "run", "--slurm-job", "999999", "--", "true"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **slurm_cluster.env},
    )  # fmt: skip
    assert r.returncode == 2
    assert "--slurm-job 999999" in r.stderr and "no Slurm job 999999" in r.stderr
