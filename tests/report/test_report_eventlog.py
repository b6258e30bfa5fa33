"""The JSON-lines event log, written by real processes and read back."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from procession import ConfigurationError, Host, Process, SshProcess, configuration
from procession._process import instruments
from procession._report import (
    EventLog,
    enable_event_log_from_configuration,
    process_id,
    read_event_log,
)
from procession.testbed import LoopbackTestbed

BASE_KEYS = {"event", "time", "id", "name", "kind", "host", "command"}
END_KEYS = BASE_KEYS | {
    "exit_code", "exit_signal", "error", "error_reason", "timeouted", "killed",
    "forced_kill", "ok", "outcome", "connected", "start_date", "end_date",
}  # fmt: skip


def by_id(events: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        out[e["id"]].append(e)
    return out


def test_events_in_order_for_each_process(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with EventLog(path) as event_log:
        assert event_log in instruments()
        ok = Process("echo hi").run()
        bad = Process("sh -c 'exit 5'", nolog_exit_code=True).run()
        err = Process("no-such-command-anywhere", nolog_error=True).run()
        slow = Process("sleep 30", timeout=0.2, nolog_timeout=True).run()
        killed = Process("sleep 30").start()
        killed.kill().wait()
    assert event_log not in instruments() and not event_log.active
    events = read_event_log(path)
    assert all(set(e) == (END_KEYS if e["event"] == "ended" else BASE_KEYS) for e in events)
    times = [e["time"] for e in events]
    assert times == sorted(times)
    seq = {k: [e["event"] for e in v] for k, v in by_id(events).items()}
    assert seq[process_id(ok)] == ["created", "started", "ended"]
    assert seq[process_id(bad)] == ["created", "started", "ended"]
    assert seq[process_id(err)] == ["created", "started", "ended"]
    assert seq[process_id(slow)] == ["created", "started", "timeouted", "killed", "ended"]
    assert seq[process_id(killed)] == ["created", "started", "killed", "ended"]

    ends = {e["id"]: e for e in events if e["event"] == "ended"}
    e = ends[process_id(ok)]
    assert (e["name"], e["kind"], e["host"], e["command"]) == (
        "echo hi",
        "Process",
        None,
        "echo hi",
    )
    assert (e["exit_code"], e["ok"], e["outcome"], e["connected"]) == (0, True, "ok", None)
    assert (e["start_date"], e["end_date"]) == (ok.start_date, ok.end_date)
    assert ends[process_id(bad)]["exit_code"] == 5
    assert ends[process_id(bad)]["outcome"] == "non-zero exit"
    e = ends[process_id(err)]
    assert e["error"] and "command not found" in e["error_reason"] and e["outcome"] == "error"
    e = ends[process_id(slow)]
    assert e["timeouted"] and e["killed"] and e["exit_signal"] == 15 and e["outcome"] == "timeout"
    assert ends[process_id(killed)]["outcome"] == "killed"


def test_reset_and_rerun_keep_the_id(tmp_path: Path) -> None:
    path = tmp_path / "rerun.jsonl"
    p = Process("true")
    with EventLog(path):
        p.run()
        p.reset()
        p.run()
    assert [e["event"] for e in read_event_log(path) if e["id"] == process_id(p)] == [
        "started", "ended", "reset", "started", "ended",
    ]  # fmt: skip


def test_each_end_is_on_disk_at_once_for_tail_f(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    with EventLog(path):
        p = Process("true").run()
        # Still open: the ended line was flushed, so a reader sees it now.
        seen = read_event_log(path)
        assert [e["event"] for e in seen if e["id"] == process_id(p)][-1] == "ended"


def test_remote_events_with_an_unreachable_host(
    tmp_path: Path, testbed: LoopbackTestbed, testbed_connection_params: dict[str, Any]
) -> None:
    path = tmp_path / "remote.jsonl"
    cp = dict(testbed_connection_params)
    with EventLog(path):
        good = SshProcess("echo hi", testbed.hosts[0], cp).run(60)
        bad = SshProcess("echo hi", Host("127.0.0.1", port=1), cp, nolog_error=True).run(60)
    ends = {e["id"]: e for e in read_event_log(path) if e["event"] == "ended"}
    g, b = ends[process_id(good)], ends[process_id(bad)]
    assert (g["host"], g["kind"], g["connected"], g["ok"]) == (
        testbed.hosts[0],
        "SshProcess",
        True,
        True,
    )
    assert (b["host"], b["connected"], b["error"], b["outcome"]) == (
        "127.0.0.1",
        False,
        True,
        "error",
    )
    assert "Connection refused" in b["error_reason"] and b["exit_code"] is None


def test_many_threads_append_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "threads.jsonl"

    def work() -> None:
        for _ in range(10):
            Process("true").run()

    with EventLog(path):
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    events = read_event_log(path)
    runs = by_id(events)
    assert len(runs) == 40
    assert all([e["event"] for e in v] == ["created", "started", "ended"] for v in runs.values())


def test_read_tolerates_a_torn_last_line_only(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    path.write_text('{"event": "started", "id": 1}\n\n{"event": "ended", "id": 1}\n{"event": "st')
    assert [e["event"] for e in read_event_log(path)] == ["started", "ended"]
    path.write_text('{"event": "started", "id": 1}\n{"event": "st\n{"event": "ended"}\n')
    with pytest.raises(ValueError, match=r"torn\.jsonl:2: not a JSON event line"):
        read_event_log(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="not a JSON object"):
        read_event_log(path)


def test_append_mode_and_restart_errors(tmp_path: Path) -> None:
    path = tmp_path / "append.jsonl"
    path.write_text('{"event": "old", "id": 0}\n')
    log = EventLog(path, append=True)
    with log:
        Process("true").run()
        with pytest.raises(RuntimeError, match="already started"):
            log.start()
    log.stop()  # idempotent
    events = read_event_log(path)
    assert events[0]["event"] == "old" and events[-1]["event"] == "ended"
    with EventLog(path):
        pass
    assert read_event_log(path) == []  # replaced by default


def test_configuration_key_starts_switches_and_stops_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    monkeypatch.setitem(configuration, "event_log", str(first))
    log1 = enable_event_log_from_configuration()
    try:
        assert log1 is not None and log1.active and log1.path == first
        assert enable_event_log_from_configuration() is log1  # same path: unchanged
        p = Process("true").run()
        configuration["event_log"] = str(second)
        log2 = enable_event_log_from_configuration()
        assert log2 is not None and log2 is not log1 and not log1.active
        q = Process("true").run()
    finally:
        configuration["event_log"] = None
        assert enable_event_log_from_configuration() is None
    assert log2 not in instruments() and not log2.active
    assert {e["id"] for e in read_event_log(first)} == {process_id(p)}
    assert {e["id"] for e in read_event_log(second)} == {process_id(q)}


def test_configuration_key_with_a_bad_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(configuration, "event_log", str(tmp_path / "missing-dir" / "x.jsonl"))
    with pytest.raises(ConfigurationError, match=r"configuration\['event_log'\]: cannot open"):
        enable_event_log_from_configuration()
    monkeypatch.setitem(configuration, "event_log", None)
    assert enable_event_log_from_configuration() is None
