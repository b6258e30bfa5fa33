"""Automated login and a command on serial consoles: one, then many.

The scenario of Execo's user guide: log in on a device's serial console and
run a command, by writing to the console and expecting its prompts.

1. One console: ``Serial`` opens a serial port of this machine (here the
   pseudo-terminal of an emulated device), logs in and runs ``uname -a``.
2. Many consoles: ``RemoteSerial(hosts, device, speed)`` opens one console per
   host through ssh (one ``SerialSsh`` each) and drives them all at once:
   ``write`` and ``expect`` act on every console. The loopback hosts of the
   testbed are all this machine, so each host gets its own emulated device
   with a ``{{devices}}`` substitution (on real hosts, ``/dev/ttyUSB0`` on
   every host would do).

The devices are emulated on pseudo-terminal pairs by
``procession.testbed.serialemu`` (needs ``socat``), and the hosts are a local
testbed of loopback sshd daemons: both are started and stopped here.
``python examples/serial_login.py [N]`` (default 4 consoles). Exits 0 when
every console logged in and answered with its own host name.
"""

from __future__ import annotations

import sys
import time

from procession import RemoteSerial, Serial, logger
from procession.testbed import LoopbackTestbed
from procession.testbed.serialemu import EmulatedDevice, emulated_devices

USER, PASSWORD = "root", "procession"  # the emulator's default account
UNAME = r"^Linux (\S+) .*\r$"


def login_one(dev: EmulatedDevice) -> bool:
    """Log in on one local console and run ``uname -a``."""
    with Serial(dev.path, 115200).start() as console:
        console.write("\r")  # Enter: the device prints its login prompt
        console.expect(r"login: $", timeout=10)
        console.write(USER + "\r")
        console.expect(r"Password: $", timeout=10)
        console.write(PASSWORD + "\r")
        console.expect(rf"^{dev.hostname}# $", timeout=10)
        console.write("uname -a\r")
        _, match = console.expect(UNAME, timeout=10)
    print(f"  {dev.path}: {match.group(0).strip() if match else 'no answer'}")
    return console.ok and match is not None and match.group(1) == dev.hostname


def login_many(hosts: list[str], devices: list[str], cp: dict[str, object]) -> dict[str, str]:
    """Log in on the console of every host at once; returns host -> uname's host name."""
    consoles = RemoteSerial(hosts, "{{devices}}", 115200, cp).start()
    answers: dict[str, str] = {}
    for send, prompt in (
        ("\r", r"login: $"),
        (USER + "\r", r"Password: $"),
        (PASSWORD + "\r", r"# $"),
        ("uname -a\r", UNAME),
    ):
        consoles.write(send)  # to every console
        for p, _, match in consoles.expect(prompt, timeout=20):
            if send.startswith("uname") and match is not None:
                answers[p.host.address] = match.group(1)
    consoles.kill()
    consoles.wait(20)
    for p in consoles.processes:
        print(f"  {p.host.address} {p.device}: {answers.get(p.host.address, 'no answer')} "
              f"(ok={p.ok})")  # fmt: skip
    if not consoles.ok:
        answers.clear()
    return answers


def main(n: int = 4) -> int:
    logger.setLevel("ERROR")  # the example prints its own summary
    t0 = time.monotonic()
    print("== one console: Serial")
    with EmulatedDevice("board") as dev:
        one_ok = login_one(dev)

    print(f"== {n} consoles, one per host: RemoteSerial")
    with LoopbackTestbed(n_hosts=n) as tb, emulated_devices(n, prefix="node") as devs:
        devices = [str(d.path) for d in devs]  # used by {{devices}}
        answers = login_many(tb.hosts, devices, tb.connection_params())
        expected = {h: d.hostname for h, d in zip(tb.hosts, devs, strict=True)}
    many_ok = answers == expected
    print(f"{len(answers)}/{n} consoles logged in and answered with their own host name")
    ok = one_ok and many_ok
    print(f"{'OK' if ok else 'FAILED'}: serial_login finished in {time.monotonic() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4))
