"""Streams: stdin, pseudo-terminals, undecodable bytes, huge outputs."""

from __future__ import annotations

import resource
import time

import pytest

from procession import Process, ProcessBase, ProcessOutputHandler


def test_write_and_close_stdin() -> None:
    p = Process("cat").start()
    p.write("hello ").write(b"world\n")
    p.close_stdin().wait(10)
    assert p.ended and p.ok and p.stdout == "hello world\n"


def test_print_to_a_process() -> None:
    p = Process("cat").start()
    print("via print", file=p)  # type: ignore[arg-type]
    p.close_stdin().wait(10)
    assert p.stdout == "via print\n"


def test_large_stdin_write_does_not_block_the_caller() -> None:
    payload = b"x" * (8 << 20)
    p = Process("wc -c").start()
    t0 = time.monotonic()
    p.write(payload)  # queued: returns before the child has read it all
    assert time.monotonic() - t0 < 5
    p.close_stdin().wait(30)
    assert p.stdout.strip() == str(len(payload))


def test_write_to_an_ended_process_is_a_write_error(caplog: pytest.LogCaptureFixture) -> None:
    p = Process("true").run()
    p.write("late\n")
    assert p.write_error and not p.ok
    assert "write to stdin" in caplog.text
    q = Process("true", ignore_write_error=True).run()
    q.write("late\n")
    assert q.write_error and q.ok


def test_write_to_a_process_that_closed_stdin() -> None:
    p = Process(["sh", "-c", "exec 0<&-; sleep 1"]).start()
    time.sleep(0.3)
    p.write(b"y" * 200_000)
    p.wait(10)
    assert p.write_error


def test_write_before_start_is_an_error() -> None:
    with pytest.raises(ValueError, match="before start"):
        Process("cat").write("x")


def test_write_with_closed_stdin_option() -> None:
    p = Process("sleep 0.2", close_stdin=True).start()
    p.write("x")
    p.wait()
    assert p.write_error


def test_pty_mode_gives_a_terminal() -> None:
    p = Process(
        "tty; test -t 0 && test -t 1 && echo both-tty; test -t 2 || echo err-pipe",
        shell=True,
        pty=True,
    )
    p.run(10)
    assert p.ok
    lines = p.stdout.splitlines()
    assert lines[0].startswith("/dev/pts/")
    assert "both-tty" in lines and "err-pipe" in lines


def test_pty_is_the_controlling_terminal() -> None:
    # ssh -t and password prompts open /dev/tty: it must exist.
    p = Process("echo via-dev-tty > /dev/tty", shell=True, pty=True).run(10)
    assert p.ok and "via-dev-tty" in p.stdout


def test_pty_interactive_session() -> None:
    p = Process('sh -c \'printf "name? "; read n; echo "hi $n"\'', pty=True).start()
    assert p.expect(r"name\? $", timeout=10)[0] == 0
    p.write("bob\n")
    assert p.expect(r"hi bob", timeout=10)[0] == 0
    p.wait(10)
    assert p.ok


def test_pty_close_stdin_sends_eof() -> None:
    p = Process("cat", pty=True).start()
    p.write("abc\n")
    p.expect("abc", timeout=10)
    p.close_stdin()
    p.wait(10)
    assert p.ended and p.ok


def test_invalid_utf8_never_raises() -> None:
    seen: list[str] = []

    class Lines(ProcessOutputHandler):
        def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
            seen.append(line)

    p = Process(["printf", "ok \\377\\376 end\\n\\303"], stdout_handlers=[Lines()]).run()
    assert p.ok
    assert p.stdout == "ok \ufffd\ufffd end\n\ufffd"
    assert seen == ["ok \ufffd\ufffd end", "\ufffd"]


def test_utf8_split_across_chunks_is_decoded_whole() -> None:
    seen: list[str] = []

    class Lines(ProcessOutputHandler):
        def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
            seen.append(line)

    # "é" is 0xc3 0xa9: write its two bytes in separate chunks.
    p = Process(
        "printf '\\303'; sleep 0.2; printf '\\251\\n'", shell=True, stdout_handlers=[Lines()]
    )
    p.run(10)
    assert p.stdout == "é\n" and seen == ["é"]


def test_output_after_exit_is_all_collected() -> None:
    p = Process("head -c 5000000 /dev/zero | tr '\\0' a", shell=True).run(60)
    assert len(p.stdout) == 5_000_000


def test_background_grandchild_holding_the_pipe_does_not_hang_the_end() -> None:
    p = Process("sleep 30 & echo started", shell=True, kill_subprocesses=True).run(20)
    assert p.ended and p.ok and p.stdout == "started\n"
    # The grandchild is not ours to reap: kill it so the leak guard stays quiet.
    Process("pkill -f '^sleep 30$'", ignore_exit_code=True).run()


@pytest.mark.slow
def test_one_gib_with_default_handlers_off_keeps_memory_flat() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    p = Process(
        "head -c 1073741824 /dev/zero",
        shell=True,
        default_stdout_handler=False,
    ).run(300)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert p.ok and p.stdout == ""
    assert after - before < 64 * 1024, f"max RSS grew by {(after - before) // 1024} MiB"


@pytest.mark.slow
def test_large_output_captured_exactly() -> None:
    size = 256 << 20
    p = Process(f"head -c {size} /dev/zero", shell=True).run(300)
    assert p.ok
    assert len(p._collected[1].data) == size
