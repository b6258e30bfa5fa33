"""One warning per failure, with what is needed to understand it; quiet otherwise."""

from __future__ import annotations

import logging

import pytest

from procession import Process


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG, logger="procession")
    monkeypatch.setattr(logging.getLogger("procession"), "propagate", True)


def test_ok_process_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    Process("echo fine").run()
    assert warnings_of(caplog) == []


def test_non_zero_exit_logs_one_detailed_warning(caplog: pytest.LogCaptureFixture) -> None:
    Process("echo out-tail; echo err-tail >&2; exit 7", shell=True).run()
    (msg,) = warnings_of(caplog)
    for part in ("exit code 7", "command: echo out-tail", "out-tail", "err-tail", "after "):
        assert part in msg


def test_timeout_and_error_warnings(caplog: pytest.LogCaptureFixture) -> None:
    Process("sleep 10", timeout=0.1).run()
    Process("no-such-command-xyz").run()
    msgs = warnings_of(caplog)
    assert len(msgs) == 2
    assert "timed out after" in msgs[0] and "killed by SIGTERM" in msgs[0]
    assert "command not found" in msgs[1]


def test_nolog_flags_silence_warnings(caplog: pytest.LogCaptureFixture) -> None:
    Process("exit 1", shell=True, nolog_exit_code=True).run()
    Process("sleep 10", timeout=0.1, nolog_timeout=True).run()
    Process("no-such-command-xyz", nolog_error=True).run()
    assert warnings_of(caplog) == []


def test_deliberate_kill_is_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    Process("sleep 10").start().kill().wait()
    assert warnings_of(caplog) == []
