"""The cluster engine on the loopback testbed: host groups stand for clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from procession import Remote
from procession.engine import ParamSweeper, Results, run_on_clusters, sweep
from procession.testbed import LoopbackTestbed


def test_bag_of_tasks_over_host_groups(
    testbed: LoopbackTestbed, testbed_connection_params: dict[str, Any], tmp_path: Path
) -> None:
    clusters = {"alpha": testbed.hosts[:3], "beta": testbed.hosts[3:6], "gamma": testbed.hosts[6:8]}
    combos = sweep({"cluster": list(clusters), "size": [1, 2, 3]})
    results = Results(tmp_path / "results.jsonl")

    def task(combination: dict[str, Any], hosts: list[str]) -> bool:
        size = combination["size"]
        r = Remote(f"echo $(( {size} * 10 ))", hosts, testbed_connection_params).run(120)
        if not r.ok:
            return False
        outputs = [int(p.stdout) for p in r.processes]
        results.append(combination, {"outputs": outputs, "hosts": hosts})
        return True

    with ParamSweeper(tmp_path / "sweeps", combos) as sweeper:
        stats = run_on_clusters(sweeper, clusters, task)
        assert stats.done == len(combos) and stats.skipped == stats.failed == 0
        assert len(sweeper.get_done()) == len(combos) and not sweeper.get_remaining()
    records = results.load()
    assert len(records) == len(combos)
    for row in records:  # flat: {**combination, **result}
        assert row["hosts"] == clusters[row["cluster"]]
        assert row["outputs"] == [row["size"] * 10] * len(row["hosts"])


def test_host_groups_may_be_reservations(
    testbed: LoopbackTestbed, testbed_connection_params: dict[str, Any], tmp_path: Path
) -> None:
    from procession.reservation import StaticHosts

    clusters = {"a": StaticHosts(testbed.hosts[:2]), "b": StaticHosts(testbed.hosts[2:4])}
    combos = sweep({"cluster": ["a", "b"], "n": [1, 2]})
    seen: list[tuple[str, list[str]]] = []

    def task(combination: dict[str, Any], hosts: list[Any]) -> bool:
        r = Remote("true", hosts, testbed_connection_params).run(120)
        seen.append((combination["cluster"], [str(h) for h in hosts]))
        return r.ok

    with clusters["a"], clusters["b"], ParamSweeper(tmp_path / "s", combos) as sweeper:
        stats = run_on_clusters(sweeper, clusters, task)
    assert stats.done == 4
    assert dict(seen) == {"a": testbed.hosts[:2], "b": testbed.hosts[2:4]}
