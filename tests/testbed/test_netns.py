"""NetnsHost: fault hosts in network namespaces (root only), checked with plain ssh.

Timing assertions here are lower bounds of what a fault promises (a delay
of at least N ms, a connect that waits for its timeout), never upper bounds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from procession.testbed import LoopbackTestbed, NetnsHost

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]


def _ssh(host: NetnsHost, command: str, connect_timeout: int = 10) -> tuple[int, str, str, float]:
    start = time.monotonic()
    done = subprocess.run(
        host.ssh_argv(command, connect_timeout=connect_timeout),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - start


def _netns_names() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def _round_trip(host: NetnsHost) -> float:
    """Seconds for one line to go to ``cat`` on the host and back, after a warm-up line."""
    proc = subprocess.Popen(
        host.ssh_argv("cat"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write("warm-up\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "warm-up\n"
        start = time.monotonic()
        proc.stdin.write("ping\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "ping\n"
        return time.monotonic() - start
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_connect_with_the_testbed_config(netns_host: NetnsHost, testbed: LoopbackTestbed) -> None:
    code, out, err, _ = _ssh(netns_host, "echo $SSH_CONNECTION")
    assert code == 0, err
    assert out.split()[2:] == [netns_host.address, str(testbed.port)]
    assert out.split()[0] == netns_host.root_address
    assert netns_host.ssh_config == testbed.ssh_config
    assert netns_host.name in _netns_names()


def test_kill_sshd_refuses_connections_then_restart(netns_host: NetnsHost) -> None:
    session = subprocess.Popen(
        netns_host.ssh_argv("echo started; sleep 600"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert session.stdout is not None
        assert session.stdout.readline() == "started\n"
        netns_host.kill_sshd()
        assert not netns_host.sshd_running
        assert session.wait(timeout=30) == 255  # open sessions die with the daemon
    finally:
        session.kill()
        session.communicate()
    code, _, err, _ = _ssh(netns_host, "true")
    assert code == 255
    assert "Connection refused" in err

    netns_host.start_sshd()
    assert _ssh(netns_host, "true")[0] == 0


def test_blackhole_makes_connect_time_out(netns_host: NetnsHost) -> None:
    netns_host.blackhole()
    code, _, err, elapsed = _ssh(netns_host, "true", connect_timeout=2)
    assert code == 255
    assert "timed out" in err
    assert elapsed >= 1.9
    netns_host.unblackhole()
    assert _ssh(netns_host, "true")[0] == 0


def test_slow_adds_the_delay_to_each_round_trip(netns_host: NetnsHost) -> None:
    netns_host.slow(200)
    assert _round_trip(netns_host) >= 0.2
    netns_host.unslow()
    assert _ssh(netns_host, "true")[0] == 0


def test_slow_rate_limits_the_bandwidth(netns_host: NetnsHost) -> None:
    # 250 kB at 1 Mbit/s is 2 s; the token bucket lets 32 kB through at once.
    netns_host.slow(0, rate="1mbit")
    code, out, err, elapsed = _ssh(netns_host, "head -c 250000 /dev/zero | wc -c")
    assert (code, out.strip()) == (0, "250000"), err
    code, _, err, elapsed = _ssh(netns_host, "head -c 250000 /dev/zero")
    assert code == 0, err
    assert elapsed >= 1.5


def test_close_removes_namespace_veth_and_processes(testbed: LoopbackTestbed) -> None:
    host = NetnsHost(testbed=testbed).start()
    name, veth, directory = host.name, host.veth, host.dir
    # A process a test started inside the namespace goes too.
    stray = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "600"])
    try:
        host.close()
        assert stray.wait(timeout=30) != 0
    finally:
        stray.kill()
        stray.wait()
    assert name not in _netns_names()
    link = subprocess.run(["ip", "link", "show", veth], capture_output=True, check=False)
    assert link.returncode != 0
    assert not directory.exists()
    host.close()  # idempotent


def test_standalone_host_has_its_own_key_and_config() -> None:
    with NetnsHost(name=f"procession-test-{os.getpid()}") as host:
        assert host.name == f"procession-test-{os.getpid()}"
        assert host.port == 22
        assert Path(host.ssh_config).is_file()
        code, out, err, _ = _ssh(host, "echo $SSH_CONNECTION")
        assert code == 0, err
        assert out.split()[2:] == [host.address, "22"]
    assert host.name not in _netns_names()


def test_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RuntimeError, match="needs root"):
        NetnsHost()


def test_interpreter_exit_closes_a_forgotten_host() -> None:
    script = (
        "from procession.testbed import NetnsHost\n"
        "host = NetnsHost().start()\n"
        "print(host.name, host.veth)\n"
    )  # no close(): the atexit safety net does it
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    name, veth = done.stdout.split()
    assert name not in _netns_names()
    link = subprocess.run(["ip", "link", "show", veth], capture_output=True, check=False)
    assert link.returncode != 0
