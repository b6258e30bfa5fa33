"""TaktukRemote, TaktukPut and TaktukGet on the loopback testbed, with the
real taktuk (Debian package ``taktuk``), self-propagated over real ssh."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from procession import (
    SCP,
    SSH,
    TAKTUK,
    Host,
    Report,
    TaktukGet,
    TaktukPut,
    TaktukRemote,
    configuration,
    filter_bad_hosts,
    get_fileget,
    get_fileput,
    get_remote,
)
from procession._actions._taktuk import TaktukProcess
from procession.testbed import LoopbackTestbed

DOWN = Host("127.0.0.1", port=1)  # refuses connections


def test_outputs_line_exact_and_exit_codes_per_host(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    codes = list(range(len(testbed.hosts)))
    cmd = (
        "echo out {{{host}}}; echo; echo 'two  spaces'; echo err {{{host}}} >&2;"
        " printf 'no newline'; exit {{codes}}"
    )
    r = TaktukRemote(cmd, testbed.hosts, cp, process_args={"nolog_exit_code": True}).run(120)
    assert r.started and r.ended
    for code, host, p in zip(codes, testbed.hosts, r.processes, strict=True):
        assert isinstance(p, TaktukProcess) and p.host == Host(host)
        assert p.started and p.ended and p.connected and not p.error
        assert p.stdout == f"out {host}\n\ntwo  spaces\nno newline"
        assert p.stderr == f"err {host}\n"
        assert p.exit_code == code and p.ok == (code == 0)
        assert p.end_date is not None and p.start_date is not None
    assert filter_bad_hosts(r, testbed.hosts) == testbed.hosts[:1]


def test_long_lines_and_binary_output_survive(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    # taktuk cuts long lines in pieces; the records join back exactly.
    cmd = "head -c 300000 /dev/zero | tr '\\0' x; echo; printf '\\001\\002\\377\\n\\r\\n'"
    r = TaktukRemote(cmd, testbed.hosts[:2], cp).run(120)
    assert r.finished_ok
    for p in r.processes:
        assert p.stdout == "x" * 300000 + "\n\x01\x02\ufffd\n\r\n"


def test_special_characters_pass_intact(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    cmd = """echo "a!b !! c" '[x] ]y' -] {z} "-[" '$HOME'
echo second line; echo "wow!]" """
    r = TaktukRemote(cmd, testbed.hosts[:2], cp).run(120)
    assert r.finished_ok
    for p in r.processes:
        assert p.stdout == "a!b !! c [x] ]y -] {z} -[ $HOME\nsecond line\nwow!]\n"


def test_per_process_timeout(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    cmds = ["sleep 60", "true"]  # noqa: F841 - {{cmds}}
    t0 = time.monotonic()
    r = TaktukRemote(
        "{{cmds}}", testbed.hosts[:2], cp, process_args={"timeout": 2, "nolog_timeout": True}
    ).run(120)
    assert time.monotonic() - t0 < 30
    slow, fast = r.processes
    assert slow.timeouted and slow.killed and slow.exit_signal == 15 and not slow.ok
    assert not fast.timeouted and fast.finished_ok
    assert "timed out" in slow.failure_reason()


def test_unreachable_host_is_an_error_on_its_process_only(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    hosts: list[Any] = [*testbed.hosts[:3], DOWN]
    r = TaktukRemote("echo hi", hosts, cp, process_args={"nolog_error": True})
    r.run(120)
    assert r.ended and not r.ok
    *good, bad = r.processes
    assert all(p.ok and p.stdout == "hi\n" for p in good)
    assert bad.error and bad.exit_code is None and not bad.connected
    assert "could not connect" in (bad.error_reason or "")
    assert "Connection refused" in (bad.error_reason or "")
    assert "Connection refused" in bad.stderr
    assert filter_bad_hosts(r, hosts) == testbed.hosts[:3]
    report = Report([r])
    assert report.stats()["num_errors"] == 1 and report.stats()["num_ok"] == 3


def test_kill_ends_every_remote_command(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    r = TaktukRemote("echo started; sleep 60", testbed.hosts[:3], cp).start()
    for p in r.processes:
        assert p.expect("started", timeout=60)[0] == 0
    r.kill()
    r.wait(60)
    assert r.ended
    assert all(p.killed and p.exit_signal == 15 for p in r.processes)


def test_write_to_the_remote_stdin(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    r = TaktukRemote("cat; echo end", testbed.hosts[:2], cp).start()
    first, second = r.processes
    assert isinstance(first, TaktukProcess) and isinstance(second, TaktukProcess)
    first.write("for the first\n")
    second.write("line [with] brackets!\n")
    r.close_stdin()
    r.wait(60)
    assert r.finished_ok
    assert [p.stdout for p in r.processes] == [
        "for the first\nend\n",
        "line [with] brackets!\nend\n",
    ]


def test_frontend_runs_taktuk_on_another_host(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    # The loopback hosts are this machine, where taktuk is installed.
    r = TaktukRemote("echo {{{host}}}", testbed.hosts[1:4], cp, frontend=testbed.hosts[0]).run(120)
    assert r.finished_ok
    assert [p.stdout for p in r.processes] == [f"{h}\n" for h in testbed.hosts[1:4]]


def test_empty_host_list_ends_at_once(cp: dict[str, Any]) -> None:
    r = TaktukRemote("true", [], cp).run(10)
    assert r.ended and r.ok and r.processes == []


def test_a_process_cannot_be_started_alone(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    r = TaktukRemote("true", testbed.hosts[:1], cp)
    with pytest.raises(ValueError, match="started by its Taktuk action"):
        r.processes[0].start()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_put_then_get_round_trip(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "tree" / "sub").mkdir(parents=True)
    (src / "data.bin").write_bytes(bytes(range(256)) * 4000)
    (src / "tree" / "sub" / "leaf.txt").write_text("leaf\n")
    remote = tmp_path / "remote"
    hosts = testbed.hosts[:4]
    for h in hosts:
        (remote / h).mkdir(parents=True)
    put = TaktukPut(
        hosts, [str(src / "data.bin"), str(src / "tree")], f"{remote}/{{{{{{host}}}}}}", cp
    ).run(120)
    assert put.finished_ok, [p.failure_reason() for p in put.processes]
    for h in hosts:
        assert _digest(remote / h / "data.bin") == _digest(src / "data.bin")
        assert (remote / h / "tree" / "sub" / "leaf.txt").read_text() == "leaf\n"
    back = tmp_path / "back"
    get = TaktukGet(
        hosts,
        [f"{remote}/{{{{{{host}}}}}}/data.bin", f"{remote}/{{{{{{host}}}}}}/tree"],
        f"{back}/{{{{{{host}}}}}}",
        cp,
    ).run(120)
    assert get.finished_ok, [p.failure_reason() for p in get.processes]
    for h in hosts:
        assert _digest(back / h / "data.bin") == _digest(src / "data.bin")
        assert (back / h / "tree" / "sub" / "leaf.txt").read_text() == "leaf\n"


def test_transfer_failures_are_per_host(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path
) -> None:
    quiet = {"nolog_error": True}
    (tmp_path / "f").write_text("x")
    put = TaktukPut(
        [testbed.hosts[0], DOWN], [str(tmp_path / "f")], str(tmp_path / "no" / "dir"), cp,
        process_args=quiet,
    ).run(120)  # fmt: skip
    first, down = put.processes
    assert first.error and "taktuk put failed" in (first.error_reason or "")
    assert down.error and "Connection refused" in (down.error_reason or "")
    missing = TaktukPut(testbed.hosts[:2], ["/nonexistent"], str(tmp_path), cp, process_args=quiet)
    missing.run(60)
    assert all("local file not found" in (p.error_reason or "") for p in missing.processes)
    get = TaktukGet(testbed.hosts[:2], ["/nonexistent"], str(tmp_path), cp, process_args=quiet)
    get.run(120)
    assert all("No such file" in (p.error_reason or "") for p in get.processes)


@pytest.fixture
def taktuk_tools() -> Any:
    saved = {k: configuration[k] for k in ("remote_tool", "fileput_tool", "fileget_tool")}
    yield
    configuration.update(saved)


def test_factories_select_taktuk(
    testbed: LoopbackTestbed, cp: dict[str, Any], taktuk_tools: Any, tmp_path: Path
) -> None:
    assert configuration["remote_tool"] == SSH and configuration["fileput_tool"] == SCP
    configuration.update(remote_tool=TAKTUK, fileput_tool=TAKTUK, fileget_tool=TAKTUK)
    r = get_remote("echo {{{host}}}", testbed.hosts[:2], cp)
    assert isinstance(r, TaktukRemote)
    assert r.run(120).finished_ok and r.processes[1].stdout == f"{testbed.hosts[1]}\n"
    assert isinstance(get_fileput(testbed.hosts[:1], ["x"], ".", cp), TaktukPut)
    assert isinstance(get_fileget(testbed.hosts[:1], ["x"], str(tmp_path), cp), TaktukGet)


def test_reset_and_run_again(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    r = TaktukRemote("echo {{{host}}}", testbed.hosts[:2], cp)
    r.run(120)
    first = [p.stdout for p in r.processes]
    r.reset()
    assert not r.started and not any(p.started for p in r.processes)
    r.run(120)
    assert r.finished_ok and [p.stdout for p in r.processes] == first
