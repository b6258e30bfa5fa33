"""Grouped output: the pure core on strings, then the wiring on local processes."""

from __future__ import annotations

import pytest

from procession import STDERR, Process
from procession._report import (
    GroupedOutput,
    OutputBlock,
    fold_labels,
    group_by_output,
    group_outputs,
)


def test_fold_ip_addresses_and_names() -> None:
    hosts = ["127.0.2.1", "127.0.2.2", "127.0.2.3", "127.0.2.4", "127.0.2.7"]
    assert fold_labels(hosts) == "127.0.2.[1-4,7]"
    assert fold_labels(["node-3", "node-1", "node-2"]) == "node-[1-3]"
    assert fold_labels(["node-01", "node-02", "node-10"]) == "node-[01-02,10]"


def test_fold_counts_duplicates_once_and_keeps_odd_labels_verbatim() -> None:
    assert fold_labels(["n1", "n1", "n2"]) == "n[1-2]"
    # Commas, brackets, spaces and "@" mean something to NodeSet: not folded.
    assert fold_labels(["echo a,b", "n1", "x[1]", "@all"]) == "n1, echo a,b, x[1], @all"
    assert fold_labels([]) == ""


def test_group_by_output_keeps_first_seen_order_and_exact_text() -> None:
    blocks = group_by_output([("a", "1\n"), ("b", "0\n"), ("c", "1\n"), ("d", "1")])
    assert blocks == [
        OutputBlock(("a", "c"), "1\n"),
        OutputBlock(("b",), "0\n"),
        OutputBlock(("d",), "1"),
    ]
    assert blocks[0].header == "a,c (2)"
    assert group_by_output([]) == []


def test_rendering_like_clush() -> None:
    grouped = GroupedOutput(
        "stdout",
        (OutputBlock(("n1", "n2", "n3"), "same\n"), OutputBlock(("n4",), "")),
        (OutputBlock(("n5", "n6"), "exit code 1"),),
    )
    assert str(grouped) == (
        "---------------\n"
        "n[1-3] (3)\n"
        "---------------\n"
        "same\n"
        "---------------\n"
        "n4 (1)\n"
        "---------------\n"
        "(no stdout)\n"
        "failed (2):\n"
        "  n[5-6] (2): exit code 1\n"
    )
    assert str(GroupedOutput("stdout", (), ())) == ""


def test_local_processes_are_labelled_by_name() -> None:
    ps = [
        Process("echo same", name="a1").run(),
        Process("echo same", name="a2").run(),
        Process("echo other", name="b").run(),
        Process("sh -c 'echo same; exit 4'", name="c", nolog_exit_code=True).run(),
        Process("no-such-command-here", name="d", nolog_error=True).run(),
        Process("true", name="never-started"),
    ]
    grouped = group_outputs(ps)
    assert [(b.nodeset, b.text) for b in grouped.blocks] == [
        ("a[1-2],c", "same\n"),
        ("b", "other\n"),
    ]
    # The process that ran but failed keeps its output and is listed as failed;
    # the one that could not start is only listed as failed.
    assert [(b.labels, b.text.split(":")[0]) for b in grouped.failures] == [
        (("c",), "exit code 4"),
        (("d",), "error"),
    ]
    assert "command not found" in grouped.failures[1].text


def test_stderr_stream_and_bad_stream() -> None:
    p = Process("sh -c 'echo out; echo err >&2'").run()
    assert group_outputs([p], STDERR).blocks[0].text == "err\n"
    assert group_outputs([p], "stderr").stream == "stderr"
    with pytest.raises(ValueError, match="stream must be"):
        group_outputs([p], "stdin")
