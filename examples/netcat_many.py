"""netcat servers and clients on a host list, with ``{{targets}}`` and a Report.

Execo's presentation scales the netcat example to many hosts: one
``Remote`` starts a netcat server on each host of a first list (each on its
own port, with a ``{{ports}}`` substitution), waits until every one is
listening (``expect`` on stderr), then one ``Remote`` starts a client on
each host of a second list, each client sending to its server: ``{{targets}}``
is replaced, for the i-th client, by the i-th element of the local list
``targets``, and ``{{{host}}}`` by the client's own address. A ``Report``
sums up both actions.

``python examples/netcat_many.py [N_PAIRS]`` (default 4) starts a local
testbed of ``2 * N_PAIRS`` loopback hosts and stops it at the end. Exits 0
when every server received exactly the line its client sent.
"""

from __future__ import annotations

import socket
import sys
import time
from contextlib import ExitStack

from procession import STDERR, Remote, Report, logger
from procession.testbed import LoopbackTestbed


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free right now on this machine (the loopback hosts)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("", 0))
        return [int(s.getsockname()[1]) for s in socks]


def main(n_pairs: int = 4) -> int:
    logger.setLevel("ERROR")  # the example prints its own summary
    t0 = time.monotonic()
    with LoopbackTestbed(n_hosts=2 * n_pairs) as tb:
        cp = tb.connection_params()
        servers_hosts, clients_hosts = tb.hosts[:n_pairs], tb.hosts[n_pairs:]
        ports = free_ports(n_pairs)
        targets = [f"{h} {p}" for h, p in zip(servers_hosts, ports, strict=True)]  # noqa: F841
        print(f"{n_pairs} servers on {', '.join(servers_hosts)}")
        print(f"{n_pairs} clients on {', '.join(clients_hosts)}")

        servers = Remote("nc.traditional -v -l -p {{ports}}", servers_hosts, cp,
                         process_args={"timeout": 60}).start()  # fmt: skip
        listening = servers.expect(r"^listening on", timeout=30, stream=STDERR)
        print(f"{sum(m is not None for _, _, m in listening)}/{n_pairs} servers listening")
        clients = Remote("echo hello from {{{host}}} | nc.traditional -q 1 {{targets}}",
                         clients_hosts, cp).run(60)  # fmt: skip
        servers.wait(60)

        received = {p.host.address: p.stdout for p in servers.processes}
        pairs = zip(servers_hosts, clients_hosts, strict=True)
        expected = {server: f"hello from {client}\n" for server, client in pairs}
        for server, text in received.items():
            mark = "ok" if text == expected[server] else f"expected {expected[server]!r}"
            print(f"  {server} received: {text.strip()!r} ({mark})")
        print()
        print(Report([servers, clients], name="netcat").to_string())
        ok = servers.ok and clients.ok and received == expected
    print(f"{'OK' if ok else 'FAILED'}: netcat_many finished in {time.monotonic() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4))
