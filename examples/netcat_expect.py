"""netcat across two hosts with expect: the first scenario of Execo's presentation.

A receiver (``nc.traditional -v -l -p PORT``) starts on one host through
ssh; the script waits until it says it is listening (netcat prints
``listening on [any] PORT ...`` on stderr) with ``expect``, then a sender on
another host sends a line to it. The receiver exits at the end of the
connection and its stdout is the line that was sent.

Runs on a local testbed of two loopback hosts (real sshd daemons), started
and stopped here: ``python examples/netcat_expect.py``. Exits 0 when the
receiver got exactly the text that was sent.
"""

from __future__ import annotations

import socket
import sys
import time

from procession import STDERR, SshProcess, logger
from procession.testbed import LoopbackTestbed

TEXT = "hello from procession"


def free_port() -> int:
    """A TCP port free right now on this machine (the loopback hosts are this machine)."""
    with socket.socket() as s:
        s.bind(("", 0))  # free on every address: nc listens on all of them
        return int(s.getsockname()[1])


def main() -> int:
    logger.setLevel("ERROR")  # the example prints its own summary
    t0 = time.monotonic()
    with LoopbackTestbed(n_hosts=2) as tb:
        cp = tb.connection_params()
        receiver_host, sender_host = tb.hosts
        port = free_port()
        print(f"receiver on {receiver_host}, sender on {sender_host}, port {port}")
        receiver = SshProcess(f"nc.traditional -v -l -p {port}", receiver_host, cp, timeout=60)
        with receiver.start():
            _, match = receiver.expect(r"^listening on", stream=STDERR, timeout=30)
            if match is None:
                print(f"the receiver did not listen: {receiver.stderr!r}")
                return 1
            print(f"receiver says: {match.string.splitlines()[0]}")
            sender = SshProcess(
                f"echo '{TEXT}' | nc.traditional -q 1 {receiver_host} {port}", sender_host, cp
            )
            sender.run(timeout=30)
            receiver.wait(timeout=30)
        print(f"sender: ok={sender.ok} exit_code={sender.exit_code}")
        print(f"receiver: ok={receiver.ok} exit_code={receiver.exit_code}")
        print(f"receiver got: {receiver.stdout.strip()!r}")
        ok = sender.ok and receiver.ok and receiver.stdout == TEXT + "\n"
    print(f"{'OK' if ok else 'FAILED'}: netcat_expect finished in {time.monotonic() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
