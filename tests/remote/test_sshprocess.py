"""SshProcess against real sshd daemons on loopback addresses."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from procession import Host, Process, SshProcess, get_process
from procession.testbed import LoopbackTestbed


def remote_count(pattern: str) -> int:
    # Loopback hosts are this machine: count the processes running exactly
    # this command line here (zombies excluded).
    out = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
    rows = (line.split(None, 1) for line in out.splitlines())
    return sum(1 for stat, args in rows if args == pattern and not stat.startswith("Z"))


def test_exit_code_and_exact_output(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = SshProcess("printf 'a\\nb\\n'; echo err >&2; exit 3", testbed.hosts[0], cp).run(60)
    assert p.ended and p.connected and not p.error
    assert p.exit_code == 3 and p.stdout == "a\nb\n" and p.stderr == "err\n"
    assert p.host == Host(testbed.hosts[0])


def test_each_host_is_itself(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    ps = [SshProcess("echo $SSH_CONNECTION", h, cp).start() for h in testbed.hosts]
    for h, p in zip(testbed.hosts, ps, strict=True):
        p.wait(60)
        assert p.ok and p.stdout.split()[2] == h


def test_argv_command_is_quoted(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = SshProcess(["printf", "%s|", "a b", "it's", "$HOME"], testbed.hosts[0], cp).run(60)
    assert p.stdout == "a b|it's|$HOME|"


def test_stdin_through_ssh(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = SshProcess("tr a-z A-Z", testbed.hosts[1], cp).start()
    p.write("hello\n").close_stdin().wait(60)
    assert p.ok and p.stdout == "HELLO\n"


def test_remote_exit_255_is_the_commands_own(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = SshProcess("exit 255", testbed.hosts[0], cp).run(60)
    assert p.exit_code == 255 and not p.error and p.connected


def test_connection_refused_is_an_error_not_an_exit_code(cp: dict[str, Any]) -> None:
    p = SshProcess("true", Host("127.0.0.1", port=1), cp).run(60)
    assert p.error and not p.connected and p.exit_code is None and not p.ok
    assert "ssh could not connect" in (p.error_reason or "")
    assert "Connection refused" in (p.error_reason or "")


def test_authentication_failure_is_an_error(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = SshProcess("true", Host(testbed.hosts[0], user="nobody-here"), cp).run(60)
    assert p.error and "Permission denied" in (p.error_reason or "")


def test_host_key_prompt_never_hangs(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    strict = dict(cp)
    strict["ssh_options"] = (
        "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={empty}",
        *cp["ssh_options"],
    )  # fmt: skip
    strict["connection_reuse"] = False
    p = SshProcess("true", testbed.hosts[0], strict).run(60)
    assert p.ended and p.error and "Host key verification failed" in (p.error_reason or "")


def test_without_connection_reuse(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    cp["connection_reuse"] = False
    p = SshProcess("echo direct", testbed.hosts[2], cp)
    assert not any("ControlMaster" in a for a in p.real_cmd)
    p.run(60)
    assert p.ok and p.stdout == "direct\n"


def test_connection_reuse_shares_one_connection(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    host = testbed.hosts[3]
    ports = {
        SshProcess("echo $SSH_CONNECTION", host, cp).run(60).stdout.split()[1] for _ in range(3)
    }
    assert len(ports) == 1  # same client port: one TCP connection, multiplexed
    cp["connection_reuse"] = False
    direct = {
        SshProcess("echo $SSH_CONNECTION", host, cp).run(60).stdout.split()[1] for _ in range(2)
    }
    assert len(direct) == 2


def test_host_rewrite_func(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    cp["host_rewrite_func"] = lambda name: testbed.hosts[int(name.split("-")[1])]
    p = SshProcess("echo $SSH_CONNECTION", "node-4", cp).run(60)
    assert p.ok and p.stdout.split()[2] == testbed.hosts[4]


def test_kill_leaves_no_remote_orphan(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    tag = f"sleep {int(time.time() * 1000) % 100000 + 100000}"
    p = SshProcess(f"{tag} & {tag} & {tag}; wait", testbed.hosts[0], cp).start()
    deadline = time.monotonic() + 30
    while remote_count(tag) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remote_count(tag) == 3 and p.connected
    p.kill().wait(60)
    assert p.ended and p.killed and p.exit_signal == signal.SIGTERM
    deadline = time.monotonic() + 10
    while remote_count(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remote_count(tag) == 0


def test_kill_escalates_to_sigkill_remotely(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    tag = f"sleep {int(time.time() * 1000) % 100000 + 200000}"
    p = SshProcess(f"trap '' TERM; {tag} & {tag}; wait", testbed.hosts[1], cp).start()
    deadline = time.monotonic() + 30
    while remote_count(tag) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    p.kill(auto_sigkill=0.5).wait(60)
    assert p.forced_kill and p.exit_signal == signal.SIGKILL
    deadline = time.monotonic() + 10
    while remote_count(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remote_count(tag) == 0


def test_timeout_kills_the_remote_command(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    tag = f"sleep {int(time.time() * 1000) % 100000 + 300000}"
    p = SshProcess(tag, testbed.hosts[2], cp, timeout=1).run(60)
    assert p.timeouted and not p.ok
    deadline = time.monotonic() + 10
    while remote_count(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remote_count(tag) == 0


def test_remote_pty(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = SshProcess("tty", testbed.hosts[0], cp, pty=True).run(60)
    assert p.ok and p.stdout.strip().startswith("/dev/pts/")


def test_expect_across_ssh_netcat_receiver_and_sender(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    # The Execo user-guide scenario: the receiver expects its "listening"
    # line, then the sender sends, and the receiver gets the text.
    receiver_host, sender_host = testbed.hosts[0], testbed.hosts[1]
    port = 20000 + int(time.time() * 1000) % 20000
    receiver = SshProcess(f"nc.traditional -v -l -p {port}", receiver_host, cp)
    receiver.start()
    index, _ = receiver.expect(r"^listening on", timeout=30, stream=2)
    assert index == 0
    sender = SshProcess(
        f"echo 'hello over netcat' | nc.traditional -q 1 {receiver_host} {port}", sender_host, cp
    ).run(60)
    assert sender.ok
    receiver.wait(60)
    assert receiver.ok and receiver.stdout == "hello over netcat\n"


def test_get_process_factory(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    local = get_process("echo local", host=None, connection_params=cp)
    remote = get_process("echo remote", host=testbed.hosts[0], connection_params=cp)
    assert type(local) is Process and type(remote) is SshProcess
    assert local.run().stdout == "local\n" and remote.run(60).stdout == "remote\n"


def test_repr_shows_the_remote_command(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = SshProcess("true", testbed.hosts[0], timeout=5)
    assert repr(p) == f"SshProcess('true', Host({testbed.hosts[0]!r}), timeout=5.0)"
    with pytest.raises(ValueError, match="shell=True"):
        SshProcess("true", testbed.hosts[0], shell=True)
