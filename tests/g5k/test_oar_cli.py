"""``procession run --oar-job ID@FRONTEND`` on the real OAR testbed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _oar_testing import OarTestbed

from procession.g5k import OarSubmission, oardel, oarsub, wait_oar_job_start


def ssh_config(path: Path, oar: OarTestbed) -> Path:
    """An ssh config as a Grid'5000 user writes one: the frontend's login
    and key, and the nodes reached as OAR's oarsh does (user oar, port 6667,
    the job key)."""
    fe = oar.frontend
    blocks = [
        f"Host {fe.address}\n    User {fe.user}\n    Port {fe.port}\n"
        f"    IdentityFile {fe.keyfile}\n"
    ]
    blocks += [
        f"Host {name}\n    HostName {address}\n    User oar\n    Port 6667\n"
        f"    IdentityFile {oar.node_params['keyfile']}\n"
        for name, address in oar.addresses.items()
    ]
    common = (
        "Host *\n    IdentitiesOnly yes\n    StrictHostKeyChecking no\n"
        "    UserKnownHostsFile /dev/null\n    BatchMode yes\n    LogLevel ERROR\n"
    )
    path.write_text("".join(blocks) + common)
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "procession", *args], capture_output=True, text=True, timeout=300
    )


def test_run_on_the_nodes_of_an_oar_job(oar: OarTestbed, tmp_path: Path) -> None:
    config = ssh_config(tmp_path / "ssh_config", oar)
    sub = OarSubmission("nodes=2", walltime=300, name="cli", sql_properties="site='grenoble'")
    [(job_id, fe)] = oarsub([(sub, oar.frontend)])
    assert job_id is not None
    try:
        assert wait_oar_job_start(job_id, fe, timeout=120)
        r = cli("run", "--oar-job", f"{job_id}@{fe.address}", "-F", str(config), "--prefix",
                "--", "echo $SSH_CONNECTION | cut -d' ' -f3")  # fmt: skip
        assert r.returncode == 0, r.stderr
        nodes = oar.hosts_of("grenoble")[:2]
        assert sorted(r.stdout.splitlines()) == [f"{n}: {oar.addresses[n]}" for n in nodes]
    finally:
        oardel([(job_id, fe)])


def test_an_unknown_job_is_a_clear_error(oar: OarTestbed, tmp_path: Path) -> None:
    config = ssh_config(tmp_path / "ssh_config", oar)
    r = cli("run", "--oar-job", f"999999@{oar.frontend.address}", "-F", str(config), "--",
            "true")  # fmt: skip
    assert r.returncode == 2
    assert "--oar-job 999999@" in r.stderr
