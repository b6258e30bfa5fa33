"""procession.g5k's OAR calls against a real OAR server (see conftest)."""

from __future__ import annotations

import logging
import time

import pytest
from _oar_testing import OarTestbed

from procession import Host, Remote
from procession.g5k import (
    OarError,
    OarJob,
    OarJobTimeout,
    OarSubmission,
    get_current_oar_jobs,
    get_oar_job_info,
    get_oar_job_nodes,
    get_oar_job_subnets,
    get_oarsub_commandline,
    oardel,
    oarsub,
    oarsubgrid,
    wait_oar_job_start,
)
from procession.reservation import ReservationState


def wait_state(
    job_id: int, frontend: Host | str | None, states: set[str], timeout: float = 120
) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = get_oar_job_info(job_id, frontend)["state"]
        if state in states or time.monotonic() > deadline:
            return str(state)
        time.sleep(0.3)


def test_commandline_is_execo_like() -> None:
    sub = OarSubmission(
        "{cluster='dahu'}/nodes=2", walltime=90, job_type="deploy", name="x y", queue="default"
    )
    cmd = get_oarsub_commandline(sub)
    assert cmd.startswith("oarsub -l '{cluster='\"'\"'dahu'\"'\"'}/nodes=2,walltime=0:01:30'")
    assert "-t deploy" in cmd and "-q default" in cmd and "-n 'x y'" in cmd
    assert cmd.endswith("'sleep 31536000'")
    assert "walltime='1m30s'" in repr(sub)


def test_submit_wait_nodes_remote_delete(oar: OarTestbed) -> None:
    fe = oar.frontend
    sub = OarSubmission("nodes=2", walltime=300, name="two", sql_properties="site='grenoble'")
    [(job_id, frontend)] = oarsub([(sub, fe)])
    assert job_id is not None and frontend == fe
    predictions: list[int] = []
    assert wait_oar_job_start(job_id, fe, timeout=120, prediction_callback=predictions.append)
    assert predictions and abs(predictions[-1] - time.time()) < 120
    info = get_oar_job_info(job_id, fe)
    assert info["state"] == "Running" and info["name"] == "two"
    assert info["walltime"] == 300 and info["start_date"] <= time.time() + 1
    assert (job_id, fe) in get_current_oar_jobs([fe])
    nodes = get_oar_job_nodes(job_id, fe)
    assert [n.address for n in nodes] == oar.hosts_of("grenoble")[:2]
    r = Remote("echo $((6*7))", nodes, oar.node_params).run(timeout=120)
    assert r.ok, r.processes
    assert [p.stdout for p in r.processes] == ["42\n", "42\n"]
    # A plain OAR server has no Grid'5000 subnet tools: a clear error, not an empty answer.
    with pytest.raises(OarError, match="g5k-subnets"):
        get_oar_job_subnets(job_id, fe)
    oardel([(job_id, fe)])
    assert wait_state(job_id, fe, {"Error", "Terminated"}) in {"Error", "Terminated"}
    assert (job_id, fe) not in get_current_oar_jobs([fe])


def test_unschedulable_job_fails_with_oar_message(
    oar: OarTestbed, caplog: pytest.LogCaptureFixture
) -> None:
    sub = OarSubmission("nodes=100", walltime=60)
    with caplog.at_level(logging.WARNING, logger="procession.g5k.oar"):
        assert oarsub([(sub, oar.frontend)]) == [(None, oar.frontend)]
    assert "There are not enough resources for your request" in caplog.text
    with pytest.raises(OarError, match="not enough resources"):
        oarsub([(sub, oar.frontend)], abort_on_error=True)


def test_job_that_cannot_start_yet(oar: OarTestbed) -> None:
    # all grenoble nodes taken: a second job there waits, with a predicted start
    full = OarSubmission("nodes=3", walltime=600, sql_properties="site='grenoble'")
    then = OarSubmission("nodes=1", walltime=600, sql_properties="site='grenoble'")
    [(first, _)] = oarsub([(full, oar.frontend)])  # one after the other: order matters
    assert first is not None
    assert wait_oar_job_start(first, oar.frontend, timeout=120)
    [(second, _)] = oarsub([(then, oar.frontend)])
    assert second is not None
    assert not wait_oar_job_start(second, oar.frontend, timeout=2)
    info = get_oar_job_info(second, oar.frontend)
    assert info["state"] == "Waiting"
    assert info.get("scheduled_start", 0) >= time.time() + 500
    with pytest.raises(OarJobTimeout):
        get_oar_job_nodes(second, oar.frontend, timeout=1)


def test_oardel_of_finished_and_unknown_jobs(oar: OarTestbed) -> None:
    sub = OarSubmission("nodes=1", walltime=60, command="true")
    [(job_id, fe)] = oarsub([(sub, oar.frontend)])
    assert job_id is not None
    assert wait_state(job_id, fe, {"Terminated", "Error"}) == "Terminated"
    oardel([(job_id, fe), (999999, fe)])  # no error, as in Execo
    assert get_oar_job_info(job_id, fe)["state"] == "Terminated"
    with pytest.raises(OarError, match="999999 is unknown"):
        get_oar_job_info(999999, fe)


def test_local_frontend_reads_jobs(oar: OarTestbed) -> None:
    # The test process runs as root here: it may read, not submit (OAR refuses root's jobs).
    [(job_id, _)] = oarsub([(OarSubmission("nodes=1", walltime=60), oar.frontend)])
    assert job_id is not None
    assert get_oar_job_info(job_id, "localhost")["owner"] == "oartest"
    assert get_oar_job_info(job_id)["owner"] == "oartest"
    [(refused, _)] = oarsub([(OarSubmission("nodes=1"), None)])
    assert refused is None


def test_frontend_failure_is_a_clear_error(oar: OarTestbed) -> None:
    dead = Host("127.77.0.252", user="oartest", port=6622)
    with pytest.raises(OarError, match=r"127\.77\.0\.252"):
        get_oar_job_info(
            1, dead, {"ssh_options": ("-o", "ConnectTimeout=5", "-o", "BatchMode=yes")}
        )


def test_oarjob_releases_on_exception(oar: OarTestbed) -> None:
    job = OarJob(OarSubmission("nodes=2", walltime=300), oar.frontend)  # hosts waits
    with pytest.raises(ZeroDivisionError), job:
        assert len(job.hosts) == 2
        assert job.state is ReservationState.RUNNING and job.raw_state == "Running"
        r = Remote("hostname", job.hosts, oar.node_params).run(timeout=120)
        assert r.ok
        _ = 1 / 0
    assert job.wait_end(120) == "Error"  # OAR's state of a deleted job
    assert (job.job_id, oar.frontend) not in get_current_oar_jobs([oar.frontend])


def test_oarjob_releases_on_ctrl_c(oar: OarTestbed) -> None:
    # an advance reservation: the job waits, so that its deletion is quick
    later = OarSubmission("nodes=1", walltime=300, reservation_date=time.time() + 3600)
    job = OarJob(later, oar.frontend)
    with pytest.raises(KeyboardInterrupt), job:
        assert job.job_id is not None
        raise KeyboardInterrupt
    assert job.wait_end(120) in {"Error", "Terminated"}


def test_oarjob_refused_raises(oar: OarTestbed) -> None:
    with (
        pytest.raises(OarError, match="not enough resources"),
        OarJob(OarSubmission("nodes=50"), oar.frontend),
    ):
        pass


def test_oarsubgrid_over_two_sites(oar: OarTestbed) -> None:
    # "sites" are the resource property site (both on the testbed's one frontend)
    grenoble = OarSubmission("nodes=1", sql_properties="site='grenoble'")
    lyon = OarSubmission("nodes=2", sql_properties="site='lyon'")
    jobs = oarsubgrid([(grenoble, oar.frontend), (lyon, oar.frontend)], walltime=120)
    assert len(jobs) == 2
    nodes = [get_oar_job_nodes(job_id, fe, timeout=120) for job_id, fe in jobs]
    assert [[h.address for h in n] for n in nodes] == [
        oar.hosts_of("grenoble")[:1],
        oar.hosts_of("lyon")[:2],
    ]
    assert all(get_oar_job_info(j, fe)["walltime"] == 120 for j, fe in jobs)
    oardel(jobs)


def test_oarsubgrid_all_or_nothing(oar: OarTestbed) -> None:
    ok = OarSubmission("nodes=1", sql_properties="site='grenoble'")
    too_big = OarSubmission("nodes=9", sql_properties="site='lyon'")
    later = time.time() + 3600  # advance reservations: nothing launches, deletion is quick
    jobs = [(ok, oar.frontend), (too_big, oar.frontend)]
    assert oarsubgrid(jobs, walltime=60, reservation_date=later) == []
    # the accepted one was deleted: soon no job is left
    deadline = time.monotonic() + 120
    while get_current_oar_jobs([oar.frontend]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert get_current_oar_jobs([oar.frontend]) == []
