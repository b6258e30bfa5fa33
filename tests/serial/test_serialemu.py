"""The device emulator and its pty pairs, driven through plain descriptors."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from _serial_testing import TIMEOUT

from procession.testbed.serialemu import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    EmulatedDevice,
    PtyPair,
    SerialEmulatorError,
    emulated_devices,
)


class Line:
    """The user side of a device, opened raw with os.open (no procession)."""

    def __init__(self, dev: EmulatedDevice) -> None:
        self.fd = os.open(dev.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.buf = b""

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read_until(self, mark: bytes) -> bytes:
        """Everything up to and including ``mark`` (consumed)."""
        deadline = time.monotonic() + TIMEOUT
        while mark not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"{mark!r} not in {self.buf!r}"
            if select.select([self.fd], [], [], left)[0]:
                self.buf += os.read(self.fd, 4096)
        end = self.buf.index(mark) + len(mark)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def line(device: EmulatedDevice) -> Iterator[Line]:
    opened = Line(device)
    try:
        yield opened
    finally:
        opened.close()


def log_in(line: Line) -> None:
    line.send(b"\r")
    line.read_until(b"login: ")
    line.send(DEFAULT_USER.encode() + b"\r\n")  # \r\n is one end of line
    line.read_until(b"Password: ")
    line.send(DEFAULT_PASSWORD.encode() + b"\n")
    line.read_until(b"sw1# ")


def test_pair_relays_both_ways_and_survives_reopening() -> None:
    with PtyPair("ttyT") as pair:
        assert pair.path.exists() and pair.device_path.exists()
        assert os.path.realpath(pair.path).startswith("/dev/pts/")
        far = os.open(pair.device_path, os.O_RDWR | os.O_NOCTTY)
        try:
            for round_ in range(3):  # the user side opened and closed again
                near = os.open(pair.path, os.O_RDWR | os.O_NOCTTY)
                try:
                    os.write(near, b"ping%d" % round_)
                    assert select.select([far], [], [], TIMEOUT)[0]
                    assert os.read(far, 100) == b"ping%d" % round_
                    os.write(far, b"pong")
                    assert select.select([near], [], [], TIMEOUT)[0]
                    assert os.read(near, 100) == b"pong"
                finally:
                    os.close(near)
        finally:
            os.close(far)
        directory = pair.path.parent
    assert not directory.exists() and pair.pid is None


def test_pair_in_a_given_directory(tmp_path: os.PathLike[str]) -> None:
    pair = PtyPair("ttyD", directory=tmp_path).start()
    try:
        assert pair.path.parent == tmp_path
    finally:
        pair.stop()
    pair.stop()  # idempotent
    assert os.listdir(tmp_path) == []


def test_missing_socat_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SerialEmulatorError, match="socat is not installed"):
        PtyPair().start()


def test_paths_need_a_started_pair() -> None:
    with pytest.raises(SerialEmulatorError, match="not started"):
        _ = PtyPair().path


def test_login_commands_and_logout(device: EmulatedDevice, line: Line) -> None:
    log_in(line)
    line.send(b"uname -a\r")
    assert line.read_until(b"sw1# ") == (
        b"uname -a\r\nLinux sw1 5.10.0-procemu #1 SMP PREEMPT armv7l GNU/Linux\r\nsw1# "
    )
    line.send(b"frobnicate\r")
    assert line.read_until(b"sw1# ").endswith(b"-sh: frobnicate: not found\r\nsw1# ")
    line.send(b"echo $?\r")
    assert b"\r\n127\r\n" in line.read_until(b"sw1# ")
    line.send(b"\x04")  # ^D on an empty line
    assert line.read_until(b"login: ").startswith(b"logout\r\n")
    assert device.emulator is not None
    assert device.emulator.wait_event("logout", TIMEOUT) == "logout"
    assert device.emulator.events[:4] == [
        "login root",
        "command uname -a",
        "command frobnicate",
        "command echo $?",
    ]


def test_line_editing(line: Line) -> None:
    log_in(line)
    line.send(b"hostnamx\x7fe\r")  # backspace
    assert line.read_until(b"sw1# ").endswith(b"\r\nsw1\r\nsw1# ")
    line.send(b"reboot\x03")  # ^C drops the line
    assert line.read_until(b"sw1# ").endswith(b"^C\r\nsw1# ")


def test_password_is_not_echoed(line: Line) -> None:
    line.send(b"\r")
    line.read_until(b"login: ")
    line.send(b"root\r")
    line.read_until(b"Password: ")
    line.send(DEFAULT_PASSWORD.encode() + b"\r")
    assert DEFAULT_PASSWORD.encode() not in line.read_until(b"sw1# ")


def test_wrong_user_or_password(device: EmulatedDevice, line: Line) -> None:
    for user, password in ((b"root", b"nope"), (b"nobody", DEFAULT_PASSWORD.encode())):
        line.send(b"\r")
        line.read_until(b"login: ")
        line.send(user + b"\r")
        line.read_until(b"Password: ")
        line.send(password + b"\r")
        assert line.read_until(b"login: ").endswith(b"Login incorrect\r\nsw1 login: ")
    assert device.emulator is not None
    assert device.emulator.events == ["login-failed root", "login-failed nobody"]


def test_upgrade_workflow_and_reboot() -> None:
    with EmulatedDevice("sw1", fail_steps={"verify"}, boot_delay=0.05) as dev:
        line = Line(dev)
        try:
            log_in(line)
            for step, answer in (
                (b"download", b"upgrade download: ok"),
                (b"verify", b"upgrade verify: FAILED (error 5)"),
                (b"commit", b"upgrade commit: ok"),
            ):
                line.send(b"upgrade " + step + b"\r")
                assert answer in line.read_until(b"sw1# ")
            line.send(b"reboot\r")
            assert b"ProcEmu Linux 1.1.0 (sw1)" in line.read_until(b"login: ")
        finally:
            line.close()
        assert dev.emulator is not None
        assert "upgrade-failed verify" in dev.emulator.events
        assert dev.emulator.version == "1.1.0"


def test_wait_event_times_out_with_the_events(device: EmulatedDevice) -> None:
    assert device.emulator is not None
    with pytest.raises(TimeoutError, match="no event 'reboot'"):
        device.emulator.wait_event("reboot", 0.05)
    with pytest.raises(TimeoutError):
        device.emulator.wait_received(b"never", 0.05)


def test_emulated_devices_with_per_device_failures() -> None:
    def fail_steps(hostname: str) -> set[str]:
        return {"flash"} if hostname == "sw2" else set()

    with emulated_devices(3, prefix="sw", fail_steps=fail_steps) as ds:
        assert [d.hostname for d in ds] == ["sw1", "sw2", "sw3"]
        assert [d.emulator.fail_steps for d in ds if d.emulator] == [
            frozenset(),
            frozenset({"flash"}),
            frozenset(),
        ]
        paths = {d.path for d in ds}
        assert len(paths) == 3
    assert all(d.emulator is None for d in ds)
    assert not any(p.parent.exists() for p in paths)


def test_stopping_the_pair_under_the_emulator(device: EmulatedDevice) -> None:
    emulator = device.emulator
    assert emulator is not None
    device.pair.stop()  # the emulator's terminal hangs up
    emulator.wait_event("hangup", TIMEOUT)
    device.stop()
    assert not emulator.running


def test_command_line_devices_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "procession.testbed.serialemu", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # The three lines come in one flush: once readable, readline cannot block.
        assert select.select([proc.stdout], [], [], TIMEOUT)[0], "no output from the CLI"
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[2] == "Ctrl-C to stop\n", lines
        paths = [Path(line.split()[1]) for line in lines[:2]]
        assert all(p.exists() for p in paths)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()
    assert not any(p.parent.exists() for p in paths)  # socat stopped, links removed
