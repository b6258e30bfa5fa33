"""The remote command's start and exit lines are stripped exactly (pure)."""

from __future__ import annotations

import pytest

from procession._remote._framing import RemoteFraming, wrap_command

START = b"\x1eprocession-pgid 4242\n"
END = b"\x1eprocession-exit 7\n"


def feed_in_chunks(data: bytes, size: int) -> tuple[bytes, RemoteFraming]:
    f = RemoteFraming()
    out = b""
    for i in range(0, len(data), size):
        out += f.feed(data[i : i + size], eof=False)
    out += f.feed(b"", eof=True)
    return out, f


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_frames_are_removed_whatever_the_chunking(size: int) -> None:
    data = b"Warning: ssh says\n" + START + b"err 1\n\x1enot a frame\npartial" + b"\n" + END
    out, f = feed_in_chunks(data, size)
    assert out == b"Warning: ssh says\nerr 1\n\x1enot a frame\npartial\n"
    assert f.pgid == 4242 and f.exit_status == 7 and f.started
    assert bytes(f.before_start) == b"Warning: ssh says\n"


def test_no_start_line_means_not_started() -> None:
    out, f = feed_in_chunks(b"ssh: connect to host x port 22: Connection refused\n", 5)
    assert not f.started and f.exit_status is None
    assert out == bytes(f.before_start)


def test_lost_connection_has_start_but_no_exit() -> None:
    out, f = feed_in_chunks(START + b"working\n", 4)
    assert f.started and f.exit_status is None and out == b"working\n"


def test_frame_like_text_mid_line_is_left_alone() -> None:
    out, f = feed_in_chunks(START + b"x\x1eprocession-exit 1\n" + END, 3)
    assert out == b"x\x1eprocession-exit 1\n" and f.exit_status == 7


def test_pty_line_endings() -> None:
    out, f = feed_in_chunks(b"\x1eprocession-pgid 9\r\nhello\r\n\x1eprocession-exit 0\r\n", 2)
    assert out == b"hello\r\n" and f.pgid == 9 and f.exit_status == 0


def test_wrapped_command_keeps_the_command_whole() -> None:
    wrapped = wrap_command("echo 'é' # comment")
    assert "echo 'é' # comment\n)" in wrapped  # a trailing comment cannot eat the ")"
