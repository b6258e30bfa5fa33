"""The progress line, drawn on a real pseudo-terminal, and silent elsewhere."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from _report_testing import StandInAction

from procession import Process
from procession._process import instruments
from procession._report import Progress, format_progress


def drain(fd: int, until: str = "", timeout: float = 10.0) -> str:
    """What the pty master can read until it is idle and ``until`` was read."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            data += chunk
        elif until.encode() in data or time.monotonic() > deadline:
            break
    return data.decode()


@pytest.fixture
def pty() -> Iterator[tuple[int, IO[str]]]:
    """``(master fd, slave as a text file)`` of a fresh pseudo-terminal."""
    master, slave = os.openpty()
    tty = open(slave, "w", encoding="utf-8")  # noqa: SIM115
    try:
        yield master, tty
    finally:
        tty.close()
        os.close(master)


def test_format_progress_pure() -> None:
    assert format_progress(0, 4, 0, 0.0) == "[------------------------] 0/4 ended, 0 failed, 0s"
    assert format_progress(4, 4, 1, 75.0, label="deploy") == (
        "deploy [########################] 4/4 ended, 1 failed, 1m15s"
    )
    assert format_progress(0, 0, 0, 0.0).startswith("[####")  # nothing to wait for
    assert len(format_progress(1, 2, 0, 1.0, label="x" * 200, width=40)) == 39


def test_counts_on_a_pseudo_terminal(pty: tuple[int, IO[str]]) -> None:
    master, tty = pty
    ps = [
        Process("true"),
        Process("sh -c 'exit 1'", nolog_exit_code=True),
        Process("cat"),  # runs until its stdin is closed
        Process("no-such-command-anywhere", nolog_error=True),
    ]
    progress = Progress(ps, file=tty, label="run")
    with progress:
        assert progress.active and progress in instruments()
        assert any(t.name == "procession-progress" for t in threading.enumerate())
        for p in ps:
            p.start()
        out = drain(master, until="3/4 ended, 2 failed")
        ps[2].close_stdin().wait()
    assert not progress.active and progress not in instruments()
    assert (progress.ended, progress.total, progress.failed) == (4, 4, 2)
    out += drain(master)
    assert "run [" in out and "0/4 ended, 0 failed" in out
    assert "3/4 ended, 2 failed" in out  # drawn while cat still ran
    final = out.rstrip("\r\n").rsplit("\r", 1)[-1]
    assert final.startswith("run [########################] 4/4 ended, 2 failed, ")
    assert "\x1b[K" in out and out.endswith("\n")


def test_processes_of_actions_and_already_ended_ones(pty: tuple[int, IO[str]]) -> None:
    master, tty = pty
    done = Process("true").run()
    later = Process("true")
    with Progress([StandInAction([done, later], "a")], file=tty) as progress:
        assert (progress.ended, progress.total) == (1, 2)
        later.run()
    assert (progress.ended, progress.failed) == (2, 0)
    assert "2/2 ended, 0 failed" in drain(master)


def test_reset_is_counted_back(pty: tuple[int, IO[str]]) -> None:
    _, tty = pty
    p = Process("sh -c 'exit 3'", nolog_exit_code=True)
    with Progress([p], file=tty) as progress:
        p.run()
        assert (progress.ended, progress.failed) == (1, 1)
        p.reset()
        assert (progress.ended, progress.failed) == (0, 0)


def test_silent_when_not_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {t.ident for t in threading.enumerate()}
    ps = [Process("true"), Process("false", nolog_exit_code=True)]
    with open(tmp_path / "out.txt", "w") as f, Progress(ps, file=f) as to_file:
        assert not to_file.active and to_file not in instruments()
        assert {t.ident for t in threading.enumerate()} == before  # no thread either
        for p in ps:
            p.run()
    assert (tmp_path / "out.txt").read_text() == ""
    # stderr, the default stream, is not a terminal under pytest's capture.
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as r, os.fdopen(write_fd, "w") as w:
        with Progress(ps, file=w), Progress(ps) as on_stderr:
            assert not on_stderr.active
            for p in ps:
                p.reset().run()
        w.close()
        assert r.read() == ""
    assert capsys.readouterr().err == ""


def test_start_twice_is_an_error(tmp_path: Path) -> None:
    progress = Progress([])
    progress.start()
    with pytest.raises(RuntimeError, match="already started"):
        progress.start()
    progress.stop()
    progress.stop()
