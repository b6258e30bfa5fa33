"""Fan-out guards: at most N processes in flight, sized to the fd limit."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from procession import Action, ConfigurationError, Process, Remote
from procession._actions._fanout import (
    FDS_PER_PROCESS,
    FanoutLimiter,
    fd_capacity,
    start_processes,
)
from procession._process import ProcessBase
from procession.testbed import LoopbackTestbed


def max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    # At equal times an end comes first (-1 < 1): a slot handed over is not an overlap.
    depth = best = 0
    for _, step in events:
        depth += step
        best = max(best, depth)
    return best


def spans(processes: Sequence[ProcessBase]) -> list[tuple[float, float]]:
    out = []
    for p in processes:
        assert p.start_date is not None and p.end_date is not None
        out.append((p.start_date, p.end_date))
    return out


def test_never_more_than_fanout_in_flight(testbed: LoopbackTestbed, cp: dict[str, Any]) -> None:
    hosts = testbed.hosts * 2  # 16 processes
    r = Remote("sleep 0.3", hosts, cp, fanout=3).run(120)
    assert r.finished_ok and len(r.processes) == 16
    assert max_overlap(spans(r.processes)) == 3
    # Started in order, each as soon as a slot was free.
    starts = [p.start_date for p in r.processes]
    assert starts == sorted(starts)  # type: ignore[type-var]


def test_without_fanout_everything_starts_at_once(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    r = Remote("sleep 1", testbed.hosts, cp).run(120)
    assert r.finished_ok and max_overlap(spans(r.processes)) == len(testbed.hosts)


def record_connections(processes: Sequence[Any]) -> dict[int, float]:
    """When each SshProcess becomes ``connected`` (ssh saw the remote
    command start), recorded on the conductor thread as it happens."""
    when: dict[int, float] = {}
    for p in processes:
        emit_output = p._emit_output

        def spy(*args: Any, _p: Any = p, _emit: Any = emit_output, **kwargs: Any) -> None:
            _emit(*args, **kwargs)
            if _p.connected:
                when.setdefault(id(_p), time.time())

        p._emit_output = spy
    return when


def test_max_startups_limits_connecting_processes_per_host(
    testbed: LoopbackTestbed, cp: dict[str, Any]
) -> None:
    cp["connection_reuse"] = False  # every process makes its own connection
    r = Remote("sleep 1", [testbed.hosts[0]] * 8, cp, max_startups=2)
    connected = record_connections(r.processes)
    r.run(120)
    assert r.ended and r.ok and len(connected) == 8
    connecting = [(p.start_date or 0.0, connected[id(p)]) for p in r.processes]
    assert max_overlap(connecting) <= 2
    # Connected processes do not count: more than 2 ran at once.
    assert max_overlap(spans(r.processes)) > 2


@pytest.fixture
def low_fd_limit() -> Iterator[int]:
    """The soft RLIMIT_NOFILE lowered so that only 5 more children fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    capacity = fd_capacity()
    lowered = soft - (capacity - 5) * FDS_PER_PROCESS
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        assert fd_capacity() == 5
        yield 5
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class _Many(Action):
    """Many local processes in one action, started through the guard."""

    def __init__(self, n: int) -> None:
        super().__init__(name=f"{n} local processes")
        self._adopt([Process("sleep 0.1") for _ in range(n)])
        self.limiter: FanoutLimiter | None = None

    def _start_processes(self) -> None:
        self.limiter = start_processes(self.processes, None, None, self.name)


def test_fd_limit_queues_instead_of_emfile(low_fd_limit: int) -> None:
    # 40 processes under a limit that fits 5: without the guard, the sixth
    # spawn would fail with EMFILE.
    many = _Many(40)
    many.run(60)
    assert many.finished_ok
    assert max_overlap(spans(many.processes)) <= low_fd_limit
    assert many.limiter is not None and many.limiter.max_in_flight == low_fd_limit


def test_a_fanout_above_the_fd_limit_is_a_clear_error(low_fd_limit: int) -> None:
    with pytest.raises(ConfigurationError, match=r"fanout=6 .* use fanout <= 5"):
        start_processes([], 6, None, "big")
    with pytest.raises(ConfigurationError, match="positive integer"):
        start_processes([], 0, None, "zero")
