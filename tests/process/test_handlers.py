"""Output and lifecycle handlers: Execo's interfaces, run on the conductor thread."""

from __future__ import annotations

import io
import os
import threading
from typing import Any

import pytest

from procession import (
    STDERR,
    STDOUT,
    Process,
    ProcessBase,
    ProcessLifecycleHandler,
    ProcessOutputHandler,
)
from procession._errors import ConductorBlockingCall
from procession._process import LineSplitter


class Lines(ProcessOutputHandler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, str]] = []
        self.threads: set[str] = set()

    def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
        self.lines.append((stream, line))
        self.threads.add(threading.current_thread().name)


def test_line_splitter_handles_all_separators_and_chunk_boundaries() -> None:
    s = LineSplitter()
    out = s.feed("a\nb\r") + s.feed("\nc\rd\r\ne\u2028f") + s.feed("\x0bg") + s.flush()
    assert out == ["a", "b", "c", "d", "e", "f", "g"]
    s = LineSplitter()
    assert (
        s.feed("x\r") == [] and s.feed("\r") == ["x"] and s.feed("y") == [""] and s.flush() == ["y"]
    )
    assert LineSplitter().flush() == []


def test_read_line_gets_every_line_of_both_streams() -> None:
    h = Lines()
    p = Process(
        "printf 'one\\ntwo\\r\\nthree'; printf 'e1\\ne2\\n' >&2",
        shell=True,
        stdout_handlers=[h],
        stderr_handlers=[h],
    ).run()
    assert p.ok
    assert [line for s, line in h.lines if s == STDOUT] == ["one", "two", "three"]
    assert [line for s, line in h.lines if s == STDERR] == ["e1", "e2"]
    assert h.threads == {"procession-conductor"}


def test_read_gets_chunks_and_eof() -> None:
    calls: list[tuple[str, bool]] = []

    class Raw(ProcessOutputHandler):
        def read(
            self, process: ProcessBase, stream: int, string: str, eof: bool, error: bool
        ) -> None:
            calls.append((string, eof))

    Process("printf abc", stdout_handlers=[Raw()]).run()
    assert "".join(s for s, _ in calls) == "abc"
    assert calls[-1][1] is True and sum(eof for _, eof in calls) == 1


def test_one_handler_serves_many_processes() -> None:
    h = Lines()
    ps = [Process(["echo", str(i)], stdout_handlers=[h]).start() for i in range(20)]
    for p in ps:
        p.wait()
    assert sorted(int(line) for _, line in h.lines) == list(range(20))


def test_fd_file_object_and_filename_handlers(tmp_path: Any) -> None:
    r, w = os.pipe()
    text = io.StringIO()
    binary = io.BytesIO()
    name = tmp_path / "out.log"
    Process(
        "printf 'hello\\n'",
        stdout_handlers=[w, text, binary, str(name)],
    ).run()
    os.close(w)
    with os.fdopen(r, "rb") as f:
        assert f.read() == b"hello\n"
    assert text.getvalue() == "hello\n"
    assert binary.getvalue() == b"hello\n"
    assert name.read_text() == "hello\n"
    Process("printf 'again\\n'", stdout_handlers=[str(name)]).run()
    assert name.read_text() == "hello\nagain\n"


def test_invalid_handler_is_reported_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    p = Process("echo x", stdout_handlers=[object()]).run()
    assert p.ok and p.stdout == "x\n"
    assert "invalid output handler" in caplog.text


def test_handler_exceptions_are_logged_and_do_not_stop_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Boom(ProcessOutputHandler):
        def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
            raise RuntimeError("boom")

    p = Process("echo x", stdout_handlers=[Boom()]).run()
    assert p.ok and p.stdout == "x\n"
    assert "boom" in caplog.text


def test_default_handlers_off_collect_nothing() -> None:
    h = Lines()
    p = Process(
        "echo out; echo err >&2",
        shell=True,
        default_stdout_handler=False,
        default_stderr_handler=False,
        stdout_handlers=[h],
    ).run()
    assert p.stdout == "" and p.stderr == "" and h.lines == [(STDOUT, "out")]


def test_lifecycle_handlers_order_and_thread() -> None:
    events: list[tuple[str, bool, bool, str]] = []

    class Life(ProcessLifecycleHandler):
        def _note(self, name: str, p: ProcessBase) -> None:
            events.append((name, p.started, p.ended, threading.current_thread().name))

        def start(self, process: ProcessBase) -> None:
            self._note("start", process)

        def end(self, process: ProcessBase) -> None:
            self._note("end", process)

        def reset(self, process: ProcessBase) -> None:
            self._note("reset", process)

    p = Process("true", lifecycle_handlers=[Life()]).run()
    p.reset()
    conductor = "procession-conductor"
    assert events == [
        ("start", True, False, conductor),
        ("end", True, True, conductor),
        ("reset", True, True, conductor),
    ]


def test_lifecycle_end_is_called_for_a_start_error() -> None:
    seen: list[str] = []

    class Life(ProcessLifecycleHandler):
        def start(self, process: ProcessBase) -> None:
            seen.append("start")

        def end(self, process: ProcessBase) -> None:
            seen.append(f"end error={process.error}")

    Process("no-such-command-xyz", lifecycle_handlers=[Life()], nolog_error=True).run()
    assert seen == ["start", "end error=True"]


def test_blocking_call_from_a_handler_raises_instead_of_deadlocking() -> None:
    raised: list[BaseException] = []
    other = Process("sleep 30").start()

    class Waits(ProcessLifecycleHandler):
        def end(self, process: ProcessBase) -> None:
            try:
                other.wait()
            except ConductorBlockingCall as exc:
                raised.append(exc)

    Process("true", lifecycle_handlers=[Waits()]).run()
    other.kill().wait()
    assert len(raised) == 1
    assert "wait()" in str(raised[0]) and "_async" in str(raised[0])


def test_starting_a_process_from_a_handler_works() -> None:
    follow = Process("echo follow-up")

    class Chain(ProcessLifecycleHandler):
        def end(self, process: ProcessBase) -> None:
            follow.start()

    Process("true", lifecycle_handlers=[Chain()]).run()
    assert follow.started
    follow.wait()
    assert follow.stdout == "follow-up\n"
