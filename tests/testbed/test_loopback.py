"""LoopbackTestbed: real sshd daemons on loopback addresses, checked with plain ssh."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import procession
from procession.testbed import MAX_LISTEN_SOCKS, LoopbackTestbed, TestbedError


def _alive(pid: int) -> bool:
    """Exists and is not a zombie (PID 1 of some VMs reaps orphans late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _ssh(tb: LoopbackTestbed, host: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tb.ssh_argv(host, command), capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def tb20() -> Iterator[LoopbackTestbed]:
    with LoopbackTestbed(20) as tb:
        yield tb


def test_twenty_hosts_take_two_daemons(tb20: LoopbackTestbed) -> None:
    assert MAX_LISTEN_SOCKS == 16
    assert len(tb20.hosts) == len(set(tb20.hosts)) == 20
    assert len(tb20.daemon_pids) == 2
    assert all(ipaddress.IPv4Address(h).is_loopback for h in tb20.hosts)
    assert "127.0.0.1" not in tb20.hosts
    assert all(_alive(pid) for pid in tb20.daemon_pids)
    assert tb20.port != 22
    assert tb20.state_file.is_file()


def test_every_host_answers_at_once_with_its_own_address(tb20: LoopbackTestbed) -> None:
    # All 20 sessions are open at the same time (each sleeps before answering).
    procs = {
        host: subprocess.Popen(
            tb20.ssh_argv(host, "sleep 1; echo $SSH_CONNECTION; id -un"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for host in tb20.hosts
    }
    for host, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (host, err)
        connection, user = out.split("\n")[:2]
        _client, _client_port, server, server_port = connection.split()
        assert (server, int(server_port)) == (host, tb20.port)
        assert user == tb20.user


def test_plain_ssh_with_connection_params(tb20: LoopbackTestbed) -> None:
    params = tb20.connection_params()
    assert params["ssh_options"][:2] == ("-F", str(tb20.ssh_config))
    assert params["scp_options"][-1] == "-rp"
    assert "-F" in params["taktuk_connector_options"]
    assert (params["user"], params["port"], params["keyfile"]) == (
        tb20.user,
        tb20.port,
        str(tb20.keyfile),
    )
    assert set(params) <= set(procession.default_connection_params)
    argv = ["ssh", *params["ssh_options"], "-p", str(params["port"]), "-i", params["keyfile"]]
    done = subprocess.run(
        [*argv, f"{params['user']}@{tb20.hosts[-1]}", "echo ok"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


def test_scp_uses_the_sftp_subsystem(tb20: LoopbackTestbed, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(os.urandom(100_000))
    target = tmp_path / "target"
    scp_options = tb20.connection_params()["scp_options"]
    done = subprocess.run(
        ["scp", *scp_options, str(source), f"{tb20.hosts[3]}:{target}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == source.read_bytes()


def test_stop_kills_open_sessions_and_leaves_no_daemon(tmp_path: Path) -> None:
    tb = LoopbackTestbed(3, base_dir=tmp_path / "tb").start()
    pids = tb.daemon_pids
    session = subprocess.Popen(
        tb.ssh_argv(tb.hosts[1], "echo started; sleep 600"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert session.stdout is not None
        assert session.stdout.readline() == "started\n"
        tb.stop()
        # The open session ended with the daemons instead of keeping stop() waiting.
        assert session.wait(timeout=30) == 255
    finally:
        session.kill()
        session.communicate()
    assert not any(_alive(pid) for pid in pids)
    assert not (tmp_path / "tb").exists()
    leftover = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "tb")], capture_output=True, text=True, check=False
    )
    assert leftover.stdout == ""
    tb.stop()  # idempotent


def test_two_testbeds_coexist() -> None:
    with LoopbackTestbed(2) as one, LoopbackTestbed(2) as two:
        assert not set(one.hosts) & set(two.hosts)
        assert one.dir != two.dir
        for tb in (one, two):
            assert tb.unreachable_hosts() == []
            done = _ssh(tb, tb.hosts[0], "echo $SSH_CONNECTION")
            assert done.stdout.split()[2:] == [tb.hosts[0], str(tb.port)]


def test_load_attaches_to_a_started_testbed(tmp_path: Path) -> None:
    with LoopbackTestbed(2, base_dir=tmp_path / "tb") as tb:
        attached = LoopbackTestbed.load(tb.dir)
        assert (attached.hosts, attached.port, attached.ssh_config) == (
            tb.hosts,
            tb.port,
            tb.ssh_config,
        )
        assert attached.daemon_pids == tb.daemon_pids
        assert attached.unreachable_hosts() == []
    with pytest.raises(TestbedError, match="no testbed state"):
        LoopbackTestbed.load(tmp_path / "tb")


def test_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "precious").write_text("keep me")
    with pytest.raises(TestbedError, match="not empty"):
        LoopbackTestbed(1, base_dir=tmp_path).start()
    assert (tmp_path / "precious").read_text() == "keep me"


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="n_hosts"):
        LoopbackTestbed(0)


@pytest.mark.skipif(os.geteuid() != 0, reason="root may pick the login user")
def test_root_may_pick_an_existing_user_only() -> None:
    with pytest.raises(KeyError):
        LoopbackTestbed(1, user="no-such-user-procession")


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the error a normal user gets")
def test_normal_user_cannot_pick_another_user() -> None:
    with pytest.raises(ValueError, match="can only log in"):
        LoopbackTestbed(1, user="root")


def test_session_fixture(
    testbed: LoopbackTestbed,
    testbed_connection_params: dict[str, object],
    request: pytest.FixtureRequest,
) -> None:
    assert testbed.running
    assert len(testbed.hosts) == request.config.getoption("--testbed-hosts")
    assert testbed_connection_params == testbed.connection_params()
    assert _ssh(testbed, testbed.hosts[0], "true").returncode == 0


def test_interpreter_exit_stops_a_forgotten_testbed(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from procession.testbed import LoopbackTestbed\n"
        "tb = LoopbackTestbed(2).start()\n"
        "print(json.dumps({'pids': tb.daemon_pids, 'dir': str(tb.dir)}))\n"
    )  # no stop(): the atexit safety net does it
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert not any(_alive(pid) for pid in state["pids"])
    assert not Path(state["dir"]).exists()


def test_start_retries_elsewhere_when_an_address_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    from procession.testbed import _loopback

    real_allocate = _loopback._allocate
    with socket.socket() as squatter:
        # Another process listens on one of the addresses handed out first.
        squatter.bind(("127.77.1.2", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        calls = []

        def allocate(n_hosts: int) -> tuple[list[str], list[str], int]:
            calls.append(n_hosts)
            if len(calls) == 1:
                return ["127.77.1.1", "127.77.1.2"], ["127.77.1.*"], port
            return real_allocate(n_hosts)

        monkeypatch.setattr(_loopback, "_allocate", allocate)
        with LoopbackTestbed(2) as tb:
            assert len(calls) == 2
            assert "127.77.1.2" not in tb.hosts
            assert tb.unreachable_hosts() == []


def test_a_daemon_that_cannot_start_fails_start_with_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from procession.testbed import _sshd

    real_config = _sshd.sshd_config
    monkeypatch.setattr(_sshd, "sshd_config", lambda **kw: real_config(**kw) + "NoSuchOption yes\n")
    with pytest.raises(TestbedError, match=r"exited while starting.*NoSuchOption"):
        LoopbackTestbed(2, base_dir=tmp_path / "tb").start()
    assert not (tmp_path / "tb").exists()


def test_a_refused_login_fails_start_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from procession.testbed import _sshd

    real_config = _sshd.sshd_config
    monkeypatch.setattr(
        _sshd, "sshd_config", lambda **kw: real_config(**kw).replace("AllowUsers", "DenyUsers")
    )
    with pytest.raises(TestbedError, match=r"refused the login.*Permission denied"):
        LoopbackTestbed(1).start()
