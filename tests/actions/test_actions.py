"""Actions on the loopback testbed: Remote, Local, transfers, workflows."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from ClusterShell.NodeSet import NodeSet

from procession import (
    SSH,
    ActionsFailed,
    ConfigurationError,
    Get,
    Host,
    Local,
    ParallelActions,
    Put,
    Remote,
    SequentialActions,
    SubstitutionError,
    configuration,
    filter_bad_hosts,
    get_fileput,
    get_remote,
    wait_all_actions,
    wait_any_actions,
)
from procession.testbed import LoopbackTestbed

DOWN = Host("127.0.0.1", port=1)  # refuses connections


def test_remote_on_every_host(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    r = Remote("echo $SSH_CONNECTION", testbed.hosts, cp).run(120)
    assert r.started and r.ended and r.ok and r.finished_ok
    assert [p.stdout.split()[2] for p in r.processes] == testbed.hosts
    s = r.stats()
    assert s["num_processes"] == s["num_ok"] == len(testbed.hosts)
    assert s["end_date"] >= s["start_date"]


def test_hosts_as_a_node_set(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    folded = str(NodeSet.fromlist(testbed.hosts))
    assert "[" in folded
    r = Remote("echo {{{host}}}", folded, cp).run(120)
    assert r.ok and sorted(p.stdout.strip() for p in r.processes) == sorted(testbed.hosts)


def test_bad_node_set_is_a_clear_error(cp: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid node set"):
        Remote("true", "node-[1-", cp)


def test_one_host_down_only_its_process_fails(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    hosts: list[Any] = [*testbed.hosts[:3], DOWN]
    r = Remote("true", hosts, cp, process_args={"nolog_error": True}).run(120)
    assert r.ended and not r.ok
    by_host = {p.host: p for p in r.processes}
    assert all(by_host[Host(h)].ok for h in testbed.hosts[:3])
    bad = by_host[DOWN]
    assert bad.error and "Connection refused" in (bad.error_reason or "")
    assert filter_bad_hosts(r, hosts) == testbed.hosts[:3]
    with pytest.raises(ActionsFailed) as info:
        r.check()
    assert list(info.value.processes) == [bad]
    assert "Connection refused" in str(info.value)


def test_netcat_servers_and_clients_with_substitution(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    # The Execo user-guide scenario: servers on some hosts, clients on the
    # others, each client sending to its own target with {{targets}}.
    servers, clients = testbed.hosts[:3], testbed.hosts[3:6]
    base = 21000 + int(time.time() * 1000) % 5000
    ports = [base + i for i in range(len(servers))]
    targets = [f"{h} {p}" for h, p in zip(servers, ports, strict=True)]  # noqa: F841 - {{targets}}
    receivers = Remote("nc.traditional -v -l -p {{ports}}", servers, cp)
    receivers.start()
    for _, index, _ in receivers.expect(r"^listening on", timeout=30, stream=2):
        assert index == 0
    senders = Remote("echo from {{{host}}} | nc.traditional -q 1 {{targets}}", clients, cp)
    senders.run(120)
    receivers.wait(120)
    assert senders.ok and receivers.ok
    got = {p.host.address: p.stdout.strip() for p in receivers.processes}
    assert got == {s: f"from {c}" for s, c in zip(servers, clients, strict=True)}


def test_substitution_error_at_construction(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    with pytest.raises(SubstitutionError, match="no_such_variable"):
        Remote("echo {{no_such_variable}}", testbed.hosts, cp)


def test_put_then_get_with_per_host_paths(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path
) -> None:
    hosts = testbed.hosts[:4]
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "data.txt").write_text("payload\n")
    remote_dirs = [str(tmp_path / f"remote-{i}") for i in range(len(hosts))]
    Remote("mkdir -p {{remote_dirs}}", hosts, cp).run(120).check()
    put = Put(hosts, [str(src)], "{{remote_dirs}}", cp).run(120)
    assert put.ok, [p.stderr for p in put.processes]
    for d in remote_dirs:
        assert (Path(d) / "src" / "sub" / "data.txt").read_text() == "payload\n"
    Remote("echo {{{host}}} > {{remote_dirs}}/src/who", hosts, cp).run(120).check()
    get = Get(hosts, "{{remote_dirs}}/src/who", str(tmp_path / "back" / "{{{host}}}"), cp).run(120)
    assert get.ok
    for h in hosts:
        assert (tmp_path / "back" / h / "who").read_text() == f"{h}\n"


def test_put_with_rsync_and_unreachable_host(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path
) -> None:
    f = tmp_path / "file.txt"
    f.write_text("x" * 1000)
    dest = tmp_path / "dest"
    dest.mkdir()
    configuration_tool = configuration["fileput_tool"]
    try:
        configuration["fileput_tool"] = 4  # RSYNC
        put = get_fileput([testbed.hosts[0], DOWN], [str(f)], str(dest), cp,
                          process_args={"nolog_error": True})  # fmt: skip
    finally:
        configuration["fileput_tool"] = configuration_tool
    assert isinstance(put, Put) and put.tool == 4
    put.run(120)
    ok, down = put.processes
    assert ok.ok and (dest / "file.txt").read_text() == "x" * 1000
    assert down.error and "Connection refused" in (down.error_reason or "")


def test_wait_any_returns_while_a_slow_action_runs(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    fast = Remote("true", testbed.hosts[:2], cp).start()
    slow = Remote("sleep 30", testbed.hosts[2:4], cp, process_args={"ignore_exit_code": True})
    slow.start()
    done = wait_any_actions([fast, slow], timeout=60)
    assert done == [fast]
    assert not slow.ended
    assert wait_all_actions([fast, slow], timeout=0.2) == [fast]
    slow.kill()
    assert wait_all_actions([fast, slow], timeout=60) == [fast, slow]


def test_sequential_actions_run_in_order(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    steps = [Remote(f"sleep 0.2; echo {i}", testbed.hosts[:2], cp) for i in range(3)]
    seq = SequentialActions(steps).run(120)
    assert seq.ok and seq.ended
    for a, b in itertools.pairwise(steps):
        assert max(p.end_date or 0 for p in a.processes) <= min(
            p.start_date or 0 for p in b.processes
        )


def test_sequential_failure_recorded_and_optionally_stops(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    quiet = {"nolog_exit_code": True}
    steps = [Remote("exit 1", testbed.hosts[:1], cp, quiet), Remote("true", testbed.hosts[:1], cp)]
    seq = SequentialActions(steps).run(120)
    assert seq.ended and not seq.ok and steps[1].finished_ok
    steps = [Remote("exit 1", testbed.hosts[:1], cp, quiet), Remote("true", testbed.hosts[:1], cp)]
    seq = SequentialActions(steps, stop_on_failure=True).run(120)
    assert seq.ended and not seq.ok and not steps[1].started


def test_parallel_actions(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    a = Remote("sleep 0.3", testbed.hosts[:2], cp)
    b = Local("sleep 0.3")
    par = ParallelActions([a, b]).run(120)
    assert par.ok and a.ended and b.ended and len(par.processes) == 3


def test_local_action_and_write(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    r = Remote("cat", testbed.hosts[:3], cp).start()
    print("to all", file=r)  # type: ignore[arg-type]
    r.close_stdin().wait(120)
    assert [p.stdout for p in r.processes] == ["to all\n"] * 3
    local = Local("echo here").run()
    assert local.ok and local.processes[0].stdout == "here\n"


def test_kill_and_reset(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    r = Remote("sleep 60", testbed.hosts[:3], cp, process_args={"ignore_exit_code": True})
    r.start()
    time.sleep(0.5)
    r.kill().wait(60)
    assert r.ended and all(p.killed for p in r.processes)
    with pytest.raises(ValueError, match="already started"):
        r.start()
    r.reset()
    assert not r.started and not any(p.started for p in r.processes)


def test_empty_action_ends_at_once(cp: dict[str, Any]) -> None:
    r = Remote("true", [], cp).run(5)
    assert r.ended and r.ok


def test_asyncio_face(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    async def main() -> list[str]:
        r = Remote("echo {{{host}}}", testbed.hosts[:3], cp)
        await r.run_async()
        await r
        return [p.stdout.strip() for p in r.processes]

    assert asyncio.run(main()) == testbed.hosts[:3]


def test_factories_follow_the_configuration(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    assert configuration["remote_tool"] == SSH
    assert isinstance(get_remote("true", testbed.hosts[:1], cp), Remote)
    saved = configuration["remote_tool"]
    configuration["remote_tool"] = 99
    try:
        with pytest.raises(ConfigurationError, match="99 is not available"):
            get_remote("true", testbed.hosts[:1], cp)
    finally:
        configuration["remote_tool"] = saved
