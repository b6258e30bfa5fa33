"""Cluster engine: one combination per host group at a time, groups in parallel, resumable.

The host groups are fake host names and the task function does local work:
the loopback testbed (real sshd on many addresses) is not ready yet.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _engine_testing import ListHandler

from procession.engine import ClusterEngine, ParamSweeper, Results, run_on_clusters, sweep

CLUSTERS = {"alpha": ["alpha-1", "alpha-2"], "beta": ["beta-1"], "gamma": ["gamma-1", "gamma-2"]}


def _work(comb: Any) -> str:
    """Local work standing for an experiment: hash a buffer sized by the combination."""
    return hashlib.sha256(b"x" * (1000 * (comb["size"] + 1))).hexdigest()


def test_each_combination_runs_once_on_its_group_groups_in_parallel(tmp_path: Path) -> None:
    combs = sweep({"cluster": list(CLUSTERS), "size": range(6)})
    started = threading.Barrier(len(CLUSTERS), timeout=30)
    lock = threading.Lock()
    runs: list[tuple[Any, list[str], str]] = []
    busy: dict[str, int] = dict.fromkeys(CLUSTERS, 0)
    overlap: list[str] = []

    def fn(comb: Any, hosts: list[str]) -> None:
        group = comb["cluster"]
        with lock:
            busy[group] += 1
            if busy[group] > 1:
                overlap.append(group)
        if comb["size"] == 0:
            started.wait()  # every group's first task runs at the same time
        digest = _work(comb)
        with lock:
            busy[group] -= 1
            runs.append((comb, hosts, digest))

    with ParamSweeper(tmp_path / "s", combs) as sweeper:
        stats = run_on_clusters(sweeper, CLUSTERS, fn)
        assert stats == (18, 0, 0)
        assert sweeper.get_done() == set(combs)
    assert sorted(map(str, (c for c, _, _ in runs))) == sorted(map(str, combs))
    assert all(hosts == CLUSTERS[c["cluster"]] for c, hosts, _ in runs)
    assert overlap == []  # one combination at a time per group


def test_false_skips_exceptions_skip_with_traceback(tmp_path: Path, plog: ListHandler) -> None:
    combs = sweep({"cluster": ["alpha", "beta"], "size": range(4)})

    def fn(comb: Any, hosts: list[str]) -> bool | None:
        if comb["size"] == 1:
            return False
        if comb["size"] == 2:
            raise RuntimeError(f"broken on {hosts[0]}")
        return True if comb["size"] == 3 else None

    with ParamSweeper(tmp_path / "s", combs) as sweeper:
        stats = run_on_clusters(sweeper, CLUSTERS, fn)
        assert stats == (4, 2, 2)
        assert {c["size"] for c in sweeper.get_done()} == {0, 3}
        assert {c["size"] for c in sweeper.get_skipped()} == {1, 2}
        assert sweeper.get_inprogress() == set()
    errors = plog.messages()
    assert any("broken on alpha-1" in m and "Traceback" in m for m in errors)
    with ParamSweeper(tmp_path / "s", combs) as again:  # skipped is retried later
        assert {c["size"] for c in again.get_remaining()} == {1, 2}


def test_combinations_of_unknown_groups_are_skipped(tmp_path: Path, plog: ListHandler) -> None:
    combs = sweep({"cluster": ["alpha", "nowhere"], "size": range(2)})
    with ParamSweeper(tmp_path / "s", combs) as sweeper:
        stats = run_on_clusters(sweeper, CLUSTERS, lambda c, h: None)
        assert stats.done == 2
        assert {c["cluster"] for c in sweeper.get_skipped()} == {"nowhere"}
    assert any("name no host group" in m for m in plog.messages())


def test_stop_event_stops_starting_new_combinations(tmp_path: Path) -> None:
    combs = sweep({"cluster": ["beta"], "size": range(10)})
    stop = threading.Event()

    def fn(comb: Any, hosts: list[str]) -> None:
        if comb["size"] == 2:
            stop.set()

    with ParamSweeper(tmp_path / "s", combs) as sweeper:
        stats = run_on_clusters(sweeper, CLUSTERS, fn, stop=stop)
        assert stats.done == 3
        assert len(sweeper.get_remaining()) == 7


class Bench(ClusterEngine):
    """A cluster engine whose task fails on its first run for odd sizes."""

    def __init__(self, where: Path) -> None:
        super().__init__(sweep({"cluster": ["alpha", "beta"], "size": range(6)}), CLUSTERS)
        self.where = where
        self.ran: list[Any] = []

    def setup_result_dir(self) -> None:
        self.result_dir = str(self.where / "run")

    def run_combination(self, combination: Any, hosts: list[str]) -> bool:
        assert self.results is not None
        self.ran.append(combination)
        first = not os.path.exists(self.where / "second")
        if first and combination["size"] % 2:
            return False
        self.results.append(combination, {"digest": _work(combination), "host": hosts[0]})
        return True


def test_cluster_engine_runs_then_resumes_the_skipped_with_c(tmp_path: Path) -> None:
    first = Bench(tmp_path)
    first.start([])
    assert first.stats == (6, 6, 0)
    (tmp_path / "second").touch()
    again = Bench(tmp_path)
    again.start(["-c", str(tmp_path / "run")])
    assert again.stats == (6, 0, 0)
    assert sorted(c["size"] for c in again.ran) == [1, 1, 3, 3, 5, 5]
    rows = Results(tmp_path / "run" / "sweeper").load()
    assert len(rows) == 12 and {r["host"] for r in rows} == {"alpha-1", "beta-1"}
    with ParamSweeper(tmp_path / "run" / "sweeper") as sweeper:  # saved sweeps
        assert len(sweeper.get_done()) == 12


def test_one_cluster_engine_per_directory(tmp_path: Path) -> None:
    inside = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def slow(comb: Any, hosts: list[str]) -> None:
        inside.set()
        release.wait(30)

    engine = ClusterEngine(sweep({"cluster": ["beta"], "n": [1]}), CLUSTERS, slow)
    thread = threading.Thread(
        target=lambda: engine.start(["-c", str(tmp_path / "run")]), name="first engine"
    )
    thread.start()
    try:
        assert inside.wait(30)
        other = ClusterEngine(sweep({"cluster": ["beta"], "n": [1]}), CLUSTERS, slow)
        with pytest.raises(RuntimeError, match="another ClusterEngine"):
            other.start(["-c", str(tmp_path / "run")])
    except BaseException as exc:
        errors.append(exc)
    finally:
        release.set()
        thread.join()
    assert not errors


CRASHING = textwrap.dedent(
    """
    import sys, time
    from procession.engine import ClusterEngine, sweep

    def fn(comb, hosts):
        print(comb["size"], flush=True)
        time.sleep(0.05 if comb["size"] < 3 else 3600)

    ClusterEngine(
        sweep({"cluster": ["a", "b"], "size": range(6)}), {"a": ["a-1"], "b": ["b-1"]}, fn
    ).start(["-c", sys.argv[1]])
    """
)


def test_cluster_engine_resumes_after_being_killed(tmp_path: Path) -> None:
    script = tmp_path / "crashing.py"
    script.write_text(CRASHING)
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(run)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        started = 0
        while started < 8:  # sizes 0-2 done on both groups, then both stuck on size 3
            assert proc.stdout.readline(), "the engine exited early"
            started += 1
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    with ParamSweeper(run / "sweeper") as sweeper:
        assert len(sweeper.get_done()) == 6
        assert len(sweeper.get_inprogress()) == 2  # left by the dead run
    ran: list[Any] = []
    engine = ClusterEngine(
        sweep({"cluster": ["a", "b"], "size": range(6)}),
        {"a": ["a-1"], "b": ["b-1"]},
        lambda comb, hosts: ran.append(comb),
    )
    engine.start(["-c", str(run)])
    assert sorted(c["size"] for c in ran) == [3, 3, 4, 4, 5, 5]
    assert engine.stats == (6, 0, 0)
