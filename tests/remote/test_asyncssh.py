"""The in-process ssh engine (asyncssh) behind the same interface."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from procession import (
    ASYNCSSH,
    AsyncSshProcess,
    AsyncSshRemote,
    Host,
    Remote,
    configuration,
    get_remote,
)
from procession._remote._asyncssh import stop_engine
from procession.testbed import LoopbackTestbed


@pytest.fixture(autouse=True)
def _engine_stopped() -> Iterator[None]:
    # The engine keeps its connections and thread between commands; stop it
    # after each test so that the leak guard checks everything else.
    yield
    stop_engine()


def remote_count(pattern: str) -> int:
    """Processes running exactly this command line here (loopback hosts)."""
    import subprocess

    out = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
    rows = (line.split(None, 1) for line in out.splitlines())
    return sum(1 for stat, args in rows if args == pattern and not stat.startswith("Z"))


def test_exit_code_output_and_the_commands_own_255(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    p = AsyncSshProcess("printf 'a\\nb\\n'; echo err >&2; exit 3", testbed.hosts[0], cp).run(60)
    assert p.ended and p.connected and not p.error
    assert (p.exit_code, p.stdout, p.stderr) == (3, "a\nb\n", "err\n")
    q = AsyncSshProcess("exit 255", testbed.hosts[0], cp).run(60)
    assert q.exit_code == 255 and not q.error


def test_connection_refused_is_an_error(cp: dict[str, Any]) -> None:
    p = AsyncSshProcess("true", Host("127.0.0.1", port=1), cp, nolog_error=True).run(60)
    assert p.error and not p.connected and p.exit_code is None
    assert "ssh could not connect" in (p.error_reason or "")


def test_stdin_and_expect(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = AsyncSshProcess("read x; echo got $x", testbed.hosts[1], cp).start()
    p.write("it\n")
    assert p.expect("got it", timeout=30)[0] == 0
    p.wait(60)
    assert p.ok


def test_kill_leaves_no_remote_orphan(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    tag = f"sleep {int(time.time() * 1000) % 100000 + 400000}"
    p = AsyncSshProcess(f"{tag} & {tag}; wait", testbed.hosts[2], cp).start()
    deadline = time.monotonic() + 30
    while remote_count(tag) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remote_count(tag) == 2
    p.kill().wait(60)
    assert p.ended and p.killed and p.exit_signal == signal.SIGTERM
    deadline = time.monotonic() + 10
    while remote_count(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remote_count(tag) == 0


def test_timeout(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    p = AsyncSshProcess("sleep 60", testbed.hosts[3], cp, timeout=0.5, nolog_timeout=True).run(60)
    assert p.timeouted and p.ended and not p.ok


def test_selected_as_remote_tool_with_one_thread_for_all_hosts(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    saved = configuration["remote_tool"]
    configuration["remote_tool"] = ASYNCSSH
    try:
        r = get_remote("echo $SSH_CONNECTION", testbed.hosts, cp)
    finally:
        configuration["remote_tool"] = saved
    assert isinstance(r, AsyncSshRemote) and isinstance(r, Remote)
    AsyncSshRemote("true", testbed.hosts[:1], cp).run(60)  # the engine thread exists now
    threads = threading.active_count()
    r.run(120)
    assert r.ok and [p.stdout.split()[2] for p in r.processes] == testbed.hosts
    assert threading.active_count() == threads
