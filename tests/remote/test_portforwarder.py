"""PortForwarder: ready when start() returns, or in error within the timeout."""

from __future__ import annotations

import sys
import urllib.request
from typing import Any

import pytest

from procession import PortForwarder, Process, ProcessesFailed
from procession.testbed import LoopbackTestbed

SERVER = (
    "import http.server as h, sys\n"
    "s = h.HTTPServer(('127.0.0.1', 0), h.SimpleHTTPRequestHandler)\n"
    "print(s.server_port, flush=True)\n"
    "s.serve_forever()\n"
)


@pytest.fixture
def web_server() -> Any:
    server = Process([sys.executable, "-c", SERVER], ignore_exit_code=True, nolog_exit_code=True)
    server.start()
    _, m = server.expect(r"^(\d+)$", timeout=30)
    assert m is not None
    yield int(m.group(1))
    server.kill().wait(30)


def test_forwarding_is_ready_when_start_returns(
    testbed: LoopbackTestbed, cp: dict[str, Any], web_server: int
) -> None:
    with PortForwarder(testbed.hosts[0], "127.0.0.1", web_server, connection_params=cp) as fw:
        assert fw.forwarding.is_set() and fw.running
        url = f"http://127.0.0.1:{fw.local_port}/"
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200
    assert fw.ended and fw.ok


def test_forwarding_to_an_unreachable_ssh_server_fails_clearly(cp: dict[str, Any]) -> None:
    cp["forwarding_timeout"] = 5
    fw = PortForwarder("127.0.0.1", "127.0.0.1", 80, connection_params={**cp, "port": 1})
    with pytest.raises(ProcessesFailed) as info, fw:
        pass
    assert fw.ended and fw.error and "Connection refused" in (fw.error_reason or "")
    assert "Connection refused" in str(info.value)


def test_local_port_already_taken_fails_fast(
    testbed: LoopbackTestbed, cp: dict[str, Any], web_server: int
) -> None:
    # ExitOnForwardFailure: ssh exits instead of running without the forward.
    fw = PortForwarder(
        testbed.hosts[0], "127.0.0.1", 80, local_port=web_server, connection_params=cp
    ).start()
    fw.wait(60)
    assert fw.ended and fw.error and not fw.forwarding.is_set()
    assert "already in use" in (fw.error_reason or "")
