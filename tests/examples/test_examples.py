"""The examples of ``examples/`` run as scripts and do what they promise.

Each test runs ``python examples/NAME.py`` in a subprocess (the example
starts and stops its own testbed and emulated devices) and checks its exit
status and what it printed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 120  # seconds per run; the examples take a few seconds each

needs_nc = pytest.mark.skipif(
    shutil.which("nc.traditional") is None,
    reason="needs nc.traditional (Debian netcat-traditional)",
)
needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
needs_sshd = pytest.mark.skipif(
    not Path("/usr/sbin/sshd").exists() and shutil.which("sshd") is None,
    reason="needs OpenSSH's sshd for the loopback testbed",
)


def run_example(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        check=False,
    )


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@needs_sshd
@needs_nc
def test_netcat_expect_receiver_gets_the_exact_text() -> None:
    proc = run_example("netcat_expect.py")
    assert proc.returncode == 0, explain(proc)
    assert re.search(r"^receiver says: listening on \[any\] \d+ \.\.\.$", proc.stdout, re.M)
    assert "receiver got: 'hello from procession'\n" in proc.stdout
    assert "OK: netcat_expect finished" in proc.stdout


@needs_sshd
@needs_nc
def test_netcat_many_each_server_gets_its_clients_line() -> None:
    proc = run_example("netcat_many.py", "3")
    assert proc.returncode == 0, explain(proc)
    servers = re.search(r"^3 servers on (.*)$", proc.stdout, re.M)
    clients = re.search(r"^3 clients on (.*)$", proc.stdout, re.M)
    assert servers and clients, explain(proc)
    received = dict(re.findall(r"^  (\S+) received: '(.*)' \(ok\)$", proc.stdout, re.M))
    assert received == {
        s: f"hello from {c}"
        for s, c in zip(servers[1].split(", "), clients[1].split(", "), strict=True)
    }, explain(proc)
    assert "3/3 servers listening" in proc.stdout
    assert re.search(r"^netcat\s", proc.stdout, re.M), "the Report's total line"
    assert "OK: netcat_many finished" in proc.stdout


@needs_sshd
@needs_socat
def test_serial_login_one_and_many_consoles() -> None:
    proc = run_example("serial_login.py", "3")
    assert proc.returncode == 0, explain(proc)
    assert re.search(r"ttyEMU-board: Linux board 5\.10\.0-procemu ", proc.stdout), explain(proc)
    # One console per host, each with its own device, answering with its own name.
    answers = re.findall(r"^  (\S+) \S+/ttyEMU-(node\d): (\S+) \(ok=True\)$", proc.stdout, re.M)
    assert len(answers) == 3 and len({host for host, _, _ in answers}) == 3, explain(proc)
    assert all(device == answered for _, device, answered in answers), explain(proc)
    assert "3/3 consoles logged in and answered with their own host name" in proc.stdout


def firmware_summary(stdout: str) -> tuple[list[str], dict[str, str]]:
    upgraded = re.search(r"^upgraded: (.*)$", stdout, re.M)
    dropped = re.search(r"^dropped: (.*)$", stdout, re.M)
    assert upgraded and dropped, stdout
    return (
        [] if upgraded[1] == "-" else upgraded[1].split(),
        {} if dropped[1] == "-" else dict(d.split("@") for d in dropped[1].split()),
    )


@needs_socat
def test_firmware_upgrade_drops_exactly_the_failing_devices() -> None:
    proc = run_example("firmware_upgrade.py")
    assert proc.returncode == 0, explain(proc)
    upgraded, dropped = firmware_summary(proc.stdout)
    assert dropped == {"dev2": "verify", "dev5": "flash"}
    assert upgraded == ["dev1", "dev3", "dev4", "dev6"]
    for dev in upgraded:
        assert f"  {dev}: upgraded to 1.1.0\n" in proc.stdout
    assert "  dev2: dropped at verify, firmware left at 1.0.0\n" in proc.stdout
    assert "  dev5: dropped at flash, firmware left at 1.0.0\n" in proc.stdout
    assert "OK: firmware_upgrade finished" in proc.stdout


@needs_socat
def test_firmware_upgrade_follows_another_failure_configuration() -> None:
    proc = run_example("firmware_upgrade.py", "-n", "4", "--fail", "dev1:download",
                       "--fail", "dev4:commit")  # fmt: skip
    assert proc.returncode == 0, explain(proc)
    upgraded, dropped = firmware_summary(proc.stdout)
    assert dropped == {"dev1": "download", "dev4": "commit"}
    assert upgraded == ["dev2", "dev3"]
    # The workflow narrows: dev1 gets no step after download.
    assert "== upgrade verify on 3 devices" in proc.stdout
    assert "== upgrade commit on 3 devices" in proc.stdout
    assert "== reboot 2 devices" in proc.stdout


@needs_sshd
def test_sweep_clusters_resumes_and_does_everything_once(tmp_path: Path) -> None:
    first = run_example("sweep_clusters.py", "--stop-after", "3", cwd=tmp_path)
    assert first.returncode == 1, explain(first)
    assert "combinations done: 3/8 (this run: 3)" in first.stdout, explain(first)
    stopped = re.search(r"^NOT FINISHED: resume with: .* -c (\S+)$", first.stdout, re.M)
    assert stopped, explain(first)
    result_dir = Path(stopped[1])
    assert result_dir.parent == tmp_path
    assert "plot of 3 results" in first.stdout

    second = run_example("sweep_clusters.py", "-c", str(result_dir), cwd=tmp_path)
    assert second.returncode == 0, explain(second)
    assert "combinations done: 8/8 (this run: 5)" in second.stdout, explain(second)
    assert "OK: every combination is done" in second.stdout
    assert len(list(tmp_path.iterdir())) == 1, "-c used the same result directory"

    lines = (result_dir / "sweeper" / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    combinations = [(r["combination"]["cluster"], r["combination"]["size"]) for r in records]
    expected = {(c, s) for c in ("alpha", "beta") for s in (100_000, 200_000, 400_000, 800_000)}
    assert sorted(combinations) == sorted(expected), "every combination exactly once"
    assert all(r["result"]["hosts"] == 2 and r["result"]["mflops"] > 0 for r in records)
    assert (result_dir / "results.png").read_bytes().startswith(b"\x89PNG")
    assert "plot of 8 results" in second.stdout
