"""The reservation protocol on a static host list: states, dates, context manager."""

from __future__ import annotations

import pytest

from procession import Host
from procession.reservation import (
    Reservation,
    ReservationState,
    StaticHosts,
)


def test_static_hosts_from_a_node_set() -> None:
    r = StaticHosts("node-[1-3]")
    assert isinstance(r, Reservation)
    assert r.hosts == [Host("node-1"), Host("node-2"), Host("node-3")]
    assert r.state is ReservationState.NEW
    assert r.submit_date is None


def test_static_hosts_life() -> None:
    r = StaticHosts([Host("a"), "b"])
    with pytest.raises(RuntimeError, match="not started"):
        r.wait_start()
    assert r.start() is r
    assert r.state is ReservationState.RUNNING
    assert r.wait_start(timeout=0)
    assert r.submit_date is not None and r.start_date is not None
    r.release()
    r.release()  # idempotent
    assert r.state is ReservationState.ENDED
    assert r.end_date is not None and r.end_date >= r.start_date
    assert not r.wait_start()


def test_static_hosts_needs_hosts() -> None:
    with pytest.raises(ValueError, match="at least one host"):
        StaticHosts([])
    with pytest.raises(ValueError, match="invalid node set"):
        StaticHosts("node-[1-")


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_with_block_releases_on_exceptions_and_ctrl_c(exc_type: type[BaseException]) -> None:
    r = StaticHosts("h1")
    with pytest.raises(exc_type), r:
        assert r.state is ReservationState.RUNNING
        raise exc_type("boom")
    assert r.state is ReservationState.ENDED


def test_release_error_does_not_hide_the_first_exception() -> None:
    class Broken(StaticHosts):
        def release(self) -> None:
            raise OSError("scheduler gone")

    with pytest.raises(ValueError, match="first") as info, Broken("h1"):
        raise ValueError("first")
    assert any("scheduler gone" in note for note in info.value.__notes__)
