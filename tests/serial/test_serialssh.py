"""SerialSsh: the serial console of a remote host, through the loopback sshd testbed.

Execo's user-guide scenario: log in automatically on a remote serial console,
then run a command. The pty pair is made here and the loopback hosts are this
machine, so the remote side opens the same device path.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _serial_testing import TIMEOUT, expect, login, login_async, run

from procession import Host, SerialSsh
from procession._remote._serialssh import serial_bridge_script
from procession.testbed import LoopbackTestbed
from procession.testbed.serialemu import EmulatedDevice


@pytest.fixture
def cp(testbed_connection_params: dict[str, Any]) -> dict[str, Any]:
    """Connection params reaching the testbed hosts (a fresh copy)."""
    return dict(testbed_connection_params)


def openers(dev: EmulatedDevice) -> list[int]:
    """Pids of the processes of this machine that have the user side of the
    device open, the pair's own socat excepted."""
    target = os.path.realpath(dev.path)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == dev.pair.pid:
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}") == target:
                    pids.append(int(entry))
                    break
            except OSError:
                continue
    return pids


def released(dev: EmulatedDevice) -> bool:
    """No process but the pair's socat has the device open, now or very soon
    (a signalled process lets go of its descriptors as it dies)."""
    deadline = time.monotonic() + TIMEOUT
    while openers(dev):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("bridge", ["socat", "cat"])
def test_login_then_command_through_ssh(
    testbed: LoopbackTestbed, cp: dict[str, Any], device: EmulatedDevice, bridge: str
) -> None:
    console = SerialSsh(testbed.hosts[0], str(device.path), 115200, cp, bridge=bridge).start()
    try:
        login(console, device)
        assert run(console, device, "uname -a") == (
            "Linux sw1 5.10.0-procemu #1 SMP PREEMPT armv7l GNU/Linux\n"
        )
        assert run(console, device, "version") == "sw1 firmware 1.0.0\n"
    finally:
        console.kill()
    console.wait(TIMEOUT)
    # kill() closed the console cleanly: the remote bridge exited 0.
    assert console.ended and console.killed and console.connected
    assert console.exit_code == 0 and console.exit_signal is None
    assert console.ok and not console.error
    assert console.stderr == ""


@pytest.mark.parametrize("bridge", ["socat", "cat"])
def test_nothing_stays_open_on_the_remote_host(
    testbed: LoopbackTestbed, cp: dict[str, Any], device: EmulatedDevice, bridge: str
) -> None:
    with SerialSsh(
        testbed.hosts[1], str(device.path), connection_params=cp, bridge=bridge
    ).start() as early:
        pass  # closed before it is even connected
    early.wait(TIMEOUT)
    assert early.ok and early.exit_code == 0
    console = SerialSsh(testbed.hosts[1], str(device.path), connection_params=cp, bridge=bridge)
    with console.start():
        login(console, device)
        assert openers(device), "the remote bridge should have the device open"
    console.wait(TIMEOUT)
    assert console.ok
    # The remote socat, or both cats (Execo left the reading one behind),
    # are gone once the console has ended.
    assert released(device), f"still open by {openers(device)}"


def test_wrong_password_through_ssh(
    testbed: LoopbackTestbed, cp: dict[str, Any], device: EmulatedDevice
) -> None:
    with SerialSsh(testbed.hosts[2], str(device.path), connection_params=cp).start() as console:
        login(console, device, password="wrong")
        expect(console, r"^Login incorrect\r$")
        expect(console, r"login: $")
    console.wait(TIMEOUT)
    assert console.ok


def test_print_to_a_remote_console(
    testbed: LoopbackTestbed, cp: dict[str, Any], device: EmulatedDevice
) -> None:
    with SerialSsh(testbed.hosts[0], str(device.path), connection_params=cp).start() as console:
        login(console, device)
        print("echo", "through", "ssh", end="\r", file=console)  # type: ignore[arg-type]
        expect(console, r"^through ssh\r$")
    console.wait(TIMEOUT)


def test_bytes_pass_unchanged(
    testbed: LoopbackTestbed, cp: dict[str, Any], make_device: Callable[..., EmulatedDevice]
) -> None:
    # No remote terminal: \r is not turned into \n, nothing is echoed by ssh.
    dev = make_device("raw1", echo=False)
    with SerialSsh(testbed.hosts[0], str(dev.path), connection_params=cp).start() as console:
        console.write("\r")
        expect(console, r"raw1 login: $")
        console.write("root\r")
        expect(console, r"Password: $")
        assert "root" not in console.stdout  # the device does not echo; nor may anyone else
    console.wait(TIMEOUT)
    assert dev.emulator is not None and dev.emulator.received.endswith(b"\rroot\r")


def test_missing_remote_device_is_an_error_naming_it(
    testbed: LoopbackTestbed, cp: dict[str, Any], tmp_path: Path
) -> None:
    missing = str(tmp_path / "ttyNOPE")
    console = SerialSsh(testbed.hosts[3], missing, connection_params=cp, nolog_error=True)
    console.run(TIMEOUT)
    assert console.ended and console.error and not console.ok
    assert console.exit_code is None
    assert console.error_reason == (
        f"cannot open serial device {missing} on {testbed.hosts[3]}: No such file or directory"
    )


def test_a_remote_file_that_is_not_a_terminal_is_an_error(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    console = SerialSsh(testbed.hosts[3], "/dev/null", connection_params=cp, nolog_error=True)
    console.run(TIMEOUT)
    assert console.error
    assert (console.error_reason or "").startswith(
        f"cannot open serial device /dev/null on {testbed.hosts[3]}: "
    )


def test_unreachable_host_is_an_ssh_error(cp: dict[str, Any], device: EmulatedDevice) -> None:
    console = SerialSsh(Host("127.0.0.1", port=1), str(device.path), connection_params=cp)
    console.run(TIMEOUT)
    assert console.error and "ssh could not connect" in (console.error_reason or "")


def test_the_device_hanging_up_ends_the_remote_console(
    testbed: LoopbackTestbed, cp: dict[str, Any], device: EmulatedDevice
) -> None:
    console = SerialSsh(testbed.hosts[4], str(device.path), connection_params=cp).start()
    try:
        login(console, device)
        device.stop()  # socat of the pair exits: the remote socat reads EIO
        console.wait(TIMEOUT)
    finally:
        console.kill()
        console.wait(TIMEOUT)
    assert console.ended and not console.killed
    assert console.exit_code == 0 and console.ok


def test_several_remote_consoles_with_asyncio(
    testbed: LoopbackTestbed, cp: dict[str, Any], make_device: Callable[..., EmulatedDevice]
) -> None:
    devices = [make_device(f"rack{i}") for i in range(1, 4)]

    async def main() -> list[SerialSsh]:
        consoles = [
            await SerialSsh(host, str(dev.path), connection_params=cp).start_async()
            for host, dev in zip(testbed.hosts, devices, strict=False)
        ]
        await asyncio.gather(*(login_async(c, d) for c, d in zip(consoles, devices, strict=True)))
        for console in consoles:
            console.kill()
        await asyncio.gather(*(c.wait_async(TIMEOUT) for c in consoles))
        return consoles

    consoles = asyncio.run(main())
    assert all(c.finished_ok for c in consoles)


def test_repr_name_and_script(testbed: LoopbackTestbed) -> None:
    console = SerialSsh(testbed.hosts[0], "/dev/ttyUSB0", 9600, parity="E", bridge="cat")
    assert console.cmd == f"serial:{testbed.hosts[0]}:/dev/ttyUSB0@9600"
    assert console.name == console.cmd
    assert repr(console) == (
        f"SerialSsh(Host({testbed.hosts[0]!r}), '/dev/ttyUSB0', 9600, parity='E', bridge='cat')"
    )
    assert console.remote_script == serial_bridge_script(
        "/dev/ttyUSB0", 9600, parity="E", bridge="cat"
    )
    assert "stty -F /dev/ttyUSB0 9600 raw" in console.remote_script
    assert "socat" not in console.remote_script


def test_invalid_options_raise_in_the_caller() -> None:
    with pytest.raises(ValueError, match="stty"):
        SerialSsh("h", "/dev/ttyS0", stopbits=1.5)
    with pytest.raises(ValueError, match="pty"):
        SerialSsh("h", "/dev/ttyS0", pty=True)
    with pytest.raises(ValueError, match="bridge"):
        SerialSsh("h", "/dev/ttyS0", bridge="netcat")
    with pytest.raises(ValueError, match="socat cannot"):
        SerialSsh("h", "/dev/odd,name", bridge="socat")


def test_timeout_closes_the_remote_console(
    testbed: LoopbackTestbed, cp: dict[str, Any], device: EmulatedDevice
) -> None:
    console = SerialSsh(
        testbed.hosts[5], str(device.path), connection_params=cp, timeout=1, nolog_timeout=True
    ).start()
    console.wait(TIMEOUT)
    assert console.ended and console.timeouted and console.killed
    assert not console.ok
    assert released(device), f"still open by {openers(device)}"


def test_a_signal_other_than_sigterm_forces_the_end(
    testbed: LoopbackTestbed, cp: dict[str, Any], device: EmulatedDevice
) -> None:
    console = SerialSsh(
        testbed.hosts[6], str(device.path), connection_params=cp, nolog_exit_code=True
    ).start()
    login(console, device)  # connected: the remote process group is known
    console.kill(signal.SIGKILL)
    console.wait(TIMEOUT)
    assert console.ended and console.killed
    assert console.exit_signal == signal.SIGKILL and not console.ok
    assert released(device), f"still open by {openers(device)}"
