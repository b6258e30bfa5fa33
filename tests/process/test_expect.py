"""expect(): regexes in the output as it arrives, Execo semantics."""

from __future__ import annotations

import re
import time

import pytest

from procession import STDERR, ExpectOutputHandler, Process
from procession._process import Matcher, compile_regexes


def test_matcher_consumes_up_to_the_match() -> None:
    m = Matcher()
    m.feed("a=1\nb=2\n")
    rx = compile_regexes(r"^(\w)=(\d)$")
    first = m.search(rx)
    second = m.search(rx)
    assert first is not None and first[1].group(1) == "a"
    assert second is not None and second[1].group(1) == "b"
    assert m.search(rx) is None


def test_matcher_list_returns_first_regex_in_list_order() -> None:
    m = Matcher("error: x\nok\n")
    hit = m.search(compile_regexes(["^ok$", "^error"]))
    assert hit is not None and hit[0] == 0


def test_invalid_regex_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"invalid expect regex '\('"):
        compile_regexes(["("])
    with pytest.raises(ValueError, match="at least one"):
        compile_regexes([])


def test_expect_match() -> None:
    p = Process("echo starting; sleep 0.2; echo 'listening on 4242'; sleep 30", shell=True).start()
    try:
        index, match = p.expect(r"listening on (\d+)", timeout=10)
        assert index == 0 and match is not None and match.group(1) == "4242"
        assert not p.expect_fail
    finally:
        p.kill().wait()


def test_expect_list_gives_index() -> None:
    p = Process("echo 'Permission denied'", shell=True).start()
    index, match = p.expect(["^Welcome", "^Permission denied"], timeout=10)
    p.wait()
    assert index == 1 and match is not None


def test_expect_timeout_returns_none_and_sets_expect_fail(caplog: pytest.LogCaptureFixture) -> None:
    p = Process("sleep 30").start()
    t0 = time.monotonic()
    assert p.expect("never", timeout=0.3) == (None, None)
    assert time.monotonic() - t0 >= 0.3
    assert p.expect_fail and not p.ok
    assert "expect failed" in caplog.text
    p.kill().wait()


def test_expect_default_timeout_and_ignore_flags(caplog: pytest.LogCaptureFixture) -> None:
    p = Process(
        "sleep 30",
        default_expect_timeout=0.2,
        ignore_expect_fail=True,
        nolog_expect_fail=True,
        ignore_exit_code=True,
    ).start()
    assert p.expect("never") == (None, None)
    assert p.expect_fail and p.ok
    assert "expect failed" not in caplog.text
    p.kill().wait()


def test_expect_at_eof_returns_at_once() -> None:
    p = Process("echo done", shell=True).start()
    t0 = time.monotonic()
    assert p.expect("never", timeout=30) == (None, None)
    assert time.monotonic() - t0 < 10
    p.wait()


def test_expect_prompt_without_trailing_newline() -> None:
    p = Process("printf 'login: '; read x; printf 'Password: '; read y; echo \"$x/$y\"", shell=True)
    p.start()
    assert p.expect(r"^login:\s*$", timeout=10)[0] == 0
    p.write("alice\n")
    assert p.expect(r"^Password:\s*$", timeout=10)[0] == 0
    p.write("secret\n")
    _, m = p.expect(r"^(\S+)/(\S+)$", timeout=10)
    p.wait()
    assert m is not None and m.groups() == ("alice", "secret")


def test_successive_expects_continue_after_previous_match() -> None:
    p = Process("for i in 1 2 3; do echo line$i; done", shell=True).run()
    found = [p.expect(r"^line(\d)$", timeout=5)[1] for _ in range(3)]
    assert [m.group(1) for m in found if m] == ["1", "2", "3"]
    assert p.expect(r"^line(\d)$", timeout=5) == (None, None)


def test_backtrack_searches_output_since_start() -> None:
    p = Process("echo early; sleep 30", shell=True).start()
    try:
        time.sleep(0.3)
        assert p.stdout == "early\n"
        assert p.expect("early", timeout=5)[0] == 0
    finally:
        p.kill().wait()


def test_no_backtrack_searches_only_new_output() -> None:
    q = Process("echo early; read x; echo early-again", shell=True).start()
    while "early" not in q.stdout:
        time.sleep(0.01)
    handler = ExpectOutputHandler()
    q.expect("x", timeout=0, backtrack=False, expect_output_handler=handler)
    q.write("go\n")
    _, m = q.expect(r"^early\S*$", timeout=5, backtrack=False, expect_output_handler=handler)
    assert m is not None and m.group(0) == "early-again"
    q.wait()


def test_expect_on_stderr() -> None:
    p = Process("echo 'warn: x' >&2", shell=True).start()
    assert p.expect("^warn", stream=STDERR, timeout=5)[0] == 0
    p.wait()
    r = Process("echo 'on err' >&2", shell=True, default_stream=STDERR).start()
    assert r.expect("on err", timeout=5)[0] == 0
    r.wait()


def test_expect_multiline_regex_across_chunks() -> None:
    p = Process("printf 'BEGIN\\n'; sleep 0.2; printf 'body\\nEND\\n'", shell=True).start()
    _, m = p.expect(re.compile(r"BEGIN\n(.*)\nEND", re.S), timeout=5)
    p.wait()
    assert m is not None and m.group(1) == "body"


def test_expect_output_handler_over_several_processes() -> None:
    h = ExpectOutputHandler()
    fast = Process("sleep 0.1; echo ready-fast", shell=True, stdout_handlers=[h])
    slow = Process("sleep 1; echo ready-slow", shell=True, stdout_handlers=[h])
    fast.start()
    slow.start()
    first = h.expect("ready-(\\w+)", timeout=10)
    assert list(first) == [(fast, 1)]
    second = h.expect("ready-(\\w+)", timeout=10)
    assert list(second) == [(slow, 1)]
    assert h.expect("ready", timeout=5) == {}  # both streams ended, nothing left
    fast.wait()
    slow.wait()
