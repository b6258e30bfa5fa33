"""Reports of SshProcesses on the loopback testbed, one host unreachable."""

from __future__ import annotations

import json
from typing import Any

from _report_testing import StandInAction

from procession import Host, Process, SshProcess
from procession._report import Report, group_outputs
from procession.testbed import LoopbackTestbed

UNREACHABLE = Host("127.0.0.1", port=1)  # nothing listens there: refused at once

# Each host prints the parity of the last byte of its own address, as the
# sshd that answered sees it (the third field of $SSH_CONNECTION).
PARITY = "set -- $SSH_CONNECTION; echo $(( ${3##*.} % 2 ))"


def run_all(ps: list[SshProcess]) -> list[SshProcess]:
    for p in ps:
        p.start()
    for p in ps:
        p.wait(60)
    return ps


def test_only_the_unreachable_host_fails(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    ps = run_all(
        [SshProcess("echo hi", h, cp) for h in testbed.hosts]
        + [SshProcess("echo hi", UNREACHABLE, cp, nolog_error=True)]
    )
    report = Report(ps, name="remote")
    stats = report.stats()
    assert stats["num_processes"] == len(testbed.hosts) + 1
    assert stats["num_ended"] == stats["num_started"] == len(testbed.hosts) + 1
    assert stats["num_errors"] == 1 and stats["num_non_zero_exit_codes"] == 0
    assert stats["num_ok"] == stats["num_finished_ok"] == len(testbed.hosts)

    text = report.to_string()
    failures = text[text.index("failed processes") :].splitlines()
    assert failures[0] == "failed processes (1):"
    assert failures[1].startswith("  echo hi on 127.0.0.1: error: ssh could not connect")
    assert "Connection refused" in failures[1] and len(failures) == 2

    records = json.loads(report.to_json())["processes"]
    assert [r["host"] for r in records] == [*testbed.hosts, "127.0.0.1"]
    assert all(r["connected"] and r["ok"] and r["kind"] == "SshProcess" for r in records[:-1])
    bad = records[-1]
    assert bad["connected"] is False and bad["error"] and bad["exit_code"] is None
    assert "Connection refused" in bad["error_reason"] and bad["outcome"] == "error"


def test_grouped_output_folds_hosts_by_output(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    hosts = testbed.hosts
    prefix = hosts[0].rsplit(".", 1)[0]
    assert hosts == [f"{prefix}.{i}" for i in range(1, 9)], "the test expects 8 hosts .1 to .8"
    ps = run_all(
        [SshProcess(PARITY, h, cp) for h in hosts]
        + [SshProcess(PARITY, UNREACHABLE, cp, nolog_error=True)]
    )
    grouped = group_outputs(ps)
    assert [(b.header, b.text) for b in grouped.blocks] == [
        (f"{prefix}.[1,3,5,7] (4)", "1\n"),
        (f"{prefix}.[2,4,6,8] (4)", "0\n"),
    ]
    assert len(grouped.failures) == 1
    assert grouped.failures[0].labels == ("127.0.0.1",)
    assert "ssh could not connect" in grouped.failures[0].text
    text = str(Report(ps).grouped_output())
    header = f"{prefix}.[1,3,5,7] (4)"
    rule = "-" * len(header)
    assert text.startswith(f"{rule}\n{header}\n{rule}\n1\n")
    assert "failed (1):\n  127.0.0.1 (1): error: ssh could not connect" in text


def test_report_of_actions_mixing_remote_and_local(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    remote = StandInAction(
        run_all([SshProcess("exit 2", h, cp, nolog_exit_code=True) for h in testbed.hosts[:3]]),
        "remote exit 2",
    )
    local = StandInAction([Process("echo local").run()], "local")
    report = Report([remote, local], name="mixed")
    stats = report.stats()
    assert (stats["num_processes"], stats["num_non_zero_exit_codes"], stats["num_ok"]) == (4, 3, 1)
    text = report.to_string(wide=True)
    assert "remote exit 2" in text and "\n  exit 2" in text
    assert text.count(": exit code 2") == 3
    # Local processes are labelled by name next to the hosts.
    grouped = report.grouped_output()
    assert [b.nodeset for b in grouped.blocks] == [
        f"{testbed.hosts[0].rsplit('.', 1)[0]}.[1-3]",
        "echo local",
    ]
