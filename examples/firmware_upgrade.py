"""A firmware upgrade over the serial consoles of many devices, in parallel.

The workflow of Execo's serial-console use case, on emulated devices:

1. **Power-cycle** every device through a control console: a power
   controller (a PDU) with its own serial console, where
   ``power cycle OUTLET`` turns an outlet off and on. The device then boots
   and prints its login prompt on its console.
2. **Log in** on every device console.
3. Run the **upgrade steps** (``upgrade download``, ``verify``, ``flash``,
   ``commit``) on every device at once: each step is written to every
   console still in the run, then every answer is awaited.
4. **Check each device after each step** (the step's answer and the shell's
   ``echo $?``). A device that misbehaves is **dropped**: it gets no further
   step, so a device that failed to verify its image is never flashed (not
   bricked); it is logged out and its console closed.
5. **Reboot** the devices that completed every step and check that they run
   the new firmware; print a summary: which devices were upgraded, and
   which were dropped at which step.

Stand-ins, named as such: the devices are ``procession.testbed.serialemu``
emulators on pseudo-terminal pairs (``socat``); the power controller is a
small emulator defined below, whose ``power cycle`` restarts the device's
emulator (a fresh boot, as after a power cut). The emulators fail the steps
they are configured to fail.

``python examples/firmware_upgrade.py [-n N] [--fail DEVICE:STEP ...]``:
``N`` devices (default 6) named ``dev1`` ... ``devN``; by default ``dev2``
fails at ``verify`` and ``dev5`` at ``flash``. Exits 0 when the run went as
configured: the devices configured to fail were dropped at their step, no
step was sent to them after it, and every other device runs the new
firmware.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import threading
import time
import tty
from contextlib import ExitStack
from typing import Any

from procession import Serial, logger
from procession.testbed.serialemu import DeviceEmulator, EmulatedDevice, PtyPair

STEPS = ("download", "verify", "flash", "commit")
OLD, NEW = "1.0.0", "1.1.0"
TIMEOUT = 20  # seconds, for each answer of a device


class PowerController:
    """Stand-in for a PDU's serial console: ``power cycle OUTLET`` restarts
    the emulator of the device on that outlet; prompt ``pdu> ``.

    Answers ``outlet NAME: off``, then ``outlet NAME: on``; ``unknown outlet
    NAME`` otherwise. One thread owns the PDU's side of a pty pair.
    """

    def __init__(self, outlets: dict[str, EmulatedDevice], options: dict[str, dict[str, Any]]):
        self.outlets = outlets
        self.options = options  # per device: the DeviceEmulator options
        self.pair = PtyPair("ttyEMU-pdu")
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._run, name="pdu", daemon=True)
        self._fd = -1
        self.cycles = dict.fromkeys(outlets, 0)
        """Power cycles done per outlet."""

    @property
    def path(self) -> str:
        """The control console's serial device (open it with ``Serial``)."""
        return str(self.pair.path)

    def __enter__(self) -> PowerController:
        self.pair.start()
        self._fd = os.open(self.pair.device_path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._fd)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        os.write(self._wake[1], b"x")
        self._thread.join(10)
        for fd in (self._fd, *self._wake):
            os.close(fd)
        self.pair.stop()

    def _run(self) -> None:
        line = b""
        os.write(self._fd, b"pdu> ")
        while self._wake[0] not in select.select([self._fd, self._wake[0]], [], [])[0]:
            try:
                data = os.read(self._fd, 1024)
            except OSError:
                return
            for byte in data:
                if byte in b"\r\n":
                    if line.strip():
                        os.write(self._fd, self._command(line.decode().split()).encode())
                    line = b""
                else:
                    line += bytes([byte])

    def _command(self, words: list[str]) -> str:
        if words[:2] != ["power", "cycle"] or len(words) != 3:
            return "usage: power cycle OUTLET\r\npdu> "
        name = words[2]
        dev = self.outlets.get(name)
        if dev is None or dev.emulator is None:
            return f"unknown outlet {name}\r\npdu> "
        self.cycles[name] += 1
        dev.emulator.stop()  # power off: the device stops talking
        time.sleep(0.05)
        dev.emulator = DeviceEmulator(dev.pair.device_path, name, **self.options[name]).start()
        return f"outlet {name}: off\r\noutlet {name}: on\r\npdu> "


def send_all(consoles: dict[str, Serial], line: str, regexes: Any) -> dict[str, Any]:
    """Write ``line`` to every console, then wait for each answer: name -> (index, match).

    Writing to all of them first is what makes the devices work in parallel.
    """
    for console in consoles.values():
        console.write(line + "\r")
    return {name: c.expect(regexes, timeout=TIMEOUT) for name, c in consoles.items()}


def drop(name: str, consoles: dict[str, Serial], dropped: dict[str, str], step: str) -> None:
    """Take a device out of the run: log it out and close its console."""
    console = consoles.pop(name)
    dropped[name] = step
    console.write("exit\r")
    console.expect(r"login: $", timeout=TIMEOUT)
    console.kill()
    print(f"  {name}: dropped at {step}")


def upgrade(
    devices: dict[str, EmulatedDevice], pdu: PowerController
) -> tuple[list[str], dict[str, str]]:
    """The workflow; returns (upgraded devices, {dropped device: step})."""
    dropped: dict[str, str] = {}
    with ExitStack() as stack:
        consoles = {
            n: stack.enter_context(Serial(d.path, 115200).start()) for n, d in devices.items()
        }
        control = stack.enter_context(Serial(pdu.path, 115200).start())

        print("== power-cycle every device through the control console")
        for name in devices:
            control.write(f"power cycle {name}\r")
            _, match = control.expect(rf"^outlet {name}: on\r$", timeout=TIMEOUT)
            if match is None:
                drop(name, consoles, dropped, "power-cycle")
        booted = {n: c.expect(r"login: $", timeout=TIMEOUT) for n, c in consoles.items()}
        print(f"  {sum(m is not None for _, m in booted.values())} devices booted")

        print("== log in")
        for line, prompt in (("root", r"Password: $"), ("procession", r"# $")):
            for name, (index, _) in send_all(consoles, line, prompt).items():
                if index is None:
                    drop(name, consoles, dropped, "login")

        for step in STEPS:
            print(f"== upgrade {step} on {len(consoles)} devices")
            ok_or_failed = [rf"^upgrade {step}: ok\r$", r"FAILED.*\r$"]
            answers = send_all(consoles, f"upgrade {step}", ok_or_failed)
            status = send_all(consoles, "echo $?", r"^(\d+)\r$")
            for name in list(consoles):
                index, match = answers[name]
                code = status[name][1].group(1) if status[name][1] else None
                if index != 0 or code != "0":  # a wrong answer, no answer, or a bad status
                    drop(name, consoles, dropped, step)

        print(f"== reboot {len(consoles)} devices on the new firmware and check the version")
        send_all(consoles, "reboot", r"login: $")
        send_all(consoles, "root", r"Password: $")
        send_all(consoles, "procession", r"# $")
        versions = send_all(consoles, "version", r"firmware (\S+)\r$")
        upgraded = []
        for name, (_, match) in versions.items():
            version = match.group(1) if match else None
            print(f"  {name}: firmware {version}")
            if version == NEW:
                upgraded.append(name)
    return upgraded, dropped


def upgrade_events(dev: EmulatedDevice) -> list[str]:
    """The upgrade steps the device ran or failed, in order (from its emulator's record)."""
    assert dev.emulator is not None
    return [e for e in dev.emulator.events if e.startswith("upgrade")]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=6, help="number of devices (default 6)")
    parser.add_argument(
        "--fail",
        action="append",
        metavar="DEVICE:STEP",
        help="make DEVICE fail at STEP (default: dev2:verify dev5:flash)",
    )
    args = parser.parse_args(argv)
    specs = args.fail if args.fail is not None else ["dev2:verify", "dev5:flash"]
    args.fail = dict(spec.split(":", 1) for spec in specs)
    return args


def main(argv: list[str]) -> int:
    logger.setLevel("ERROR")  # the example prints its own summary
    args = parse_args(argv)
    t0 = time.monotonic()
    names = [f"dev{i}" for i in range(1, args.n + 1)]
    options = {n: {"version": OLD, "upgrade_version": NEW, "boot_delay": 0.2,
                   "fail_steps": {args.fail[n]} if n in args.fail else set()}
               for n in names}  # fmt: skip
    print(f"{args.n} devices; configured to fail: "
          f"{', '.join(f'{d} at {s}' for d, s in args.fail.items()) or 'none'}")  # fmt: skip
    with ExitStack() as stack:
        devices = {n: stack.enter_context(EmulatedDevice(n, **options[n])) for n in names}
        pdu = stack.enter_context(PowerController(devices, options))
        upgraded, dropped = upgrade(devices, pdu)
        # Not bricked: a dropped device got no upgrade step after its failure.
        later_steps = {
            n: upgrade_events(devices[n])[1 + STEPS.index(s) :]
            for n, s in dropped.items()
            if s in STEPS
        }
        versions = {n: devices[n].emulator.version for n in names}

    print("== summary")
    for name in names:
        if name in upgraded:
            print(f"  {name}: upgraded to {versions[name]}")
        elif name in dropped:
            print(f"  {name}: dropped at {dropped[name]}, firmware left at {versions[name]}")
        else:
            print(f"  {name}: NOT upgraded (firmware {versions[name]})")
    print(f"upgraded: {' '.join(upgraded) or '-'}")
    print(f"dropped: {' '.join(f'{n}@{s}' for n, s in dropped.items()) or '-'}")
    ok = (
        dropped == {n: s for n, s in args.fail.items() if n in names}
        and sorted(upgraded) == sorted(set(names) - set(dropped))
        and not any(later_steps.values())
        and all(versions[n] == OLD for n in dropped)
        and all(n == 1 for n in pdu.cycles.values())
    )
    print(f"{'OK' if ok else 'FAILED'}: firmware_upgrade finished in {time.monotonic() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
