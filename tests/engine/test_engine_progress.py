"""Progress: the line it formats, silent off a terminal, drawn on a pseudo-terminal."""

from __future__ import annotations

import io
import logging
import os
import select
import threading
import time
from pathlib import Path

from procession import logger
from procession.engine import ParamSweeper, Progress, SweepCounts, format_progress, sweep


def test_format_progress() -> None:
    line = format_progress(SweepCounts(200, 50, 4, 0, 146), 2.0, 75.0)
    assert line == "done 50/200 (25.0%) | 4 in progress | 146 remaining | 2.00/s | ETA 1m15s"
    assert "ETA ?" in format_progress(SweepCounts(10, 0, 0, 0, 10), None, None)
    assert "-/s" in format_progress(SweepCounts(0, 0, 0, 0, 0), None, None)
    assert "3 skipped" in format_progress(SweepCounts(10, 0, 0, 3, 7), None, None)


def test_silent_when_not_a_terminal(tmp_path: Path) -> None:
    stream = io.StringIO()
    with ParamSweeper(tmp_path / "s", sweep({"i": range(3)})) as s:
        before = threading.active_count()
        with Progress(s, stream=stream, interval=0.01) as progress:
            assert not progress.enabled
            assert threading.active_count() == before
            s.done(s.get_next())
        assert "done 1/3" in progress.render()
    assert stream.getvalue() == ""


def _read_until(fd: int, text: str, timeout: float = 20) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} not in {data!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            data += os.read(fd, 65536)
    return data.decode()


def test_draws_on_a_terminal_and_clears_before_log_lines(tmp_path: Path) -> None:
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty, ParamSweeper(tmp_path / "s", sweep({"i": range(4)})) as s:
        handler = logging.StreamHandler(tty)
        logger.addHandler(handler)
        try:
            with Progress(s, stream=tty, interval=0.05) as progress:
                assert progress.enabled
                _read_until(master, "done 0/4 (0.0%)")
                for _ in range(2):
                    s.done(s.get_next())
                text = _read_until(master, "done 2/4 (50.0%)")
                assert "2 remaining" in text and "/s | ETA" in text
                logger.warning("a log line")
                text = _read_until(master, "a log line")
                assert "\r\x1b[Ka log line" in text  # the progress line was erased first
            assert handler.stream is tty  # restored
            _read_until(master, "\n")
        finally:
            logger.removeHandler(handler)
            os.close(master)
