"""Process state transitions, with Execo's names and fixed semantics."""

from __future__ import annotations

import signal
import time

import pytest

from procession import Process, configuration


def test_not_started_state() -> None:
    p = Process("true")
    assert (p.started, p.ended, p.running, p.ok, p.finished_ok) == (
        False,
        False,
        False,
        True,
        False,
    )
    assert p.pid is None and p.exit_code is None and p.start_date is None


def test_started_is_true_when_start_returns() -> None:
    # Execo sets `started` asynchronously, after start() returned (a bug).
    p = Process("sleep 5").start()
    try:
        assert p.started and p.running and p.pid is not None and p.start_date is not None
        assert p.ok and not p.finished_ok
    finally:
        p.kill().wait()


def test_exit_code_is_the_real_exit_code() -> None:
    # Execo 2.8.2 reports the raw wait status (768 for `exit 3`).
    p = Process("exit 3", shell=True).run()
    assert p.ended and p.exit_code == 3 and p.exit_signal is None
    assert not p.ok and not p.finished_ok


def test_ok_process() -> None:
    p = Process(["echo", "a b"]).run()
    assert p.ok and p.finished_ok and p.exit_code == 0 and p.stdout == "a b\n"
    assert p.end_date is not None and p.start_date is not None and p.end_date >= p.start_date


def test_string_command_is_split_like_a_shell() -> None:
    p = Process("printf '%s|' 'one two' three").run()
    assert p.stdout == "one two|three|"


def test_ignore_exit_code() -> None:
    p = Process("false", ignore_exit_code=True).run()
    assert p.exit_code == 1 and p.ok


def test_command_not_found_is_an_error_not_an_exit_code() -> None:
    p = Process("no-such-command-xyz").start()
    assert p.started and p.ended and p.error and not p.ok
    assert p.exit_code is None
    assert "command not found" in (p.error_reason or "")
    assert Process("no-such-command-xyz", ignore_error=True).run().ok


def test_bad_working_directory() -> None:
    p = Process("true", cwd="/no/such/dir").run()
    assert p.error and "/no/such/dir" in (p.error_reason or "")


def test_bad_command_arguments_raise_at_once() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Process("")
    with pytest.raises(ValueError, match="cannot split"):
        Process("echo 'unbalanced").start()


def test_kill_sets_killed_and_signal() -> None:
    p = Process("sleep 30").start()
    p.kill()
    assert p.killed
    p.wait()
    assert p.ended and p.exit_signal == signal.SIGTERM and p.exit_code is None
    # A killed process is not ok unless told to be (Execo counted it ok).
    assert not p.ok
    q = Process("sleep 30", ignore_exit_code=True).start()
    q.kill().wait()
    assert q.ok


def test_kill_escalates_to_sigkill_when_sigterm_is_ignored() -> None:
    p = Process(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"])
    p.start()
    assert p.expect("ready", timeout=10)[0] == 0
    t0 = time.monotonic()
    p.kill(auto_sigkill=0.5)
    p.wait(10)
    assert p.ended and p.forced_kill
    assert p.exit_signal == signal.SIGKILL
    assert time.monotonic() - t0 >= 0.5


def test_kill_timeout_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(configuration, "kill_timeout", 0.3)
    p = Process(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]).start()
    p.expect("ready", timeout=10)
    p.kill().wait(10)
    assert p.forced_kill and p.exit_signal == signal.SIGKILL


def test_no_sigkill_when_auto_sigkill_false() -> None:
    p = Process(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]).start()
    p.expect("ready", timeout=10)
    p.kill(auto_sigkill=False)
    p.wait(0.8)
    assert p.running and not p.forced_kill
    p.kill(signal.SIGKILL).wait(10)
    assert p.exit_signal == signal.SIGKILL


def test_execo_kill_argument_name_is_accepted() -> None:
    p = Process("sleep 30").start()
    p.kill(auto_force_kill_timeout=False).wait(10)
    assert p.ended
    with pytest.raises(TypeError):
        Process("true").kill(bogus=1)


def test_kill_subprocesses_kills_the_whole_group() -> None:
    # With shell=True, kill() reaches the shell's children too (Execo default).
    p = Process("sleep 30 & echo $!; wait", shell=True).start()
    _, m = p.expect(r"^(\d+)$", timeout=10)
    assert m is not None
    grandchild = int(m.group(1))
    p.kill().wait(10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_timeout_kills_and_marks_timeouted() -> None:
    t0 = time.monotonic()
    p = Process("sleep 30", timeout=0.3).run()
    assert p.timeouted and p.killed and p.ended and not p.ok
    assert time.monotonic() - t0 < 20
    assert Process("sleep 30", timeout=0.2, ignore_timeout=True).run().ok


def test_timeout_escalates_for_a_process_ignoring_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(configuration, "kill_timeout", 0.3)
    p = Process(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], timeout=0.3).run()
    assert p.timeouted and p.forced_kill and p.exit_signal == signal.SIGKILL


def test_timeout_given_as_duration_string() -> None:
    assert Process("true", timeout="0:01:00").timeout == 60


def test_wait_with_timeout_returns_while_running() -> None:
    p = Process("sleep 30").start()
    assert p.wait(0.1) is p and p.running
    p.kill().wait()


def test_wait_before_start_is_an_error() -> None:
    with pytest.raises(ValueError, match="not started"):
        Process("true").wait()


def test_start_twice_does_nothing() -> None:
    p = Process("echo once").start()
    pid = p.pid
    assert p.start().pid == pid
    p.wait()
    assert p.stdout == "once\n"


def test_reset_allows_a_restart() -> None:
    p = Process("echo again").run()
    first_pid = p.pid
    p.reset()
    assert not p.started and not p.ended and p.stdout == "" and p.pid is None
    p.run()
    assert p.ok and p.stdout == "again\n" and p.pid != first_pid


def test_reset_kills_a_running_process() -> None:
    p = Process("sleep 30").start()
    p.reset()
    assert not p.started


def test_context_manager_kills_and_waits() -> None:
    with Process("sleep 30").start() as p:
        assert p.running
    assert p.ended and p.killed


def test_methods_are_chainable() -> None:
    p = Process("cat")
    assert p.start() is p
    assert p.write("x") is p
    assert p.close_stdin() is p
    assert p.wait() is p
    assert p.kill() is p
    assert p.reset() is p
    q = Process("true")
    assert q.run() is q


def test_env_and_cwd(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = Process("echo $FOO $HOME; pwd", shell=True, env={"FOO": "bar", "HOME": None}, cwd=tmp_path)
    p.run()
    assert p.stdout == f"bar\n{tmp_path}\n"


def test_close_stdin_option() -> None:
    p = Process("cat", close_stdin=True).run(10)
    assert p.ended and p.ok and p.stdout == ""


def test_str_repr_dump_are_readable() -> None:
    p = Process("echo hi; exit 2", shell=True, timeout=5, name="greeter").run()
    assert repr(p) == "Process('echo hi; exit 2', timeout=5.0, shell=True)"
    text = str(p)
    assert "name='greeter'" in text and "exit_code=2" in text and "ok=False" in text
    assert "\x1b[" not in text
    dump = p.dump()
    assert "stdout:\nhi\n" in dump


def test_stats() -> None:
    p = Process("exit 1", shell=True).run()
    s = p.stats()
    assert s["num_processes"] == 1 and s["num_ended"] == 1 and s["num_non_zero_exit_codes"] == 1
    assert s["num_ok"] == 0 and s["num_finished_ok"] == 0
