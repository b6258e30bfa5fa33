"""ParamSweeper in one process: Execo's semantics, persistence, threads, leases, compaction."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _engine_testing import ListHandler, Workers

from procession.engine import HashableDict, ParamSweeper, StateCorrupted, sweep
from procession.engine._store import list_segments

COMBS = sweep({"i": range(20)})


def test_get_next_follows_the_sweeps_order_then_returns_none(tmp_path: Path) -> None:
    with ParamSweeper(tmp_path / "s", COMBS) as s:
        got = [s.get_next() for _ in range(20)]
        assert got == COMBS
        assert s.get_next() is None
        assert s.get_inprogress() == set(COMBS)
        assert s.get_remaining() == set()


def test_states_and_stats(tmp_path: Path) -> None:
    with ParamSweeper(tmp_path / "s", COMBS, name="demo") as s:
        a, b, c, d = (s.get_next() for _ in range(4))
        s.done(a)
        s.skip(b)
        s.cancel(c)
        sweeps, remaining, skipped, inprogress, done = s.stats()
        assert sweeps == set(COMBS)
        assert done == {a} and skipped == {b} and inprogress == {d}
        assert remaining == set(COMBS) - {a, b, d}
        assert s.get_next() == c  # cancelled: first in order again
        assert tuple(s.counts()) == (20, 1, 2, 1, 16)
        assert str(s) == "demo <20 total, 1 done, 1 skipped, 2 in progress, 16 remaining>"


def test_done_and_inprogress_persist_skipped_does_not(tmp_path: Path) -> None:
    with ParamSweeper(tmp_path / "s", COMBS) as s:
        a, b, c = (s.get_next() for _ in range(3))
        s.done(a)
        s.skip(b)
    with ParamSweeper(tmp_path / "s", COMBS) as s2:
        s2.full_update()
        assert s2.get_done() == {a}
        assert s2.get_inprogress() == {c}
        assert s2.get_skipped() == set()
        assert b in s2.get_remaining()


def test_saved_sweeps_are_loaded_with_none(tmp_path: Path) -> None:
    with ParamSweeper(tmp_path / "s", COMBS, save_sweeps=True):
        pass
    with ParamSweeper(tmp_path / "s") as s:
        assert s.sweeps == COMBS
    with pytest.raises(FileNotFoundError, match="no saved sweeps"):
        ParamSweeper(tmp_path / "other")


def test_damaged_saved_sweeps_are_reported(tmp_path: Path) -> None:
    with ParamSweeper(tmp_path / "s", COMBS, save_sweeps=True):
        pass
    path = tmp_path / "s" / "sweeps"
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(StateCorrupted, match="truncated"):
        ParamSweeper(tmp_path / "s")
    path.write_bytes(data[:-10] + b"x" * 10)
    with pytest.raises(StateCorrupted, match="checksum"):
        ParamSweeper(tmp_path / "s")


def test_filter_chooses_and_orders(tmp_path: Path) -> None:
    with ParamSweeper(tmp_path / "s", COMBS) as s:
        odd_last = s.get_next(lambda todo: [c for c in reversed(todo) if c["i"] % 2])
        assert odd_last == {"i": 19}
        assert s.get_next(lambda todo: []) is None
        with pytest.raises(ValueError, match="not a todo element"):
            s.get_next(lambda todo: [HashableDict(i=19)])


def test_batches(tmp_path: Path) -> None:
    with ParamSweeper(tmp_path / "s", COMBS) as s:
        batch = s.get_next_batch(5)
        assert batch == COMBS[:5]
        s.done_batch(batch[:3])
        s.skip_batch(batch[3:4])
        s.cancel_batch(batch[4:])
        assert s.get_done() == set(COMBS[:3])
        assert s.get_skipped() == {COMBS[3]}
        assert s.get_next_batch(100) == COMBS[4:]
        assert s.get_next_batch(0) == []


def test_reset_returns_skipped_and_optionally_inprogress(tmp_path: Path) -> None:
    with ParamSweeper(tmp_path / "s", COMBS) as s:
        a, b = s.get_next(), s.get_next()
        s.skip(a)
        s.reset()
        assert a in s.get_remaining() and b in s.get_inprogress()
        s.reset(reset_inprogress=True)
        assert s.get_inprogress() == set()
        assert s.get_remaining() == set(COMBS)


def test_instances_with_different_sweeps_share_states(tmp_path: Path) -> None:
    small = COMBS[:5]
    with ParamSweeper(tmp_path / "s", COMBS) as big, ParamSweeper(tmp_path / "s", small) as s:
        big.done(COMBS[10])
        big.done(COMBS[0])
        s.update()
        assert s.get_done() == {COMBS[0]}
        assert s.get_next() == COMBS[1]
        assert COMBS[1] in big.get_inprogress()
        s.skip(COMBS[2])
        assert COMBS[2] not in big.get_skipped()


def test_unhashable_elements_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="hashable"):
        ParamSweeper(tmp_path / "s", [{"a": 1}])


def test_threads_each_element_handed_out_once(tmp_path: Path) -> None:
    combs = sweep({"i": range(400)})
    seen: list[Any] = []
    lock = threading.Lock()
    with ParamSweeper(tmp_path / "s", combs) as s:

        def work() -> None:
            while (c := s.get_next()) is not None:
                with lock:
                    seen.append(c)
                if c["i"] % 3:
                    s.done(c)
                else:
                    s.skip(c)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(c["i"] for c in seen) == list(range(400))
        assert len(s.get_done()) + len(s.get_skipped()) == 400


def test_compaction_keeps_the_state_and_replaces_the_segment(tmp_path: Path) -> None:
    combs = sweep({"i": range(100)})
    with ParamSweeper(tmp_path / "s", combs, compact_threshold=10) as s:
        for _ in range(3):  # churn: taken then given back
            batch = [s.get_next() for _ in range(30)]
            s.cancel_batch(batch)
        held = s.get_next_batch(7)
        s.done_batch(held[:3])
        gens = list_segments(str(tmp_path / "s"))
        assert gens != [1] and len(gens) == 1
        done, inprogress = s.get_done(), s.get_inprogress()
    with ParamSweeper(tmp_path / "s", combs) as s2:
        s2.full_update()
        assert s2.get_done() == done == set(held[:3])
        assert s2.get_inprogress() == inprogress == set(held[3:])


def test_torn_last_record_is_dropped_with_a_warning(tmp_path: Path, plog: ListHandler) -> None:
    d = tmp_path / "s"
    with ParamSweeper(d, COMBS) as s:
        s.done(s.get_next())
        s.done(s.get_next())
    seg = d / "journal-00000001.log"
    seg.write_bytes(seg.read_bytes()[:-7])  # crash in the middle of the last append
    with ParamSweeper(d, COMBS) as s:
        assert s.get_done() == {COMBS[0]}
        s.done(COMBS[5])  # appends after cutting the torn record
    assert any("incomplete last record" in m for m in plog.messages())
    with ParamSweeper(d, COMBS) as s:
        assert s.get_done() == {COMBS[0], COMBS[5]}


def test_corrupted_record_in_the_middle_is_reported_not_reset(tmp_path: Path) -> None:
    d = tmp_path / "s"
    with ParamSweeper(d, COMBS) as s:
        for _ in range(5):
            s.done(s.get_next())
    seg = d / "journal-00000001.log"
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))
    with pytest.raises(StateCorrupted) as info:
        ParamSweeper(d, COMBS)
    message = str(info.value)
    assert str(seg) in message and "at byte" in message and "nothing was reset" in message
    assert info.value.offset is not None and info.value.offset < len(data) // 2
    assert seg.read_bytes() == bytes(data)  # untouched


def test_journal_truncated_under_a_live_sweeper_is_reported(tmp_path: Path) -> None:
    d = tmp_path / "s"
    with ParamSweeper(d, COMBS) as s:
        for _ in range(5):
            s.done(s.get_next())
        seg = d / "journal-00000001.log"
        seg.write_bytes(seg.read_bytes()[:100])
        with pytest.raises(StateCorrupted, match="shrank"):
            s.get_next()


def test_truncated_snapshot_is_reported(tmp_path: Path) -> None:
    d = tmp_path / "s"
    combs = sweep({"i": range(3000)})
    with ParamSweeper(d, combs, compact_threshold=0) as s:
        s.done_batch(combs[:2500])
        for _ in range(4):
            s.cancel_batch(s.get_next_batch(400))
    (gen,) = list_segments(str(d))
    assert gen > 1
    seg = d / f"journal-{gen:08d}.log"
    seg.write_bytes(seg.read_bytes()[:5000])
    with pytest.raises(StateCorrupted, match="snapshot"):
        ParamSweeper(d, combs)


def test_reset_inprogress_reclaims_a_dead_process_marks(tmp_path: Path, workers: Workers) -> None:
    d = tmp_path / "s"
    with ParamSweeper(d, COMBS, save_sweeps=True) as s:
        holder = workers.spawn("hold", str(d), "-")
        assert holder.stdout is not None
        taken = HashableDict(i=int(holder.stdout.readline()))
        holder.kill()
        holder.wait()
        s.update()
        assert s.get_inprogress() == {taken}
        s.reset(reset_inprogress=True)
        assert taken in s.get_remaining()


def test_lease_expires_when_the_holder_dies_not_while_it_lives(
    tmp_path: Path, workers: Workers
) -> None:
    d = tmp_path / "s"
    with ParamSweeper(d, COMBS, save_sweeps=True) as s:
        holder = workers.spawn("hold", str(d), "-")
        assert holder.stdout is not None
        taken = HashableDict(i=int(holder.stdout.readline()))
        # Alive: its heartbeat renews the 0.6 s lease for 3 lease periods.
        deadline = time.monotonic() + 1.8
        while time.monotonic() < deadline:
            s.update()
            assert taken in s.get_inprogress()
            time.sleep(0.1)
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 30
        while taken not in s.get_remaining():
            assert time.monotonic() < deadline, "the lease never expired"
            time.sleep(0.1)
            s.update()
        assert s.get_next() == taken
        assert s.owners()[next(iter(s.owners()))][0] == 1


def test_closed_sweeper_refuses_work(tmp_path: Path) -> None:
    s = ParamSweeper(tmp_path / "s", COMBS)
    s.close()
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.get_next()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_children_can_use_an_inherited_sweeper(tmp_path: Path) -> None:
    combs = sweep({"i": range(300)})
    ctx = multiprocessing.get_context("fork")
    queue = ctx.SimpleQueue()
    with ParamSweeper(tmp_path / "s", combs) as s:
        first = s.get_next()  # the parent holds the journal open, its state loaded

        def drain() -> None:
            got = []
            while (c := s.get_next()) is not None:
                s.done(c)
                got.append(c["i"])
            queue.put(got)

        children = [ctx.Process(target=drain) for _ in range(3)]
        for child in children:
            child.start()
        got = [i for _ in children for i in queue.get()]
        for child in children:
            child.join(60)
            assert child.exitcode == 0
        assert sorted(got) == list(range(1, 300))
        s.update()
        assert s.get_done() == set(combs) - {first}
        assert s.get_inprogress() == {first}
    queue.close()
