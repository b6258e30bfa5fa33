"""The conductor: exit watchers, resource exhaustion, interpreter exit, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from procession._conductor import get_conductor

ROOT = Path(__file__).resolve().parents[2]


def run_script(
    code: str, timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_pidfd_is_used_on_linux() -> None:
    assert get_conductor().exit_watcher == "pidfd"


@pytest.mark.slow
def test_process_suite_passes_with_the_sigchld_watcher() -> None:
    # The same tests, on the fallback exit watcher (used where pidfd is missing).
    env = dict(os.environ, PROCESSION_EXIT_WATCHER="sigchld")
    r = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/process/test_states.py", "tests/process/test_expect.py",
            "tests/process/test_handlers.py", "tests/process/test_async.py",
            "tests/conductor/test_conductor.py::test_watcher_reports_itself",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert " passed" in r.stdout


def test_watcher_reports_itself() -> None:
    expected = os.environ.get("PROCESSION_EXIT_WATCHER", "pidfd")
    assert get_conductor().exit_watcher == expected


def test_sigchld_watcher_started_off_the_main_thread_polls() -> None:
    r = run_script(
        """
        import os, threading
        os.environ["PROCESSION_EXIT_WATCHER"] = "sigchld"
        from procession import Process
        out = []
        run = lambda: out.append(Process("exit 5", shell=True).run(30).exit_code)
        t = threading.Thread(target=run)
        t.start(); t.join()
        print(out)
        """
    )
    assert r.stdout.strip() == "[5]", r.stderr


def test_soft_fd_limit_is_raised_to_hard() -> None:
    r = run_script(
        """
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        from procession import Process
        Process("true").run()
        print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard)
        """
    )
    assert r.stdout.strip() == "True", r.stderr


def test_running_out_of_descriptors_ends_processes_in_error_without_hanging() -> None:
    r = run_script(
        """
        import resource, logging
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
        from procession import Process, logger
        logger.setLevel(logging.ERROR)
        ps = [Process("sleep 5").start() for _ in range(100)]
        failed = [p for p in ps if p.error]
        print(len(failed) > 0, all(p.ended for p in failed))
        print(failed[0].error_reason if failed else "")
        for p in ps:
            p.kill()
        for p in ps:
            p.wait(30)
        print(all(p.ended for p in ps))
        """,
        timeout=120,
    )
    lines = r.stdout.splitlines()
    assert lines[0] == "True True", r.stderr
    assert "out of file descriptors" in lines[1]
    assert lines[2] == "True"


def test_children_get_sigterm_at_interpreter_exit() -> None:
    r = run_script(
        """
        from procession import Process
        p = Process("sleep 60").start()
        print(p.pid, flush=True)
        """
    )
    pid = int(r.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    assert not pid_alive(pid)


def test_kill_childs_at_end_off_leaves_children_running() -> None:
    r = run_script(
        """
        from procession import Process, configuration
        configuration["kill_childs_at_end"] = False
        p = Process("sleep 60").start()
        print(p.pid, flush=True)
        """
    )
    pid = int(r.stdout.strip())
    try:
        time.sleep(0.3)
        assert pid_alive(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_ctrl_c_interrupts_a_blocking_wait_promptly() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # Ctrl-C as from a terminal, even when the tests run in a background
            # job (whose shell made SIGINT ignored, and Python leaves it so).
            "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from procession import Process\n"
            "p = Process('sleep 60').start()\n"
            "print(p.pid, flush=True)\n"
            "try:\n    p.wait()\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()
    assert "interrupted" in out
    assert time.monotonic() - t0 < 5
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and pid_alive(child):
        time.sleep(0.05)
    assert not pid_alive(child)


def test_no_thread_is_started_at_import() -> None:
    r = run_script(
        """
        import threading
        import procession
        print(threading.active_count())
        procession.Process("true").run()
        print(threading.active_count())
        """
    )
    assert r.stdout.split() == ["1", "2"], r.stderr
