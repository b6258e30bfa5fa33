"""procession demo: asynchronous control of a small client/server workflow.

Start a server, wait for its "ready" line with expect, run clients against
it in parallel, kill the server, and print a summary. Run with ``make demo``.
"""

from __future__ import annotations

import sys
import time

from procession import Process, format_duration

SERVER = r"""
import http.server, sys
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
print(f"ready on port {server.server_port}", flush=True)
server.serve_forever()
"""

CLIENT = r"""
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/") as r:
    print(r.status, len(r.read()))
"""


def main() -> int:
    t0 = time.monotonic()
    server = Process([sys.executable, "-c", SERVER], name="http server", ignore_exit_code=True)
    with server.start():
        _, match = server.expect(r"^ready on port (\d+)$", timeout=30)
        if match is None:
            print(f"server did not start: {server.failure_reason()}\n{server.stderr}")
            return 1
        port = match.group(1)
        print(f"server pid {server.pid} is ready on port {port}")
        clients = [
            Process([sys.executable, "-c", CLIENT, port], name=f"client {i}", timeout=30)
            for i in range(8)
        ]
        for c in clients:
            c.start()
        for c in clients:
            c.wait()
        server.kill()
    print(f"\n{'process':<12} {'ok':<5} {'exit':<6} {'duration':<10} output")
    for p in [*clients, server]:
        duration = (p.end_date or 0) - (p.start_date or 0)
        print(
            f"{p.name:<12} {p.ok!s:<5} {p.exit_code!s:<6} "
            f"{format_duration(duration, showms=True):<10} {p.stdout.strip()[:40]}"
        )
    ok = all(c.ok for c in clients) and server.killed
    print(
        f"\n{sum(c.ok for c in clients)}/{len(clients)} clients ok, server killed: "
        f"{server.killed}, total {format_duration(time.monotonic() - t0, showms=True)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
