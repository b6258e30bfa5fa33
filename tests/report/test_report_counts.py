"""Report on real local processes: Execo's counts, text, JSON."""

from __future__ import annotations

import json
import time
from typing import Any

from _report_testing import StandInAction

from procession import Process, ProcessBase
from procession._report import COUNT_KEYS, Report, process_id, process_record


def quiet(cmd: str, **kw: Any) -> Process:
    kw.setdefault("nolog_exit_code", True)
    kw.setdefault("nolog_error", True)
    kw.setdefault("nolog_timeout", True)
    return Process(cmd, **kw)


def one_of_each() -> dict[str, ProcessBase]:
    """Processes that ended each way a process can end."""
    ok = quiet("echo hello").run()
    nonzero = quiet("sh -c 'echo oops >&2; exit 3'").run()
    error = quiet("no-such-command-anywhere").run()
    timeout = quiet("sleep 30", timeout=0.2).run()
    killed = quiet("sleep 30").start()
    killed.kill().wait()
    forced = quiet("sh -c \"trap '' TERM; sleep 30\"", shell=False).start()
    time.sleep(0.2)  # let sh install its trap
    forced.kill(auto_sigkill=0.2).wait()
    return {
        "ok": ok,
        "nonzero": nonzero,
        "error": error,
        "timeout": timeout,
        "killed": killed,
        "forced": forced,
    }


def test_empty_stats_and_aggregation_are_execo_s() -> None:
    empty = Report.empty_stats()
    assert empty["sub_stats"] == [] and empty["start_date"] is None
    assert all(empty[key] == 0 for key in COUNT_KEYS)
    a = {**Report.empty_stats(), "start_date": 10.0, "end_date": 20.0, "num_processes": 2}
    b = {**Report.empty_stats(), "start_date": 5.0, "end_date": 15.0, "num_processes": 3}
    agg = Report.aggregate_stats({**Report.empty_stats(), "sub_stats": [a, b]})
    assert (agg["start_date"], agg["end_date"], agg["num_processes"]) == (5.0, 20.0, 5)
    running = {**Report.empty_stats(), "start_date": 1.0, "end_date": None}
    agg = Report.aggregate_stats({**Report.empty_stats(), "sub_stats": [a, running]})
    assert (agg["start_date"], agg["end_date"]) == (1.0, None)
    assert Report().stats()["end_date"] is None and Report().stats()["name"] == "Report"


def test_counts_of_each_outcome() -> None:
    ps = one_of_each()
    written = quiet("true")
    written.run()
    written.write("too late")  # the process has ended: a write error
    expected = quiet("echo hi").run()
    expected.expect("not there", timeout=0, stream=None)
    stats = Report([*ps.values(), written, expected]).stats()
    assert stats["num_processes"] == 8
    assert stats["num_started"] == 8 and stats["num_ended"] == 8
    assert stats["num_errors"] == 1
    assert stats["num_timeouts"] == 1
    assert stats["num_forced_kills"] == 1
    assert stats["num_write_error"] == 1
    assert stats["num_expect_fail"] == 1
    # Exit code 3, and the three killed by a signal (no exit code of 0).
    assert stats["num_non_zero_exit_codes"] == 4
    assert stats["num_ok"] == 1 and stats["num_finished_ok"] == 1
    starts = [p.start_date or 0.0 for p in ps.values()]
    ends = [p.end_date or 0.0 for p in ps.values()]
    assert stats["start_date"] == min(starts)
    assert stats["end_date"] == max([*ends, written.end_date or 0.0, expected.end_date or 0.0])


def test_end_date_is_none_while_one_runs_and_report_reads_live() -> None:
    done = quiet("true").run()
    running = quiet("sleep 30").start()
    report = Report([done, running], name="live")
    try:
        stats = report.stats()
        assert stats["end_date"] is None and stats["num_ended"] == 1 and stats["num_ok"] == 2
    finally:
        running.kill().wait()
    # The same report, asked again, sees the end (Execo copied stats at add()).
    stats = report.stats()
    assert stats["end_date"] == running.end_date and stats["num_ended"] == 2


def test_to_string_lists_objects_total_and_failures() -> None:
    ps = one_of_each()
    report = Report(list(ps.values()), name="all kinds")
    text = report.to_string()
    lines = text.splitlines()
    assert lines[0].startswith("Name") and lines[1].startswith(" length")
    assert set(lines[2]) == {"-"} and len(lines[2]) == 79
    total = lines.index(next(x for x in lines if x.startswith("all kinds")))
    # Total: 6 processes, started 6, ended 6, 1 error, 1 timeout, 1 forced kill.
    assert lines[total].split()[-1] == "6"
    assert lines[total + 1].split()[1:10] == ["6", "6", "1", "1", "1", "0", "0", "4", "1"]
    assert "failed processes (5):" in text
    assert "no-such-command-anywhere: error: cannot start" in text
    assert "exit code 3" in text and "timed out after" in text
    assert "\x1b[" not in text  # no colour in a string

    brief = report.to_string(brief=True)
    assert "failed processes" not in brief and "no-such-command" not in brief
    assert len(brief.splitlines()) == 5

    wide = report.to_string(wide=True)
    wide_lines = wide.splitlines()
    assert len(wide_lines[1]) == 157
    # One line per process, a rule, then the total on one line.
    assert sum(1 for x in wide_lines if x.startswith(("echo", "sh -c", "sleep", "no-such"))) == 6
    assert wide_lines[wide_lines.index(wide_lines[1], 2) + 1].startswith("all kinds")


def test_nested_reports_and_action_stand_ins() -> None:
    a = StandInAction([quiet("true").run(), quiet("false").run()], name="action A")
    b = StandInAction([quiet("echo b").run()], name="action B")
    inner = Report([b], name="inner")
    outer = Report([a, inner], name="outer")
    stats = outer.stats()
    assert (stats["num_processes"], stats["num_ok"], stats["num_non_zero_exit_codes"]) == (3, 2, 1)
    assert [s["name"] for s in stats["sub_stats"]] == ["action A", "inner"]
    text = outer.to_string()
    assert "action A" in text and "\n  true" in text and "\n    echo b" in text
    assert "  false: exit code 1" in text
    assert len(outer.processes()) == 3
    assert outer.add([quiet("true")]) is outer and outer.stats()["num_processes"] == 4
    outer.reset()
    assert outer.stats()["num_processes"] == 0 and outer.stats_objects == []


def test_a_single_object_is_accepted() -> None:
    p = quiet("true").run()
    assert Report(p).stats()["num_finished_ok"] == 1
    assert repr(Report(p, name="r")) == "<Report(<1 entries>, name='r')>"
    assert "num_finished_ok=1" in str(Report(p))


def test_json_export_has_every_process_state() -> None:
    ps = one_of_each()
    report = Report([StandInAction(list(ps.values()), "all")], name="json")
    doc = json.loads(report.to_json())
    assert doc["name"] == "json" and "sub_stats" not in doc["stats"]
    assert doc["stats"]["num_processes"] == 6
    records = {r["name"]: r for r in doc["processes"]}
    assert len(doc["processes"]) == 6
    ok = records["echo hello"]
    assert ok == {
        "id": process_id(ps["ok"]),
        "name": "echo hello",
        "kind": "Process",
        "host": None,
        "command": "echo hello",
        "started": True,
        "ended": True,
        "start_date": ps["ok"].start_date,
        "end_date": ps["ok"].end_date,
        "duration": ps["ok"].end_date - ps["ok"].start_date,  # type: ignore[operator]
        "exit_code": 0,
        "exit_signal": None,
        "error": False,
        "error_reason": None,
        "timeouted": False,
        "killed": False,
        "forced_kill": False,
        "expect_fail": False,
        "write_error": False,
        "ok": True,
        "finished_ok": True,
        "outcome": "ok",
        "failure_reason": None,
        "connected": None,
        "stdout_tail": "hello\n",
        "stderr_tail": "",
    }
    nonzero = records["sh -c 'echo oops >&2; exit 3'"]
    assert nonzero["exit_code"] == 3 and nonzero["outcome"] == "non-zero exit"
    assert nonzero["stderr_tail"] == "oops\n" and nonzero["failure_reason"] == "exit code 3"
    error = records["no-such-command-anywhere"]
    assert error["error"] and "command not found" in error["error_reason"]
    assert error["outcome"] == "error" and error["exit_code"] is None
    assert records["sleep 30"]["outcome"] in ("timeout", "killed")
    assert {r["outcome"] for r in doc["processes"]} == {
        "ok", "non-zero exit", "error", "timeout", "killed",
    }  # fmt: skip
    assert all(r["exit_signal"] == 15 for r in doc["processes"] if r["outcome"] == "timeout")


def test_output_tails_are_bounded() -> None:
    p = quiet("seq 1 5000").run()
    record = process_record(p, tail_chars=100)
    assert len(record["stdout_tail"]) <= 100
    assert record["stdout_tail"].endswith("4999\n5000\n")
    assert record["stdout_tail"].split("\n")[0] in {str(i) for i in range(4970, 5001)}
    assert process_record(p, tail_chars=0)["stdout_tail"] == ""
