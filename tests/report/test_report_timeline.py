"""Timeline pictures from an event log, event records, reports and processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from procession import Process
from procession._report import (
    EventLog,
    Report,
    Span,
    plot_timeline,
    read_event_log,
    spans_from_events,
    spans_from_processes,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def some_run(path: Path) -> list[Process]:
    with EventLog(path):
        ps = [
            Process("sleep 0.1", name="ok").start(),
            Process("sh -c 'sleep 0.2; exit 1'", name="fails", nolog_exit_code=True).start(),
            Process("no-such-command-anywhere", name="error", nolog_error=True).start(),
            Process("sleep 30", name="slow", timeout=0.3, nolog_timeout=True).start(),
        ]
        for p in ps:
            p.wait()
    return ps


def test_spans_from_events_pure() -> None:
    events = [
        {"event": "created", "id": 1, "time": 0.0, "name": "a", "host": None},
        {"event": "started", "id": 1, "time": 1.0, "name": "a", "host": None},
        {"event": "started", "id": 2, "time": 2.0, "name": "b", "host": "n1"},
        {"event": "ended", "id": 1, "time": 3.0, "name": "a", "host": None,
         "start_date": 1.0, "end_date": 3.0, "ok": False, "error": False,
         "timeouted": False, "killed": False, "exit_signal": None, "exit_code": 2},
        {"event": "started", "id": 3, "time": 4.0, "name": "c", "host": "n2"},
        {"event": "ended", "id": 3, "time": 5.0, "name": "c", "host": "n2",
         "start_date": 4.0, "end_date": 5.0, "ok": False, "error": True,
         "timeouted": False, "killed": False, "exit_signal": None, "exit_code": None},
    ]  # fmt: skip
    assert spans_from_events(events) == [
        Span("a", "a", 1.0, 3.0, "non-zero exit"),
        Span("n1", "b", 2.0, 5.0, "running"),  # never ended: up to the last event
        Span("n2", "c", 4.0, 5.0, "error"),
    ]


def test_spans_from_log_and_from_processes_agree(tmp_path: Path) -> None:
    ps = some_run(tmp_path / "run.jsonl")
    from_log = spans_from_events(read_event_log(tmp_path / "run.jsonl"))
    from_objects = spans_from_processes(ps, now=0.0)
    assert from_log == from_objects
    assert {s.name: s.outcome for s in from_log} == {
        "ok": "ok", "fails": "non-zero exit", "error": "error", "slow": "timeout",
    }  # fmt: skip
    running = Process("sleep 30").start()
    try:
        (span,) = spans_from_processes([running], now=running.start_date + 5)  # type: ignore[operator]
        assert span.outcome == "running" and span.end - span.start == 5
    finally:
        running.kill().wait()


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_picture_from_an_event_log(tmp_path: Path, suffix: str) -> None:
    some_run(tmp_path / "run.jsonl")
    out = plot_timeline(tmp_path / "run.jsonl", tmp_path / f"timeline{suffix}")
    data = out.read_bytes()
    assert out == tmp_path / f"timeline{suffix}" and len(data) > 1000
    if suffix == ".png":
        assert data.startswith(PNG_MAGIC)
    else:
        text = data.decode()
        assert "<svg" in text and "seconds since the first start" in text
        for word in ("ok", "non-zero exit", "error", "timeout"):
            assert f"<!-- {word} -->" in text  # the legend entries


def test_picture_from_a_report_processes_and_events(tmp_path: Path) -> None:
    ps = some_run(tmp_path / "run.jsonl")
    sources = {
        "report": Report(ps),
        "processes": ps,
        "events": read_event_log(tmp_path / "run.jsonl"),
        "path-string": str(tmp_path / "run.jsonl"),
    }
    for name, source in sources.items():
        out = plot_timeline(source, tmp_path / f"{name}.png", title=name)
        assert out.read_bytes().startswith(PNG_MAGIC), name
    empty = plot_timeline([], tmp_path / "empty.png")
    assert empty.read_bytes().startswith(PNG_MAGIC)


def test_path_needs_an_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="extension"):
        plot_timeline([], tmp_path / "timeline")


def test_missing_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if matplotlib were not installed: None in sys.modules stops its import.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'procession\[plot\]'"):
        plot_timeline([], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
