"""SlurmAllocation: nodes held by a Slurm job, as a :class:`~procession.reservation.Reservation`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Self

from procession import Host, ProcessBase, format_date, get_seconds, logger
from procession.reservation import ReservationBase, ReservationState

from ._commands import (
    DEFAULT_COMMAND_TIMEOUT,
    SlurmError,
    check_slurm,
    run_slurm,
    slurm_process,
    start_slurm,
)
from ._parse import (
    ACTIVE_STATES,
    SQUEUE_FORMAT,
    SlurmJob,
    format_walltime,
    parse_sbatch_job_id,
    parse_squeue,
    reservation_state,
)

__all__ = ["SlurmAllocation", "get_current_jobs", "get_job"]

_logger = logger.getChild("slurm")

HOLDING_COMMAND: Final = "exec sleep infinity"
"""What the holding batch job runs: nothing, until released or out of walltime."""

# squeue's answer for a job it no longer knows (purged after MinJobAge).
_UNKNOWN_JOB: Final = "Invalid job id specified"
# scancel's answers for a job already gone: releasing it is then done.
_ALREADY_GONE: Final = ("Invalid job id specified", "already completing or completed")
_TIME_FORMAT_ENV: Final = {"SLURM_TIME_FORMAT": "%s"}  # dates as unix times, no time zone

NodeAddress = str | Callable[[str], Host | str]


class _Frontend:
    """Where and how Slurm commands run; shared by the module functions."""

    def __init__(
        self,
        frontend: Host | str | None,
        params: Mapping[str, Any] | None,
        env: Mapping[str, str] | None,
        timeout: float,
    ) -> None:
        self.frontend = frontend
        self.params = params
        self.env = dict(env or {})
        self.timeout = timeout

    def run(self, argv: Sequence[str], ok_messages: Sequence[str] = ()) -> str:
        return run_slurm(
            argv,
            self.frontend,
            self.params,
            {**self.env, **_TIME_FORMAT_ENV},
            self.timeout,
            ok_messages,
        )

    def start(self, argv: Sequence[str]) -> ProcessBase:
        return start_slurm(
            argv, self.frontend, self.params, {**self.env, **_TIME_FORMAT_ENV}, self.timeout
        )

    def squeue(self, *selection: str) -> list[SlurmJob]:
        out = self.run(
            ["squeue", "--noheader", "--states=all", f"--format={SQUEUE_FORMAT}", *selection],
            ok_messages=(_UNKNOWN_JOB,),
        )
        try:
            return parse_squeue(out)
        except ValueError as exc:
            raise SlurmError(f"cannot parse squeue output: {exc}") from exc


def get_job(
    job_id: int,
    frontend: Host | str | None = None,
    frontend_connection_params: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> SlurmJob | None:
    """What squeue says of one job; None once Slurm forgot it (``MinJobAge`` after its end).

    Args:
        job_id: the job.
        frontend: host to run squeue on over ssh; None runs it here.
        frontend_connection_params: connection parameters of the frontend.
        env: variables for the Slurm commands (``SLURM_CONF``, ...).

    Raises:
        SlurmError: squeue failed (its message included).
    """
    fe = _Frontend(frontend, frontend_connection_params, env, DEFAULT_COMMAND_TIMEOUT)
    return next((j for j in fe.squeue(f"--jobs={job_id}") if j.job_id == job_id), None)


def get_current_jobs(
    frontend: Host | str | None = None,
    frontend_connection_params: Mapping[str, Any] | None = None,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
) -> list[SlurmJob]:
    """The jobs of a user that are still pending, running or completing.

    Args:
        frontend: host to run squeue on over ssh; None runs it here.
        frontend_connection_params: connection parameters of the frontend.
        user: whose jobs; default the user squeue runs as (``--me``).
        env: variables for the Slurm commands (``SLURM_CONF``, ...).

    Returns:
        The jobs, ordered by job id.

    Raises:
        SlurmError: squeue failed (its message included).

    Differences from Execo's ``get_current_oar_jobs``: returns job records,
    not ``(id, site)`` pairs.
    """
    fe = _Frontend(frontend, frontend_connection_params, env, DEFAULT_COMMAND_TIMEOUT)
    who = f"--user={user}" if user else "--me"
    jobs = [j for j in fe.squeue(who) if j.state in ACTIVE_STATES]
    return sorted(jobs, key=lambda j: j.job_id)


class SlurmAllocation(ReservationBase):
    """Nodes of a Slurm cluster, held by a batch job that sleeps until released.

    ::

        with SlurmAllocation(nodes=2, walltime="1:00:00", partition="debug") as alloc:
            if alloc.wait_start(timeout=600):
                Remote("hostname", alloc.hosts).run()

    :meth:`start` submits ``sbatch --parsable --wrap 'exec sleep infinity'``
    with the options given: it returns at once with the job id, needs no
    connection kept open, and the allocation outlives the script if it is
    not released (like an OAR job), ending at its walltime. ``salloc
    --no-shell`` would block until the nodes are granted and only tell the
    job id on stderr as it goes. The job is submitted with ``--no-requeue``,
    so that a node failure ends it instead of moving it to other nodes
    behind the script's back.

    All commands run on ``frontend`` over ssh (:class:`procession.SshProcess`),
    or here when it is None.

    Args:
        nodes: number of nodes, or a Slurm range (``"2-4"``).
        walltime: time limit: seconds or any duration
            :func:`procession.get_seconds` accepts (``"1:30:00"``).
        partition: ``--partition``.
        constraint: ``--constraint`` (node features, e.g. ``"ib&haswell"``).
        account: ``--account``.
        qos: ``--qos``.
        name: ``--job-name``; default ``procession``.
        reservation: ``--reservation``, an advance reservation of the site.
        exclusive: ``--exclusive``: no other job on the nodes.
        additional_options: more sbatch options, placed after the ones above
            so that they override them (sbatch keeps the last value).
        frontend: host to run the Slurm commands on; None runs them here.
        frontend_connection_params: connection parameters of the frontend.
        env: variables for the Slurm commands, e.g. ``{"SLURM_CONF": ...}``.
        node_address: how a node name becomes a :class:`procession.Host`:
            ``"name"`` (the node name itself, the usual case), ``"addr"``
            (the node's ``NodeAddr`` from ``sinfo``, for clusters whose node
            names do not resolve from where the script runs), or a function
            of the node name.
        command_timeout: seconds each Slurm command may take.
        poll_interval: longest pause, in seconds, between two squeue calls
            of :meth:`wait_start`; the first ones come sooner.

    Attributes:
        job_id: the Slurm job id, None before :meth:`start`.
        job: the last :class:`~procession.slurm.SlurmJob` seen (None before).
    """

    def __init__(
        self,
        nodes: int | str = 1,
        walltime: float | str = 3600,
        partition: str | None = None,
        constraint: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        name: str | None = None,
        reservation: str | None = None,
        exclusive: bool = False,
        additional_options: Sequence[str] = (),
        frontend: Host | str | None = None,
        frontend_connection_params: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        node_address: NodeAddress = "name",
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        poll_interval: float = 5.0,
    ) -> None:
        super().__init__()
        if node_address not in ("name", "addr") and not callable(node_address):
            raise ValueError(f"node_address must be 'name', 'addr' or a function: {node_address!r}")
        self.nodes = nodes
        seconds = get_seconds(walltime)
        if seconds is None:
            raise ValueError("a walltime is required")
        self.walltime: float = seconds
        self.partition = partition
        self.constraint = constraint
        self.account = account
        self.qos = qos
        self.name = name or "procession"
        self.reservation = reservation
        self.exclusive = exclusive
        self.additional_options = list(additional_options)
        self.node_address = node_address
        self.poll_interval = poll_interval
        self.job_id: int | None = None
        self.job: SlurmJob | None = None
        self._fe = _Frontend(frontend, frontend_connection_params, env, command_timeout)
        self._hosts: list[Host] = []
        self._seen_running = False
        self._released = False

    @classmethod
    def attach(cls, job_id: int, **kwargs: Any) -> SlurmAllocation:
        """An allocation for a job already submitted (by another script, or ``sbatch``).

        Args:
            job_id: the job.
            **kwargs: the constructor's options that matter after submission
                (``frontend``, ``frontend_connection_params``, ``env``,
                ``node_address``, ...).

        Raises:
            SlurmError: squeue failed, or does not know the job.
        """
        alloc = cls(**kwargs)
        alloc.job_id = job_id
        alloc._state = ReservationState.PENDING
        if alloc.refresh() is None:
            raise SlurmError(f"no Slurm job {job_id} (squeue does not know it)")
        return alloc

    # ------------------------------------------------------------ submission
    def sbatch_command(self) -> list[str]:
        """The sbatch command line :meth:`start` runs."""
        argv = [
            "sbatch",
            "--parsable",
            f"--nodes={self.nodes}",
            f"--time={format_walltime(self.walltime)}",
            f"--job-name={self.name}",
            "--no-requeue",
            "--output=/dev/null",
            "--error=/dev/null",
        ]
        options = {
            "partition": self.partition,
            "constraint": self.constraint,
            "account": self.account,
            "qos": self.qos,
            "reservation": self.reservation,
        }
        argv += [f"--{k}={v}" for k, v in options.items() if v is not None]
        if self.exclusive:
            argv.append("--exclusive")
        return [*argv, *self.additional_options, f"--wrap={HOLDING_COMMAND}"]

    def start(self) -> Self:
        """Submit the holding job; returns at once, with :attr:`job_id` set.

        Raises:
            SlurmError: sbatch refused the request (an impossible node count,
                an unknown partition, ...); the state is then ``FAILED`` and
                the message holds sbatch's error.
            RuntimeError: already started.
        """
        if self._state is not ReservationState.NEW:
            raise RuntimeError(f"{self!r} was already started")
        self._submit_date = time.time()
        argv = self.sbatch_command()
        p = self._fe.start(argv)
        try:
            p.wait()
        except BaseException:
            # Ctrl-C while sbatch runs: the job may be submitted already, and
            # no `with` block releases it (__enter__ did not return). Let
            # sbatch finish (it is bounded by command_timeout), then cancel
            # the job it reports.
            self._cancel_interrupted_submission(p)
            raise
        try:
            self.job_id = parse_sbatch_job_id(check_slurm(p, argv))
        except (SlurmError, ValueError) as exc:
            self._set_final(ReservationState.FAILED, None)
            if isinstance(exc, SlurmError):
                raise
            raise SlurmError(str(exc)) from exc
        self._state = ReservationState.PENDING
        _logger.info("slurm job %d submitted (%s nodes)", self.job_id, self.nodes)
        return self

    def _cancel_interrupted_submission(self, p: ProcessBase) -> None:
        self._set_final(ReservationState.FAILED, None)
        try:
            p.wait(self._fe.timeout)
            self.job_id = parse_sbatch_job_id(p.stdout)
        except (Exception, KeyboardInterrupt):
            _logger.warning("%r: submission interrupted, no job id known", self)
            return
        try:
            self._fe.run(["scancel", str(self.job_id)], ok_messages=_ALREADY_GONE)
            self._released = True
        except (Exception, KeyboardInterrupt) as exc:
            _logger.error("%r: submission interrupted, scancel failed: %s", self, exc)

    # ------------------------------------------------------------ state
    def refresh(self) -> SlurmJob | None:
        """Ask squeue about the job and update :attr:`state`, dates and :attr:`hosts`.

        Returns:
            The job as squeue shows it, or None when Slurm no longer knows it
            (it then counts as ended).

        Raises:
            SlurmError: squeue failed.
            RuntimeError: not started.
        """
        self._check_started()
        if self.job_id is None:  # sbatch refused it
            return None
        job = next(
            (j for j in self._fe.squeue(f"--jobs={self.job_id}") if j.job_id == self.job_id), None
        )
        if self._state is ReservationState.ENDED:
            # Released: keep what release() recorded, only note the last view.
            self.job = job or self.job
            return job
        if job is None:
            self._set_final(reservation_state("UNKNOWN", self._seen_running), None)
            return None
        self.job = job
        # Slurm's own dates, whole seconds all: a local clock reading for the
        # submission could come after Slurm's (truncated) start date.
        self._submit_date = job.submit_date or self._submit_date
        state = reservation_state(job.state, self._seen_running or bool(job.nodes))
        if state is ReservationState.RUNNING and not self._seen_running:
            self._seen_running = True
            self._start_date = job.start_date or time.time()
            self._hosts = self._hosts_of(job.nodes)
            _logger.info("slurm job %d running on %s", job.job_id, ",".join(job.nodes))
        if state in (ReservationState.ENDED, ReservationState.FAILED):
            self._set_final(state, job.end_date)
        else:
            self._state = state
        return job

    def _set_final(self, state: ReservationState, end_date: float | None) -> None:
        self._state = state
        self._end_date = self._end_date or end_date or time.time()
        self._hosts = []

    @property
    def state(self) -> ReservationState:
        """State as last seen (by :meth:`refresh`, :meth:`wait_start`, :meth:`release`)."""
        return self._state

    @property
    def raw_state(self) -> str | None:
        """Slurm's own state of the job as last seen (``"PENDING"``, ...), None before."""
        return self.job.state if self.job else None

    @property
    def state_reason(self) -> str | None:
        """Slurm's reason for the state (``"Resources"``, ``"PartitionNodeLimit"``, ...)."""
        return self.job.reason if self.job else None

    @property
    def predicted_start(self) -> float | None:
        """While pending: the start the scheduler predicts (unix time), when it has one."""
        if self.job is None or self._state is not ReservationState.PENDING:
            return None
        return self.job.start_date

    @property
    def hosts(self) -> list[Host]:
        """The allocated nodes as hosts (see ``node_address``); empty unless running."""
        return list(self._hosts)

    @property
    def node_names(self) -> list[str]:
        """Slurm's names of the allocated nodes; empty before the start."""
        return list(self.job.nodes) if self.job else []

    def _hosts_of(self, names: list[str]) -> list[Host]:
        if callable(self.node_address):
            return [Host(self.node_address(n)) for n in names]
        if self.node_address == "name" or not names:
            return [Host(n) for n in names]
        out = self._fe.run(
            ["sinfo", "--noheader", "--Node", "--format=%N|%o", "--nodes=" + ",".join(names)]
        )
        addr = dict(line.split("|", 1) for line in out.split() if "|" in line)
        missing = [n for n in names if n not in addr]
        if missing:
            raise SlurmError(f"sinfo gave no NodeAddr for {missing}: {out!r}")
        return [Host(addr[n]) for n in names]

    # ------------------------------------------------------------ waiting
    def wait_start(self, timeout: float | str | None = None) -> bool:
        """Wait until the job runs, polling squeue (first quickly, then every ``poll_interval``).

        Logs the scheduler's predicted start when it has one and it changes.
        Blocks the calling thread: not for handlers (they run on the
        conductor thread).

        Args:
            timeout: seconds (or a duration string); None waits until the job
                starts or ends.

        Returns:
            True when running; False on timeout (still ``PENDING``: release
            it, or wait again) or when the job ended without starting
            (``FAILED``, see :attr:`state_reason`).

        Raises:
            SlurmError: squeue failed.
            RuntimeError: not started.
        """
        self._check_started()
        wait = get_seconds(timeout)
        deadline = None if wait is None else time.monotonic() + wait
        delay = 0.2
        predicted: float | None = None
        while True:
            self.refresh()
            if self._state is ReservationState.RUNNING:
                return True
            if self._state is not ReservationState.PENDING:
                _logger.info(
                    "slurm job %s: %s without starting (%s)",
                    self.job_id,
                    self._state,
                    self.state_reason,
                )
                return False
            if self.predicted_start not in (None, predicted):
                predicted = self.predicted_start
                assert predicted is not None
                _logger.info(
                    "slurm job %s: predicted start %s", self.job_id, format_date(predicted)
                )
            pause = min(delay, self.poll_interval)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                pause = min(pause, remaining)
            time.sleep(pause)
            delay *= 1.5

    # ------------------------------------------------------------ release
    def release(self, timeout: float = 30.0) -> None:
        """Cancel the job (``scancel``) and wait until its nodes are free.

        Idempotent; a job already ended is fine. The state becomes ``ENDED``
        (``FAILED`` stays ``FAILED``).

        Args:
            timeout: seconds to wait for the job to leave the running and
                completing states; a warning is logged past it.

        Raises:
            SlurmError: scancel failed for another reason than the job being
                gone.
        """
        if self._state is ReservationState.NEW:
            self._set_final(ReservationState.ENDED, None)
            return
        if self.job_id is None or self._released:  # refused by sbatch, or released
            return
        self._released = True
        self._fe.run(["scancel", str(self.job_id)], ok_messages=_ALREADY_GONE)
        if self._state is not ReservationState.FAILED:
            self._set_final(ReservationState.ENDED, time.time())
        _logger.info("slurm job %d released", self.job_id)
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            job = self.refresh()
            if job is None or job.state not in ACTIVE_STATES:
                return
            if time.monotonic() >= deadline:
                _logger.warning(
                    "slurm job %d still %s %.0f s after scancel", self.job_id, job.state, timeout
                )
                return
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    # ------------------------------------------------------------ srun
    def srun(
        self,
        cmd: str | Sequence[str],
        nodes: int | None = None,
        ntasks_per_node: int = 1,
        srun_options: Sequence[str] = (),
        **kwargs: Any,
    ) -> ProcessBase:
        """An unstarted process running ``cmd`` on the allocated nodes through ``srun``.

        The step runs in this allocation (``srun --jobid=ID --overlap``), one
        task per node by default, from the frontend (or here). Its output is
        the merged output of the tasks, each line prefixed with its task
        number (``--label``).

        Args:
            cmd: the command, an argv list or a string for ``/bin/sh -c``.
            nodes: how many of the nodes; default all.
            ntasks_per_node: tasks on each node.
            srun_options: more srun options.
            **kwargs: options of :class:`procession.Process`.

        Raises:
            RuntimeError: not running.
        """
        if self._state is not ReservationState.RUNNING or self.job_id is None:
            raise RuntimeError(f"{self!r} is not running: srun needs a started allocation")
        argv = [
            "srun",
            f"--jobid={self.job_id}",
            "--overlap",
            f"--nodes={nodes or len(self.node_names)}",
            f"--ntasks-per-node={ntasks_per_node}",
            "--label",
            *srun_options,
            *(["/bin/sh", "-c", cmd] if isinstance(cmd, str) else cmd),
        ]
        kwargs.setdefault("name", "srun")
        return slurm_process(argv, self._fe.frontend, self._fe.params, self._fe.env, **kwargs)

    def __repr__(self) -> str:
        where = f" on {self._fe.frontend}" if self._fe.frontend is not None else ""
        return f"<SlurmAllocation job={self.job_id} {self._state} nodes={self.nodes}{where}>"
