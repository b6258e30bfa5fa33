"""Issue 4 benchmark: sequential commands over ssh to one host.

200 ``true`` commands, one after the other, with ``SshProcess(...).run()``:
with connection reuse (OpenSSH ControlMaster) and with a fresh connection
each time. Floors measured in the same run: a bare ``ssh`` loop through a
ControlMaster, and a bare plain ``ssh`` loop. Execo 2.8.2 when installed
(it has no connection reuse).
"""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench._util import median_time
from procession import SshProcess
from procession.testbed import LoopbackTestbed


def _per_command(label: str, secs: float, n: int, floor: float) -> None:
    ms = secs / n * 1000
    print(f"   {label:<48} {ms:8.2f} ms/cmd  {secs / floor:6.2f}x", flush=True)


def main(runs: int, quick: bool) -> None:
    """Print per-command times and ratios against the ControlMaster floor."""
    n = 40 if quick else 200
    with LoopbackTestbed(n_hosts=1) as tb, tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        host = tb.hosts[0]
        cp: dict[str, Any] = tb.connection_params()
        base = ["ssh", *cp["ssh_options"]]
        mux = [*base, "-o", "ControlMaster=auto", "-o", f"ControlPath={tmp}/%C",
               "-o", "ControlPersist=60"]  # fmt: skip
        subprocess.run([*mux, host, "true"], check=True)

        def bare(argv: list[str], count: int) -> None:
            for _ in range(count):
                subprocess.run([*argv, host, "true"], check=True)

        def ours(reuse: bool, count: int) -> None:
            params = {**cp, "connection_reuse": reuse}
            for _ in range(count):
                assert SshProcess("true", host, params).run().ok

        floor = median_time(lambda: bare(mux, n), runs)
        rows = [
            ("floor: bare ssh loop with ControlMaster", floor, n),
            ("procession SshProcess.run(), reuse", median_time(lambda: ours(True, n), runs), n),
        ]
        m = max(n // 10, 10)  # fresh connections are slow: fewer of them
        rows.append(("bare plain ssh loop", median_time(lambda: bare(base, m), runs), m))
        rows.append(
            ("procession SshProcess.run(), no reuse", median_time(lambda: ours(False, m), runs), m)
        )
        execo = _execo(host, cp, m, runs)
        if execo is not None:
            rows.append(("execo 2.8.2 SshProcess.run()", execo, m))
        print(f"-- {n} sequential `true` over ssh (fresh-connection rows: {m} commands)")
        floor_per = floor / n
        for label, secs, count in rows:
            _per_command(label, secs / count * n, n, floor_per * n)
        subprocess.run([*mux, "-O", "exit", host], capture_output=True, check=False)
        for sock in Path(tmp).iterdir():
            sock.unlink()


def _execo(host: str, cp: dict[str, Any], n: int, runs: int) -> float | None:
    try:
        import execo  # type: ignore[import-untyped]
    except ImportError:
        print("   (execo 2.8.2 not installed: pip install execo)")
        return None
    logging.getLogger("execo").setLevel(logging.ERROR)
    params = {"user": cp["user"], "keyfile": cp["keyfile"], "port": cp["port"],
              "ssh_options": cp["ssh_options"]}  # fmt: skip

    def run() -> None:
        with contextlib.redirect_stderr(io.StringIO()):
            for _ in range(n):
                execo.SshProcess("true", host, connection_params=params).run()

    return median_time(run, runs)
