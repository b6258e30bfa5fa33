"""ChainPut on the loopback testbed: every host is this machine, so each
host gets a directory of its own (``{{{host}}}`` in the remote location)."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from procession import CHAINPUT, ChainPut, Host, configuration, filter_bad_hosts, get_fileput
from procession._actions._chainput import ChainPutProcess
from procession.testbed import LoopbackTestbed

DOWN = Host("127.0.0.1", port=1)  # refuses connections
MIB = 1 << 20


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chainput") / "image.bin"
    with path.open("wb") as f:
        for _ in range(64):
            f.write(os.urandom(MIB))
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def per_host(tmp_path: Path) -> str:
    return f"{tmp_path}/dest/{{{{{{host}}}}}}"


@pytest.mark.parametrize(
    ("transport", "tools"),
    [
        ("ssh", ()),
        ("nc", ("perl",)),  # the Perl hop
        ("nc", ("socat",)),  # the shell hop, with socat
        ("nc", ("nc",)),  # the shell hop, with nc.traditional
    ],
)
def test_64_mib_to_8_hosts(
    testbed: LoopbackTestbed,
    cp: dict[str, Any],
    tmp_path: Path,
    big_file: Path,
    transport: str,
    tools: tuple[str, ...],
) -> None:
    r = ChainPut(testbed.hosts, [str(big_file)], per_host(tmp_path), cp, transport=transport)
    if tools:
        r._hop_tools = tools
    r.run(240)
    assert r.ended and r.ok, [p.failure_reason() for p in r.processes]
    want = sha256(big_file)
    for host, p in zip(testbed.hosts, r.processes, strict=True):
        assert isinstance(p, ChainPutProcess) and p.host == Host(host)
        assert p.exit_code == 0 and p.rounds == 1
        assert sha256(tmp_path / "dest" / host / big_file.name) == want


def test_a_down_host_is_left_out_and_reported(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path, big_file: Path
) -> None:
    hosts: list[Any] = [*testbed.hosts[:3], DOWN, *testbed.hosts[3:]]
    r = ChainPut(
        hosts, [str(big_file)], per_host(tmp_path), cp, transport="nc",
        process_args={"nolog_error": True},
    ).run(240)  # fmt: skip
    assert r.ended and not r.ok
    down = r.processes[3]
    assert down.host == DOWN and down.error and "Connection refused" in (down.error_reason or "")
    want = sha256(big_file)
    for host in testbed.hosts:
        assert sha256(tmp_path / "dest" / host / big_file.name) == want
    assert filter_bad_hosts(r, hosts) == testbed.hosts


def test_a_hop_dying_mid_stream_rebuilds_the_chain(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path, big_file: Path
) -> None:
    hosts = testbed.hosts[:5]
    r = ChainPut(hosts, [str(big_file)], per_host(tmp_path), cp, transport="ssh")
    r.start()
    victim = tmp_path / "dest" / hosts[2] / big_file.name
    deadline = time.monotonic() + 120
    while not (victim.exists() and victim.stat().st_size > MIB):
        assert time.monotonic() < deadline and not r.ended, "the data never reached host 3"
        time.sleep(0.005)
    hop = r._hops[2]  # the third host's hop process, in this first round
    assert hop.ssh.remote_pgid is not None
    os.killpg(hop.ssh.remote_pgid, signal.SIGKILL)  # the testbed's hosts are this machine
    r.wait(240)
    assert r.ended and r.ok, [p.failure_reason() for p in r.processes]
    # The hosts before the broken hop got it in the first chain; the others
    # (the broken host included: it is alive) in a second one.
    assert [p.rounds for p in r.processes if isinstance(p, ChainPutProcess)] == [1, 1, 2, 2, 2]
    want = sha256(big_file)
    assert all(sha256(tmp_path / "dest" / h / big_file.name) == want for h in hosts)


@pytest.mark.parametrize("tools", [("perl",), ("socat",)])
def test_directories_and_own_failures(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path, tools: tuple[str, ...]
) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "leaf").write_text("leaf\n")
    (tmp_path / "single").write_text("single\n")
    (tmp_path / "blocked").write_text("a file where a directory should be\n")
    dests = [str(tmp_path / "out" / h) for h in testbed.hosts[:3]]
    dests[1] = str(tmp_path / "blocked" / "sub")  # cannot be created
    r = ChainPut(
        testbed.hosts[:3], [str(tree), str(tmp_path / "single")], "{{dests}}", cp,
        process_args={"nolog_error": True}, transport="nc",
    )  # fmt: skip
    r._hop_tools = tools
    r.run(120)
    first, blocked, last = r.processes
    assert first.finished_ok and last.finished_ok
    assert blocked.error and "destination directory" in (blocked.error_reason or "")
    for d in (dests[0], dests[2]):
        assert Path(d, "tree", "a", "b", "leaf").read_text() == "leaf\n"
        assert Path(d, "single").read_text() == "single\n"


def test_missing_local_file_fails_every_host(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path
) -> None:
    r = ChainPut(
        testbed.hosts[:2], ["/nonexistent"], str(tmp_path), cp, process_args={"nolog_error": True}
    ).run(30)
    assert all("local file not found" in (p.error_reason or "") for p in r.processes)


def test_bad_transport_is_refused(cp: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="transport"):
        ChainPut(["h"], ["f"], ".", cp, transport="ftp")


def test_factory_selects_chainput(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    saved = configuration["fileput_tool"]
    configuration["fileput_tool"] = CHAINPUT
    try:
        assert isinstance(get_fileput(testbed.hosts[:2], ["f"], ".", cp), ChainPut)
    finally:
        configuration["fileput_tool"] = saved


@pytest.mark.root
def test_a_host_dying_mid_stream_is_reported(
    testbed: LoopbackTestbed,
    cp: dict[str, Any],
    tmp_path: Path,
    big_file: Path,
    netns_host: Any,
) -> None:
    # A host of its own network namespace, last in the chain (it has no
    # route back to the loopback hosts), whose sshd dies while it receives:
    # its link is slowed down so that the kill lands mid-stream.
    netns_host.slow(0, rate="200mbit")
    hosts: list[Any] = [*testbed.hosts[:3], netns_host.address]
    r = ChainPut(
        hosts, [str(big_file)], per_host(tmp_path), cp, transport="nc",
        process_args={"nolog_error": True},
    ).start()  # fmt: skip
    dying = tmp_path / "dest" / netns_host.address / big_file.name
    deadline = time.monotonic() + 120
    while not (dying.exists() and dying.stat().st_size > MIB):
        assert time.monotonic() < deadline and not r.ended, "the data never reached the host"
        time.sleep(0.005)
    netns_host.kill_sshd()
    r.wait(240)
    assert r.ended and not r.ok
    *alive, dead = r.processes
    assert all(p.finished_ok for p in alive)
    # Reported with what happened there: killed, tar cut short, or ssh lost,
    # depending on which of its processes died first.
    assert dead.ended and not dead.ok
    assert dead.stderr or dead.error_reason, dead.failure_reason()
    want = sha256(big_file)
    assert all(sha256(tmp_path / "dest" / h / big_file.name) == want for h in testbed.hosts[:3])
