"""Pure parsing of Slurm's outputs and building of its options (no Slurm needed)."""

from __future__ import annotations

import pytest

from procession.reservation import ReservationState
from procession.slurm import expand_nodelist, format_walltime
from procession.slurm._parse import (
    SQUEUE_FORMAT,
    parse_sbatch_job_id,
    parse_squeue,
    reservation_state,
)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(1, "0-00:00:01"), (59.2, "0-00:01:00"), (3600, "0-01:00:00"), (90061, "1-01:01:01")],
)
def test_format_walltime(seconds: float, expected: str) -> None:
    assert format_walltime(seconds) == expected


@pytest.mark.parametrize("bad", [0, -5])
def test_format_walltime_rejects_non_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        format_walltime(bad)


def test_sbatch_job_id_with_and_without_cluster() -> None:
    assert parse_sbatch_job_id("42\n") == 42
    assert parse_sbatch_job_id("42;cluster\n") == 42
    with pytest.raises(ValueError, match="no job id"):
        parse_sbatch_job_id("sbatch: error: nope\n")
    with pytest.raises(ValueError, match="no job id"):
        parse_sbatch_job_id("")


def test_expand_nodelist() -> None:
    assert expand_nodelist("node-[1-3,7],gpu1") == ["gpu1", "node-1", "node-2", "node-3", "node-7"]
    assert expand_nodelist("node[01-03]") == ["node01", "node02", "node03"]
    assert expand_nodelist("") == []
    assert expand_nodelist("(null)") == []
    with pytest.raises(ValueError, match="invalid Slurm node list"):
        expand_nodelist("node-[3-")


def test_squeue_format_ends_with_the_free_text_name() -> None:
    assert SQUEUE_FORMAT.endswith("%j")


def test_parse_squeue_lines() -> None:
    out = (
        "7|RUNNING|node-[1-2]|2|1795800172|1795800175|1795800775|None|debug|root|a|b\n"
        "8|PENDING||4|1795800223|N/A|N/A|Resources|debug|alice|wrap\n"
        "9|PENDING||1|1795800223|1795809999|1795819999|Priority|debug|alice|later\n"
    )
    running, pending, predicted = parse_squeue(out)
    assert running.job_id == 7
    assert running.nodes == ["node-1", "node-2"]
    assert (running.submit_date, running.start_date, running.end_date) == (
        1795800172.0,
        1795800175.0,
        1795800775.0,
    )
    assert running.reason is None
    assert running.name == "a|b"  # a "|" in the name does not shift the fields
    assert pending.nodes == [] and pending.start_date is None and pending.reason == "Resources"
    assert pending.node_count == 4 and pending.user == "alice"
    assert predicted.start_date == 1795809999.0  # the scheduler's prediction
    assert predicted.end_date is None


def test_parse_squeue_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="unexpected squeue line"):
        parse_squeue("slurm_load_jobs error: Socket timed out\n")


@pytest.mark.parametrize(
    ("slurm", "started", "expected"),
    [
        ("PENDING", False, ReservationState.PENDING),
        ("CONFIGURING", False, ReservationState.PENDING),
        ("RUNNING", True, ReservationState.RUNNING),
        ("SUSPENDED", True, ReservationState.RUNNING),
        ("CANCELLED", True, ReservationState.ENDED),
        ("TIMEOUT", True, ReservationState.ENDED),
        ("CANCELLED", False, ReservationState.FAILED),
        ("FAILED", False, ReservationState.FAILED),
    ],
)
def test_reservation_state(slurm: str, started: bool, expected: ReservationState) -> None:
    assert reservation_state(slurm, started) is expected
