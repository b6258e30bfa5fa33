"""examples/g5k_iperf.py on the session's OAR testbed (the example's
``--running-testbed`` mode: this test holds the testbed's lock and started it)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from procession.g5k import get_current_oar_jobs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "g5k_iperf.py"


def test_g5k_iperf_between_two_clusters(oar_testbed: Any) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--running-testbed"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout
    explain = f"exit {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, explain
    assert re.search(r"^job \d+: 2 clients on dahu, 2 servers on \S+$", out, re.M), explain
    measures = re.findall(r"^client (\S+) -> server (\S+): [\d.]+ [KMG]?bits/sec \(ok=True\)$",
                          out, re.M)  # fmt: skip
    assert len(measures) == 2, explain
    assert all(c.startswith("dahu-") and not s.startswith("dahu-") for c, s in measures)
    assert len({s for _, s in measures}) == 2, "each client has its own server"
    assert "2/2 servers listening" in out
    assert "2/2 clients measured their server" in out
    assert re.search(r"^OK: g5k_iperf finished", out, re.M)
    # the example deleted its job: OAR ends it soon
    deadline = time.monotonic() + 120
    while get_current_oar_jobs([oar_testbed.frontend]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert get_current_oar_jobs([oar_testbed.frontend]) == []
