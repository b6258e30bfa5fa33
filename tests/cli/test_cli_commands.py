"""The procession command line, run as users run it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ClusterShell.NodeSet import NodeSet

from procession.testbed import LoopbackTestbed


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "procession", *args],
        capture_output=True, text=True, timeout=300, input=stdin,
    )  # fmt: skip


def conn(tb: LoopbackTestbed) -> list[str]:
    return ["-F", str(tb.ssh_config), "-l", tb.user, "-p", str(tb.port), "-i", str(tb.keyfile)]


def test_help_is_complete_with_examples() -> None:
    r = cli("--help")
    assert r.returncode == 0
    for word in ("run", "put", "get", "chainput", "report", "timeline", "sweep", "g5k"):
        assert word in r.stdout
    for command in ("run", "put", "get", "chainput"):
        r = cli(command, "--help")
        assert r.returncode == 0 and "examples:" in r.stdout, command
        for option in ("--hosts-file", "--oar-job", "--slurm-job", "--testbed"):
            assert option in r.stdout, (command, option)


def test_run_groups_identical_output_and_exit_status(testbed: LoopbackTestbed) -> None:
    hosts = str(NodeSet.fromlist(testbed.hosts))
    r = cli("run", "-H", hosts, *conn(testbed), "--", "echo same")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("same") == 1  # one block for all hosts
    assert f"({len(testbed.hosts)})" in r.stdout


def test_run_reports_a_failing_host_and_exits_1(testbed: LoopbackTestbed) -> None:
    # Fails only on the second host (the sshd address is the 3rd field).
    command = f"test $(echo $SSH_CONNECTION | cut -d' ' -f3) != {testbed.hosts[1]}"
    r = cli("run", "-H", f"{testbed.hosts[0]},{testbed.hosts[1]}", *conn(testbed), "--", command)
    assert r.returncode == 1
    assert testbed.hosts[1] in r.stdout + r.stderr and "exit code 1" in r.stdout + r.stderr
    assert "1 of 2 hosts failed" in r.stderr


def test_run_prefix_and_hosts_file(testbed: LoopbackTestbed, tmp_path: Path) -> None:
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("# my hosts\n" + "\n".join(testbed.hosts[:3]) + "\n")
    r = cli("run", "--hosts-file", str(hosts_file), "--prefix", *conn(testbed), "--",
            "echo $SSH_CONNECTION | cut -d' ' -f3")  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert lines == sorted(f"{h}: {h}" for h in testbed.hosts[:3])


def test_run_json_output(testbed: LoopbackTestbed) -> None:
    r = cli("run", "-H", testbed.hosts[0], *conn(testbed), "--json", "--", "echo hi; exit 3")
    assert r.returncode == 1
    data: Any = json.loads(r.stdout)
    text = json.dumps(data)
    assert '"exit_code": 3' in text and "hi" in text


def test_put_get_and_event_log_report_timeline(testbed: LoopbackTestbed, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("data\n")
    dest = tmp_path / "remote"
    dest.mkdir()
    log = tmp_path / "run.jsonl"
    hosts = ",".join(testbed.hosts[:2])
    r = cli("put", "-H", hosts, *conn(testbed), "--event-log", str(log), str(src), str(dest))
    assert r.returncode == 0, r.stderr
    assert (dest / "f.txt").read_text() == "data\n"
    back = tmp_path / "back" / "{{{host}}}"
    r = cli("get", "-H", hosts, *conn(testbed), str(dest / "f.txt"), str(back))
    assert r.returncode == 0, r.stderr
    for h in testbed.hosts[:2]:
        assert (tmp_path / "back" / h / "f.txt").read_text() == "data\n"
    r = cli("report", str(log))
    assert r.returncode == 0 and "processes: 2" in r.stdout and "failed: 0" in r.stdout
    pytest.importorskip("matplotlib")
    r = cli("timeline", str(log), str(tmp_path / "t.png"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--", "true"], "no hosts"),
        (["run", "-H", "n1"], "no command"),
        (["run", "-H", "node-[1-", "--", "true"], "invalid node set"),
        (["run", "--hosts-file", "/no/such/file", "--", "true"], "cannot read hosts file"),
        (["report", "/no/such.jsonl"], "does not exist"),
        (["timeline", "/no/such.jsonl", "out.gif"], "must end in .png or .svg"),
        (["bogus"], "invalid choice"),
        (["run", "--oar-job", "abc", "--", "true"], "expected ID or ID@FRONTEND"),
        (["run", "--slurm-job", "12@host:port", "--", "true"], "[USER@]HOST[:PORT]"),
        (["run", "-H", "n1", "--fanout", "0", "--", "true"], "positive number"),
        (["run", "-H", "n1", "--tool", "taktuk", "--fanout", "2", "--", "true"], "own window"),
        (["chainput", "-H", "n1", "--transport", "udp", "f", "/tmp"], "invalid choice"),
    ],
)
def test_errors_say_what_to_fix(args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.returncode == 2
    assert message in r.stderr


def test_unreachable_host_exit_status(testbed: LoopbackTestbed) -> None:
    r = cli("run", "-H", "127.0.0.1", "-p", "1", "-F", str(testbed.ssh_config), "--", "true")
    assert r.returncode == 1 and "Connection refused" in r.stdout + r.stderr


def test_run_on_a_testbed_started_from_the_command_line(tmp_path: Path) -> None:
    directory = tmp_path / "tb"
    up = subprocess.run(
        [sys.executable, "-m", "procession.testbed", "up", "--hosts", "2", "--dir", str(directory)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        r = cli("run", "--testbed", str(directory), "--", "echo hi; echo warn >&2")
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("hi") == 1 and "(2)" in r.stdout
        assert "warn" in r.stderr
    finally:
        subprocess.run(
            [sys.executable, "-m", "procession.testbed", "down", "--dir", str(directory)],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip


def max_overlap(processes: list[dict[str, Any]]) -> int:
    events = sorted(
        [(p["start_date"], 1) for p in processes] + [(p["end_date"], -1) for p in processes]
    )
    depth = best = 0
    for _, step in events:
        depth += step
        best = max(best, depth)
    return best


def test_run_fanout_limits_hosts_at_once(testbed: LoopbackTestbed) -> None:
    hosts = str(NodeSet.fromlist(testbed.hosts[:6]))
    r = cli("run", "-H", hosts, *conn(testbed), "--fanout", "2", "--json", "--", "sleep 0.5")
    assert r.returncode == 0, r.stderr
    processes = json.loads(r.stdout)["processes"]
    assert len(processes) == 6 and all(p["ok"] for p in processes)
    assert max_overlap(processes) == 2


@pytest.mark.parametrize("tool", ["taktuk", "asyncssh"])
def test_run_with_another_remote_tool(testbed: LoopbackTestbed, tool: str) -> None:
    hosts = testbed.hosts[:3]
    r = cli("run", "-H", ",".join(hosts), *conn(testbed), "--tool", tool, "--prefix", "--",
            "echo $SSH_CONNECTION | cut -d' ' -f3; echo 'a!b \"c\" [d]'")  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert lines == sorted([f"{h}: {h}" for h in hosts] + [f'{h}: a!b "c" [d]' for h in hosts])


def test_put_with_taktuk(testbed: LoopbackTestbed, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("through taktuk\n")
    dest = tmp_path / "{{{host}}}"
    for h in testbed.hosts[:2]:
        (tmp_path / h).mkdir()  # the remote directories exist, as with scp
    hosts = ",".join(testbed.hosts[:2])
    r = cli("put", "-H", hosts, *conn(testbed), "--tool", "taktuk", str(src), str(dest))
    assert r.returncode == 0, r.stderr
    for h in testbed.hosts[:2]:
        assert (tmp_path / h / "f.txt").read_text() == "through taktuk\n"


@pytest.mark.parametrize("transport", ["ssh", "nc"])
def test_chainput_broadcasts_and_reports_a_dead_host(
    testbed: LoopbackTestbed, tmp_path: Path, transport: str
) -> None:
    src = tmp_path / "image.bin"
    src.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    dest = tmp_path / "dest" / "{{{host}}}"
    hosts = [*testbed.hosts[:4], "127.0.0.1:1"]  # the last one refuses connections
    args = ["-H", ",".join(testbed.hosts[:4]), "-H", "127.0.0.1"]
    r = cli("chainput", *args, *conn(testbed), "--transport", transport, str(src), str(dest))
    # 127.0.0.1 is served by no testbed sshd on the testbed's port: it fails alone.
    assert r.returncode == 1
    assert "1 of 5 hosts failed" in r.stderr and "127.0.0.1" in r.stderr
    for h in hosts[:4]:
        assert (tmp_path / "dest" / h / "image.bin").read_bytes() == src.read_bytes()
