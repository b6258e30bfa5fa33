"""OarJob as a procession.reservation.Reservation (the shared test body over
every backend is in tests/slurm/test_slurm_cluster.py)."""

from __future__ import annotations

import time

import pytest
from _oar_testing import OarTestbed

from procession.g5k import OarError, OarJob, OarJobTimeout, OarSubmission
from procession.g5k.oarjob import reservation_state
from procession.reservation import Reservation, ReservationState


def test_oar_states_map_to_reservation_states() -> None:
    for oar_state in ("Waiting", "Hold", "toLaunch", "toAckReservation", "Launching"):
        assert reservation_state(oar_state, started=False) is ReservationState.PENDING
    assert reservation_state("Running", started=True) is ReservationState.RUNNING
    assert reservation_state("Terminated", started=True) is ReservationState.ENDED
    assert reservation_state("Error", started=True) is ReservationState.ENDED  # deleted running
    assert reservation_state("Error", started=False) is ReservationState.FAILED
    assert reservation_state("Terminated", started=False) is ReservationState.FAILED


def test_pending_job_has_no_hosts_and_times_out(oar: OarTestbed) -> None:
    later = OarSubmission("nodes=1", walltime=60, reservation_date=time.time() + 3600)
    job = OarJob(later, oar.frontend, start_timeout=None)
    assert isinstance(job, Reservation) and job.state is ReservationState.NEW
    with pytest.raises(RuntimeError, match="not started"):
        job.wait_start(1)
    with job:
        assert job.start() is job and job.state is ReservationState.PENDING
        assert job.submit_date is not None and job.start_date is None
        assert not job.wait_start(timeout=1)
        assert job.state is ReservationState.PENDING and job.raw_state == "Waiting"
        assert job.hosts == []
        waiting = OarJob(later, oar.frontend, start_timeout=1)
        with waiting, pytest.raises(OarJobTimeout, match="not running after 1 s"):
            _ = waiting.hosts
    assert job.state is ReservationState.ENDED and job.end_date is not None
    assert not job.wait_start()  # released: no wait


def test_refused_job_fails(oar: OarTestbed) -> None:
    job = OarJob(OarSubmission("nodes=50"), oar.frontend)
    with pytest.raises(OarError, match="not enough resources"):
        job.start()
    assert job.state is ReservationState.FAILED and job.job_id is None
    job.release()  # nothing to delete
