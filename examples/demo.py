"""procession demo: a small distributed workflow on a local testbed.

It starts a testbed of loopback hosts (real sshd daemons), then:

1. starts netcat receivers on half of the hosts and waits for each to say
   it is listening (expect, through ssh);
2. sends a message from every other host to its own receiver, with a
   ``{{targets}}`` substitution;
3. copies a file to every host and gets it back per host (Put, Get);
4. starts a long-running "server" everywhere and kills it (no remote orphan);
5. runs a command on all hosts plus one that does not answer, and shows
   that only its process failed;
6. prints a report, and stops the testbed. Run it with ``make demo``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from procession import Get, Host, Put, Remote, Report, filter_bad_hosts, logger
from procession.testbed import LoopbackTestbed


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> int:
    logger.setLevel("ERROR")  # the demo prints its own summary
    t0 = time.monotonic()
    with LoopbackTestbed(n_hosts=8) as tb, tempfile.TemporaryDirectory() as tmp:
        cp = tb.connection_params()
        print(f"testbed: {len(tb.hosts)} hosts, e.g. ssh -F {tb.ssh_config} {tb.hosts[0]}")
        receivers_hosts, senders_hosts = tb.hosts[:4], tb.hosts[4:]

        step("netcat receivers expect 'listening', senders use {{targets}}")
        ports = [22000 + i for i in range(len(receivers_hosts))]
        targets = [f"{h} {p}" for h, p in zip(receivers_hosts, ports, strict=True)]  # noqa: F841
        receivers = Remote("nc.traditional -v -l -p {{ports}}", receivers_hosts, cp).start()
        listening = receivers.expect(r"^listening on", timeout=30, stream=2)
        print(f"{sum(m is not None for _, _, m in listening)}/{len(receivers_hosts)} listening")
        senders = Remote("echo hello from {{{host}}} | nc.traditional -q 1 {{targets}}",
                         senders_hosts, cp).run(60)  # fmt: skip
        receivers.wait(60)
        for p in receivers.processes:
            print(f"  {p.host.address} received: {p.stdout.strip()}")

        step("Put a file to every host, Get it back per host")
        src = Path(tmp) / "payload.txt"
        src.write_text("the same bytes everywhere\n")
        remote_dir = Path(tmp) / "remote-{{{host}}}"
        mkdir = Remote(f"mkdir -p {remote_dir}", tb.hosts, cp).run(60)
        put = Put(tb.hosts, [str(src)], str(remote_dir), cp).run(60)
        get = Get(tb.hosts, f"{remote_dir}/payload.txt", f"{tmp}/back/{{{{{{host}}}}}}", cp)
        get.run(60)
        same = sum((Path(tmp) / "back" / h / "payload.txt").read_text() == src.read_text()
                   for h in tb.hosts)  # fmt: skip
        print(f"{same}/{len(tb.hosts)} copies came back identical")

        step("start a server everywhere, then kill it: no orphan is left")
        servers = Remote("sleep 600", tb.hosts, cp, process_args={"ignore_exit_code": True})
        servers.start()
        time.sleep(1)
        servers.kill().wait(60)
        print(f"killed {sum(p.killed for p in servers.processes)} remote servers")

        step("one host does not answer: only its process fails")
        hosts = [*tb.hosts, Host("127.0.0.1", port=1)]
        uptime = Remote("uptime", hosts, cp, process_args={"nolog_error": True}).run(60)
        for p in uptime.processes:
            if not p.ok:
                print(f"  {p.host.address}:{p.host.port}: {p.error_reason}")
        print(f"good hosts kept by filter_bad_hosts: {len(filter_bad_hosts(uptime, hosts))}")

        step("report")
        report = Report([receivers, senders, mkdir, put, get, servers, uptime], name="demo")
        print(report.to_string())
        ok = all(a.ok for a in (receivers, senders, put, get)) and not uptime.ok
    print(f"\ndemo finished in {time.monotonic() - t0:.1f} s; testbed stopped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
