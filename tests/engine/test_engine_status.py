"""``python -m procession.engine status DIR``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from _engine_testing import Workers

from procession.engine import ParamSweeper, Results, sweep
from procession.engine._status import main

COMBS = sweep({"i": range(10)})


def _prepare(d: Path) -> None:
    with ParamSweeper(d, COMBS, save_sweeps=True) as s:
        for _ in range(3):
            c = s.get_next()
            s.done(c)
            Results(d).append(c, {"v": 1})
        s.get_next()


def test_status_command_prints_the_state(tmp_path: Path) -> None:
    _prepare(tmp_path / "s")
    proc = subprocess.run(
        [sys.executable, "-m", "procession.engine", "status", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = proc.stdout
    assert f"sweeper {tmp_path / 's'}" in out
    assert "total        10" in out and "done         3  (30.0%)" in out
    assert "in progress  1" in out and "remaining    6" in out
    assert "results      3 record(s)" in out
    assert "(no lease)" in out and "{'i': 3}" in out  # the in-progress element
    assert "next todo:" in out and "{'i': 4}" in out


def test_status_json_finds_the_sweeper_of_an_engine_result_dir(
    tmp_path: Path, workers: Workers
) -> None:
    _prepare(tmp_path / "run" / "sweeper")
    holder = workers.spawn("hold", str(tmp_path / "run" / "sweeper"), "-")
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == b"4"
    out = io.StringIO()
    assert main(["status", "--json", str(tmp_path / "run")], out=out) == 0
    status = json.loads(out.getvalue())
    assert status["directory"] == str(tmp_path / "run" / "sweeper")
    assert (status["total"], status["done"], status["inprogress"]) == (10, 3, 2)
    assert status["remaining"] == 5 and status["results"] == 3
    leases = [o["lease_left"] for o in status["owners"].values()]
    assert None in leases and any(x is not None and 0 < x <= 0.6 for x in leases)


def test_status_errors(tmp_path: Path, capsys: object) -> None:
    assert main(["status", str(tmp_path)]) == 2
    d = tmp_path / "s"
    _prepare(d)
    seg = d / "journal-00000001.log"
    data = bytearray(seg.read_bytes())
    data[60] ^= 0xFF
    seg.write_bytes(bytes(data))
    assert main(["status", str(d)]) == 3
    assert not (tmp_path / "sweeper").exists()  # status creates nothing
