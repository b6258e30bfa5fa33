"""Hosts that fail independently: network namespaces with their own sshd."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from procession import SshProcess
from procession.testbed import NetnsHost


def params(host: NetnsHost, **extra: Any) -> dict[str, Any]:
    cp = dict(host.connection_params())
    cp.update(extra)
    return cp


def test_fault_host_answers(netns_host: NetnsHost) -> None:
    p = SshProcess("echo $SSH_CONNECTION", netns_host.address, params(netns_host)).run(60)
    assert p.ok and p.stdout.split()[2] == netns_host.address


def test_black_holed_host_times_out_as_a_connection_error(netns_host: NetnsHost) -> None:
    netns_host.blackhole()
    cp = params(netns_host, connection_reuse=False)
    cp["ssh_options"] = ("-o", "ConnectTimeout=2", *cp["ssh_options"])
    t0 = time.monotonic()
    p = SshProcess("true", netns_host.address, cp).run(60)
    assert p.ended and p.error and not p.connected and p.exit_code is None
    assert "timed out" in (p.error_reason or "")
    assert time.monotonic() - t0 >= 2


def kill_sshd_processes_only(host: NetnsHost) -> None:
    """SIGKILL every sshd of the host (listener and sessions), nothing else."""
    pids = subprocess.run(
        ["ip", "netns", "pids", host.name], capture_output=True, text=True, check=True
    ).stdout.split()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_sshd_killed_mid_command_is_a_lost_connection(netns_host: NetnsHost) -> None:
    p = SshProcess("echo started; sleep 60", netns_host.address, params(netns_host)).start()
    assert p.expect("started", timeout=30)[0] == 0
    kill_sshd_processes_only(netns_host)
    p.wait(60)
    assert p.ended and p.connected and p.error and not p.ok
    assert "connection lost" in (p.error_reason or "")
    assert p.exit_code is None


def test_refused_after_sshd_is_killed(netns_host: NetnsHost) -> None:
    netns_host.kill_sshd()
    p = SshProcess("true", netns_host.address, params(netns_host, connection_reuse=False)).run(60)
    assert p.error and "Connection refused" in (p.error_reason or "")
