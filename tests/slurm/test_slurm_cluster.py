"""SlurmAllocation on the session's real Slurm cluster (scripts/slurm-testbed.sh).

The nodes' NodeAddr are loopback testbed hosts, so ``node_address="addr"``
gives hosts that sshd answers on: a Remote runs on the allocated nodes.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from _slurm_testing import SlurmCluster

from procession import Host, Remote
from procession.g5k import OarJob, OarSubmission, g5k_configuration, get_current_oar_jobs
from procession.reservation import Reservation, ReservationState, StaticHosts
from procession.slurm import SlurmAllocation, SlurmError, get_current_jobs, get_job

WAIT = 60  # seconds: the scheduler starts a job within a few seconds here


@pytest.fixture
def allocation(slurm_cluster: SlurmCluster) -> Callable[..., SlurmAllocation]:
    """SlurmAllocation with the test cluster's SLURM_CONF and NodeAddr hosts."""

    def make(**kwargs: Any) -> SlurmAllocation:
        kwargs.setdefault("walltime", 300)
        kwargs.setdefault("node_address", "addr")
        kwargs.setdefault("poll_interval", 0.5)
        return SlurmAllocation(env=slurm_cluster.env, **kwargs)

    return make


@pytest.fixture(autouse=True)
def no_job_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test releases what it allocated."""
    yield
    if "slurm_cluster" in request.fixturenames:
        cluster: SlurmCluster = request.getfixturevalue("slurm_cluster")
        assert get_current_jobs(env=cluster.env) == []


def test_allocate_two_nodes_run_remote_release(
    allocation: Callable[..., SlurmAllocation],
    slurm_cluster: SlurmCluster,
    testbed_connection_params: dict[str, Any],
) -> None:
    with allocation(nodes=2, name="two-nodes") as alloc:
        assert alloc.state is ReservationState.PENDING
        assert alloc.job_id is not None
        assert alloc.wait_start(timeout=WAIT), alloc.state_reason
        assert alloc.state is ReservationState.RUNNING
        assert alloc.raw_state == "RUNNING"
        assert len(alloc.node_names) == 2
        assert set(alloc.node_names) <= set(slurm_cluster.nodes)
        by_name = dict(zip(slurm_cluster.nodes, slurm_cluster.addresses, strict=True))
        assert alloc.hosts == [Host(by_name[n]) for n in alloc.node_names]
        [job] = get_current_jobs(env=slurm_cluster.env)
        assert (job.job_id, job.name, job.state) == (alloc.job_id, "two-nodes", "RUNNING")
        r = Remote("echo {{{host}}}", alloc.hosts, testbed_connection_params).run(60)
        assert r.ok
        assert sorted(p.stdout.strip() for p in r.processes) == sorted(
            h.address for h in alloc.hosts
        )
    assert alloc.state is ReservationState.ENDED
    assert alloc.hosts == []
    assert alloc.submit_date is not None and alloc.start_date is not None
    assert alloc.end_date is not None
    assert alloc.submit_date <= alloc.start_date <= alloc.end_date
    after = get_job(alloc.job_id, env=slurm_cluster.env)
    assert after is not None and after.state == "CANCELLED"


def test_impossible_request_is_refused_with_slurms_message(
    allocation: Callable[..., SlurmAllocation],
) -> None:
    too_many = allocation(nodes=9)
    with pytest.raises(SlurmError, match="More processors requested than permitted") as info:
        too_many.start()
    assert info.value.command[0] == "sbatch"
    assert too_many.state is ReservationState.FAILED
    assert too_many.job_id is None
    too_many.release()  # nothing to cancel, no error

    bad_partition = allocation(nodes=1, partition="no-such-partition")
    with pytest.raises(SlurmError, match=r"[Ii]nvalid partition"), bad_partition:
        pass
    assert bad_partition.state is ReservationState.FAILED


def test_busy_cluster_times_out_pending_then_releases(
    allocation: Callable[..., SlurmAllocation],
) -> None:
    with allocation(nodes=4, exclusive=True) as everything:
        assert everything.wait_start(timeout=WAIT)
        with allocation(nodes=1, exclusive=True) as waiting:
            t0 = time.monotonic()
            assert not waiting.wait_start(timeout=2)
            assert time.monotonic() - t0 < 2 + 10  # one squeue call past the deadline at most
            assert waiting.state is ReservationState.PENDING
            assert waiting.hosts == []
            assert waiting.raw_state == "PENDING"
            assert waiting.state_reason in ("Resources", "Priority", None)
    assert waiting.state is ReservationState.ENDED
    assert everything.state is ReservationState.ENDED


def test_release_on_exception(
    allocation: Callable[..., SlurmAllocation], slurm_cluster: SlurmCluster
) -> None:
    alloc = allocation(nodes=1)
    with pytest.raises(RuntimeError, match="experiment failed"), alloc:
        assert alloc.wait_start(timeout=WAIT)
        raise RuntimeError("experiment failed")
    job = get_job(alloc.job_id or 0, env=slurm_cluster.env)
    assert job is not None and job.state == "CANCELLED"


def test_ctrl_c_while_waiting_releases(
    allocation: Callable[..., SlurmAllocation], slurm_cluster: SlurmCluster
) -> None:
    class Interrupted(SlurmAllocation):
        """Ctrl-C arrives right after the first squeue call of wait_start."""

        def refresh(self) -> Any:
            job = super().refresh()
            if self.state in (ReservationState.PENDING, ReservationState.RUNNING):
                raise KeyboardInterrupt
            return job

    alloc = Interrupted(env=slurm_cluster.env, nodes=1, walltime=300)
    with pytest.raises(KeyboardInterrupt), alloc:
        alloc.wait_start(timeout=WAIT)
    assert alloc.state is ReservationState.ENDED
    job = get_job(alloc.job_id or 0, env=slurm_cluster.env)
    assert job is not None and job.state == "CANCELLED"


def test_ctrl_c_during_submission_cancels_the_submitted_job(
    slurm_cluster: SlurmCluster,
) -> None:
    class SlowSbatch(SlurmAllocation):
        """sbatch starts 1 s late, so that Ctrl-C comes while it runs."""

        def sbatch_command(self) -> list[str]:
            return ["sh", "-c", 'sleep 1; exec "$@"', "sh", *super().sbatch_command()]

    def ctrl_c(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    alloc = SlowSbatch(env=slurm_cluster.env, nodes=1, walltime=300)
    previous = signal.signal(signal.SIGALRM, ctrl_c)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt), alloc:
            pytest.fail("__enter__ was interrupted: the block must not run")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert alloc.job_id is not None  # sbatch did submit it ...
    assert alloc.state is ReservationState.FAILED
    job = get_job(alloc.job_id, env=slurm_cluster.env)
    assert job is not None and job.state == "CANCELLED"  # ... and it was cancelled


def test_srun_on_the_allocated_nodes(allocation: Callable[..., SlurmAllocation]) -> None:
    with allocation(nodes=2) as alloc:
        assert alloc.wait_start(timeout=WAIT)
        p = alloc.srun("echo $SLURMD_NODENAME", timeout=60).run()
        assert p.ok, p.stderr
        assert sorted(p.stdout.split()) == sorted([f"{i}:" for i in range(2)] + alloc.node_names)


def test_attach_to_an_existing_job(
    allocation: Callable[..., SlurmAllocation], slurm_cluster: SlurmCluster
) -> None:
    with allocation(nodes=1) as alloc:
        assert alloc.wait_start(timeout=WAIT)
        assert alloc.job_id is not None
        other = SlurmAllocation.attach(alloc.job_id, env=slurm_cluster.env)
        assert other.state is ReservationState.RUNNING
        assert other.node_names == alloc.node_names
        assert other.hosts == [Host(n) for n in alloc.node_names]  # node_address="name"
    with pytest.raises(SlurmError, match="no Slurm job 999999"):
        SlurmAllocation.attach(999999, env=slurm_cluster.env)


def test_through_a_frontend_over_ssh(
    slurm_cluster: SlurmCluster,
    testbed: Any,
    testbed_connection_params: dict[str, Any],
) -> None:
    frontend = testbed.hosts[-1]
    with SlurmAllocation(
        nodes=2,
        walltime="0:05:00",
        frontend=frontend,
        frontend_connection_params=testbed_connection_params,
        env=slurm_cluster.env,
        node_address="addr",
        poll_interval=0.5,
    ) as alloc:
        assert alloc.wait_start(timeout=WAIT)
        assert set(alloc.hosts) <= {Host(a) for a in slurm_cluster.addresses}
        jobs = get_current_jobs(frontend, testbed_connection_params, env=slurm_cluster.env)
        assert [j.job_id for j in jobs] == [alloc.job_id]
    assert alloc.state is ReservationState.ENDED


# -- one test body over every reservation backend ----------------------------


@dataclass
class Backend:
    """A reservation factory on one backend, and how to reach its hosts."""

    make: Callable[[], Reservation]
    addresses: set[str]
    connection_params: dict[str, Any]


# The OAR param starts the session's OAR testbed from inside the test (its
# lock file stays open for the session): a shared fixture, not a leak.
@pytest.fixture(params=[pytest.param("oar", marks=pytest.mark.allow_leaks), "slurm", "static"])
def two_host_reservation(
    request: pytest.FixtureRequest, testbed: Any, testbed_connection_params: dict[str, Any]
) -> Iterator[Backend]:
    """Reservations of 2 hosts on each backend: an OAR job on the session's
    real OAR (tests/oar_testbed_plugin.py), a Slurm allocation, a static list."""
    if request.param == "static":
        yield Backend(
            lambda: StaticHosts(testbed.hosts[:2]), set(testbed.hosts), testbed_connection_params
        )
    elif request.param == "slurm":
        make = request.getfixturevalue("allocation")
        yield Backend(lambda: make(nodes=2), set(testbed.hosts), testbed_connection_params)
    else:
        oar = request.getfixturevalue("oar_testbed")
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setitem(g5k_configuration, "polling_interval", 0.5)  # default: 20 s
        monkeypatch.setitem(g5k_configuration, "tiny_polling_interval", 0.3)
        sub = OarSubmission("nodes=2", walltime=300, sql_properties="site='grenoble'")
        yield Backend(lambda: OarJob(sub, oar.frontend), set(oar.addresses), oar.node_params)
        deadline = time.monotonic() + 120  # the deleted job holds its nodes until OAR ends it
        while get_current_oar_jobs([oar.frontend]):
            assert time.monotonic() < deadline, "OAR jobs left"
            time.sleep(0.5)


def test_same_body_on_every_backend(two_host_reservation: Backend) -> None:
    r = two_host_reservation.make()
    assert isinstance(r, Reservation)
    assert r.state is ReservationState.NEW
    with r:
        assert r.state in (ReservationState.PENDING, ReservationState.RUNNING)
        assert r.wait_start(timeout=WAIT)
        assert r.state is ReservationState.RUNNING
        assert len(r.hosts) == 2
        assert {h.address for h in r.hosts} <= two_host_reservation.addresses
        report = Remote("true", r.hosts, two_host_reservation.connection_params).run(60)
        assert report.ok
    assert r.state is ReservationState.ENDED
    assert r.submit_date is not None and r.start_date is not None and r.end_date is not None
    assert r.submit_date <= r.start_date <= r.end_date
