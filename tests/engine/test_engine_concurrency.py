"""ParamSweeper shared by processes: exactly-once hand-out, and no done lost to SIGKILL."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from _engine_testing import Workers

from procession.engine import ParamSweeper, sweep
from procession.engine._store import list_segments


def _logged(paths: list[Path]) -> list[int]:
    values = []
    for path in paths:
        if path.exists():
            text = path.read_text()
            lines = text.split("\n")
            # A worker killed in the middle of its log write leaves a partial
            # line: the element is done, it just was not logged. Ignore it.
            values += [int(x) for x in lines[:-1] if x]
    return values


def test_eight_processes_each_element_done_exactly_once(tmp_path: Path, workers: Workers) -> None:
    d = tmp_path / "s"
    combs = sweep({"i": range(1000)})
    with ParamSweeper(d, combs, save_sweeps=True):
        pass
    logs = [tmp_path / f"log{k}" for k in range(8)]
    procs = [workers.spawn("consume", str(d), str(log)) for log in logs]
    for proc in procs:
        workers.finish(proc)
    values = _logged(logs)
    assert sorted(values) == list(range(1000))  # each once, none twice
    assert all(log.stat().st_size > 0 for log in logs[:2])  # work was shared
    with ParamSweeper(d) as s:
        assert s.get_done() == set(combs)
        assert s.get_inprogress() == set()


def test_sigkill_at_random_instants_loses_no_done(tmp_path: Path, workers: Workers) -> None:
    """Rounds of 4 chaotic workers (cancel, skip, constant compaction) SIGKILLed at random.

    After every round, a fresh reader sees every element a worker logged
    after ``done()`` returned, and the state opens without error; then a
    final run, after reclaiming the dead workers' marks, completes all.
    Surviving the death of a process does not depend on fsync (the page
    cache outlives it), so half the workers skip it to do more per round;
    surviving a power cut, which needs it, cannot be tested here.
    """
    d = tmp_path / "s"
    # Large enough that five rounds of kills leave work for the next round on a fast,
    # quiet machine too (3,000 were used up in two rounds there).
    combs = sweep({"i": range(12000)})
    with ParamSweeper(d, combs, save_sweeps=True):
        pass
    rng = random.Random(7)
    logs: list[Path] = []
    compactions = set()
    kill_rounds = 0
    for rnd in range(5):
        round_logs = [tmp_path / f"log{rnd}-{k}" for k in range(4)]
        logs += round_logs
        procs = [
            workers.spawn(
                "chaos", str(d), str(log), str(rng.randrange(1 << 30)), ("nofsync", "fsync")[k % 2]
            )
            for k, log in enumerate(round_logs)
        ]
        # Kill each once it has done some work, at a random instant after.
        for proc, log in zip(procs, round_logs, strict=True):
            deadline = time.monotonic() + 60
            while not (log.exists() and log.stat().st_size) and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.05))
            proc.send_signal(signal.SIGKILL)
        codes = [proc.wait() for proc in procs]
        kill_rounds += -signal.SIGKILL in codes
        compactions.update(list_segments(str(d)))
        with ParamSweeper(d) as s:
            s.full_update()
            missing = set(_logged(logs)) - {c["i"] for c in s.get_done()}
            assert not missing, f"round {rnd}: done elements lost: {sorted(missing)[:10]}"
    assert kill_rounds >= 3, "the workers finished before being killed: enlarge the sweep"
    assert max(compactions) > 2, "the journal was never compacted under the kills"
    with ParamSweeper(d) as s:
        s.reset(reset_inprogress=True)
    final = [tmp_path / f"final{k}" for k in range(4)]
    for proc in [workers.spawn("consume", str(d), str(f), "0", "nofsync") for f in final]:
        workers.finish(proc)
    with ParamSweeper(d) as s:
        s.full_update()
        assert s.get_done() == set(combs)
        assert set(_logged([*logs, *final])) <= {c["i"] for c in s.get_done()}
