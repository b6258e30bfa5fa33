"""Serial: a local serial console, against emulated devices on socat pty pairs."""

from __future__ import annotations

import asyncio
import os
import termios
from collections.abc import Callable

import pytest
from _serial_testing import TIMEOUT, expect, login, login_async, run

from procession import ProcessLifecycleHandler, ProcessOutputHandler, Serial
from procession.testbed.serialemu import EmulatedDevice, emulated_devices

# ------------------------------------------------------------------ dialogue


def test_login_then_command(device: EmulatedDevice) -> None:
    console = Serial(device.path, 115200).start()
    try:
        assert console.started and console.running and not console.ended
        login(console, device)
        assert run(console, device, "uname -a") == (
            "Linux sw1 5.10.0-procemu #1 SMP PREEMPT armv7l GNU/Linux\n"
        )
        assert run(console, device, "version") == "sw1 firmware 1.0.0\n"
    finally:
        console.kill()
    assert device.emulator is not None
    assert device.emulator.events[:3] == ["login root", "command uname -a", "command version"]


def test_wrong_password(device: EmulatedDevice) -> None:
    with Serial(device.path).start() as console:
        login(console, device, password="not-the-password")
        expect(console, r"^Login incorrect\r$")
        expect(console, r"login: $")  # and the device asks again
        assert device.emulator is not None
        device.emulator.wait_event("login-failed root", TIMEOUT)
        console.write(device.user + "\r")
        expect(console, r"Password: $")
        console.write(device.password + "\r")
        expect(console, r"^sw1# $")
    assert console.ok


def test_print_to_a_serial_console(device: EmulatedDevice) -> None:
    with Serial(device.path).start() as console:
        login(console, device)
        print("echo", "hello", "serial", end="\r", file=console)  # type: ignore[arg-type]
        expect(console, r"^hello serial\r$")


def test_expect_on_a_failing_upgrade_step(make_device: Callable[..., EmulatedDevice]) -> None:
    dev = make_device("sw2", fail_steps={"flash"})
    with Serial(dev.path).start() as console:
        login(console, dev)
        assert run(console, dev, "upgrade download") == "upgrade download: ok\n"
        console.write("upgrade flash\r")
        index, match = console.expect([r": ok\r$", r"FAILED \(error (\d+)\)"], TIMEOUT)
        assert index == 1 and match is not None and match.group(1) == "5"
        expect(console, r"^sw2# $")
        assert run(console, dev, "echo $?") == "5\n"


def test_reboot_brings_the_login_prompt_back(device: EmulatedDevice) -> None:
    with Serial(device.path).start() as console:
        login(console, device)
        assert run(console, device, "upgrade commit") == "upgrade commit: ok\n"
        console.write("reboot\r")
        expect(console, r"^Rebooting\.\.\.\r$")
        expect(console, r"ProcEmu Linux 1\.1\.0 \(sw1\)")
        expect(console, r"login: $")
        console.write(device.user + "\r")
        expect(console, r"Password: $")
        console.write(device.password + "\r")
        expect(console, r"^sw1# $")
        assert run(console, device, "version") == "sw1 firmware 1.1.0\n"


def test_expect_timeout_is_an_expect_failure(device: EmulatedDevice) -> None:
    with Serial(device.path, nolog_expect_fail=True).start() as console:
        assert console.expect("never printed", timeout=0.2) == (None, None)
        assert console.expect_fail and not console.ok


# ------------------------------------------------------------------ the end


def test_kill_ends_the_console_at_once_and_ok(device: EmulatedDevice) -> None:
    ended: list[Serial] = []

    class Ends(ProcessLifecycleHandler):
        def end(self, process: object) -> None:
            assert isinstance(process, Serial)
            ended.append(process)

    console = Serial(device.path, lifecycle_handlers=[Ends()]).start()
    login(console, device)
    console.kill()
    # Synchronous: the port is closed and the state final when kill() returns.
    assert console.ended and console.killed and not console.running
    assert console.exit_code == 0 and console.exit_signal is None
    assert console.ok and console.finished_ok and not console.error
    assert ended == [console]
    assert console.wait(0) is console
    console.kill()  # a second kill does nothing
    assert "killed=True" in str(console) and "exit_code=0" in str(console)


def test_write_after_the_end_is_a_write_error(device: EmulatedDevice) -> None:
    console = Serial(device.path, nolog_write_error=True).start()
    console.kill()
    console.write("late\r")
    assert console.write_error and not console.ok


def test_close_stdin_refuses_writes_but_keeps_reading(device: EmulatedDevice) -> None:
    with Serial(device.path, ignore_write_error=True, nolog_write_error=True).start() as console:
        console.write("\r")
        console.close_stdin()
        expect(console, r"login: $")
        console.write("root\r")
        assert console.write_error and console.ok


def test_kill_sends_nothing_to_the_device(device: EmulatedDevice) -> None:
    console = Serial(device.path).start()
    login(console, device)
    console.kill()
    # Bytes on a line keep their order: once a later writer's marker has
    # arrived, anything the kill sent has arrived before it.
    fd = os.open(device.path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"marker\r")
        assert device.emulator is not None
        device.emulator.wait_received(b"marker\r", TIMEOUT)
    finally:
        os.close(fd)
    assert b"\x04" not in device.emulator.received
    assert "logout" not in device.emulator.events


def test_timeout_closes_the_console(device: EmulatedDevice) -> None:
    console = Serial(device.path, timeout=0.3, nolog_timeout=True).start()
    console.wait(TIMEOUT)
    assert console.ended and console.timeouted and console.killed
    assert not console.ok
    ok = Serial(device.path, timeout=0.1, ignore_timeout=True, nolog_timeout=True).run(TIMEOUT)
    assert ok.timeouted and ok.ok


def test_the_device_hanging_up_ends_the_console(device: EmulatedDevice) -> None:
    console = Serial(device.path).start()
    login(console, device)
    device.stop()  # socat exits: the line is gone, reads see end of file
    console.wait(TIMEOUT)
    assert console.ended and not console.killed
    assert console.exit_code == 0 and console.ok


def test_context_manager_closes(device: EmulatedDevice) -> None:
    with Serial(device.path).start() as console:
        login(console, device)
    assert console.ended and console.killed and console.ok


def test_reset_then_start_again(device: EmulatedDevice) -> None:
    console = Serial(device.path).start()
    login(console, device)
    console.reset()
    assert not console.started and console.stdout == ""
    console.start()
    try:
        console.write("\r")
        # Still logged in: closing a console is not a logout.
        expect(console, r"sw1# $")
    finally:
        console.kill()


# ---------------------------------------------------------------- errors


def test_missing_device_ends_in_error_with_a_reason(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(tmp_path, "ttyNOPE")
    console = Serial(missing, nolog_error=True)
    assert console.start() is console  # no exception
    assert console.started and console.ended and console.error
    assert console.error_reason == f"cannot open serial device {missing}: No such file or directory"
    assert not console.ok and console.exit_code is None
    assert console.wait(0) is console
    assert f"error: cannot open serial device {missing}" in console.failure_reason()


def test_a_file_that_is_not_a_terminal_is_an_error() -> None:
    console = Serial("/dev/null", nolog_error=True).start()
    assert console.error
    assert console.error_reason == "cannot open serial device /dev/null: not a terminal"


def test_failed_open_is_logged_with_the_device(
    tmp_path: os.PathLike[str], caplog: pytest.LogCaptureFixture
) -> None:
    missing = os.path.join(tmp_path, "ttyGONE")
    Serial(missing).start()
    assert f"cannot open serial device {missing}" in caplog.text


def test_exclusive_console_locks_the_device(device: EmulatedDevice) -> None:
    with Serial(device.path, exclusive=True).start() as first:
        second = Serial(device.path, exclusive=True, nolog_error=True).start()
        assert second.error and first.running
        assert second.error_reason == (
            f"cannot open serial device {device.path}: locked by another exclusive user"
        )
    # The lock went with the conductor's descriptor.
    with Serial(device.path, exclusive=True).start() as third:
        assert third.running


def test_invalid_line_settings_raise_in_the_caller() -> None:
    for options in ({"bytesize": 9}, {"parity": "X"}, {"stopbits": 3}, {"speed": 0}):
        with pytest.raises(ValueError):
            Serial("/dev/ttyS0", **options)


# ----------------------------------------------------------- configuration


def test_line_settings_are_applied_to_the_device(device: EmulatedDevice) -> None:
    # A Linux pty forces CS8 without parity (drivers/tty/pty.c, pty_set_termios):
    # bytesize and parity cannot be read back here; the rest can.
    with Serial(device.path, 9600, stopbits=2, xonxoff=True).start() as console:
        assert console.running
        # Read back through another descriptor: the settings belong to the
        # device and outlive pyserial's own (closed) descriptor.
        fd = os.open(device.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            iflag, oflag, cflag, lflag, ispeed, ospeed, _ = termios.tcgetattr(fd)
        finally:
            os.close(fd)
    assert ispeed == ospeed == termios.B9600
    assert cflag & termios.CSTOPB and not cflag & termios.CRTSCTS
    assert iflag & termios.IXON and iflag & termios.IXOFF
    assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)  # raw
    assert not oflag & termios.OPOST


def test_repr_and_name(device: EmulatedDevice) -> None:
    console = Serial("/dev/ttyUSB0", 9600, parity="E", rtscts=True, timeout=5)
    assert repr(console) == "Serial('/dev/ttyUSB0', 9600, parity='E', rtscts=True, timeout=5.0)"
    assert console.name == "serial:/dev/ttyUSB0@9600" == console.cmd
    long_path = Serial(device.path)
    assert long_path.name.startswith("serial:...") and long_path.name.endswith("sw1@115200")
    assert len(long_path.name) <= 39


# ------------------------------------------------------------ many at once


def test_several_consoles_at_once() -> None:
    with emulated_devices(4, prefix="node") as devices:
        consoles = [Serial(dev.path).start() for dev in devices]
        try:
            for console in consoles:  # every device works at the same time
                console.write("\r")
            for console, dev in zip(consoles, devices, strict=True):
                login(console, dev)
            for console in consoles:
                console.write("hostname\r")
            for console, dev in zip(consoles, devices, strict=True):
                expect(console, rf"^{dev.hostname}\r$")
        finally:
            for console in consoles:
                console.kill()
        assert all(c.ended and c.ok for c in consoles)
        # Each console saw only its own device.
        for console, dev in zip(consoles, devices, strict=True):
            others = [d.hostname for d in devices if d is not dev]
            assert not any(f"{name}#" in console.stdout for name in others)


def test_several_consoles_with_asyncio() -> None:
    async def main(devices: list[EmulatedDevice]) -> list[Serial]:
        consoles = [await Serial(dev.path).start_async() for dev in devices]
        await asyncio.gather(*(login_async(c, d) for c, d in zip(consoles, devices, strict=True)))
        for console in consoles:
            console.kill()
            await console
        return consoles

    with emulated_devices(3) as devices:
        consoles = asyncio.run(main(devices))
    assert all(c.finished_ok for c in consoles)


def test_output_handlers_see_the_console_lines(device: EmulatedDevice) -> None:
    lines: list[str] = []

    class Lines(ProcessOutputHandler):
        def read_line(self, process: object, stream: int, line: str) -> None:
            lines.append(line.rstrip("\r\n"))

    with Serial(device.path, stdout_handlers=[Lines()]).start() as console:
        login(console, device)
        run(console, device, "uname")
    assert "Linux" in lines
