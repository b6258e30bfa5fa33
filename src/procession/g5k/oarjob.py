"""``OarJob``: an OAR job as a reservation that always releases it.

Beyond Execo: ``with OarJob(OarSubmission("nodes=2", walltime=600)) as job:
Remote("hostname", job.hosts, connection_params).run()``. Leaving the block,
by an exception or Ctrl-C too, deletes the job (``oardel``). ``OarJob``
implements :class:`procession.reservation.Reservation`, so that code written
for it runs on OAR, Slurm or a static host list alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Self

from procession import Host, Timer, get_seconds
from procession.reservation import ReservationBase, ReservationState

from .config import g5k_configuration
from .oar import (
    OarSubmission,
    get_oar_job_info,
    oardel,
    oarsub,
    wait_oar_job_start,
)
from .utils import FINAL_STATES, Frontend, OarError, OarJobTimeout

__all__ = ["OarJob", "reservation_state"]

logger = logging.getLogger("procession.g5k.oar")


_RUNNING_STATES = frozenset({"Running", "Finishing"})


def reservation_state(oar_state: str | None, started: bool) -> ReservationState:
    """The :class:`~procession.reservation.ReservationState` of an OAR state (pure).

    ``Waiting``, ``Hold``, ``toLaunch``, ``toAckReservation``, ``Launching``
    (and ``Suspended``, ``Resuming``) are ``PENDING``; ``Running`` and
    ``Finishing`` are ``RUNNING``; ``Terminated`` and ``Error`` (also OAR's
    state of a job deleted while running) are ``ENDED`` for a job that
    started and ``FAILED`` for one that never did.
    """
    if oar_state in _RUNNING_STATES:
        return ReservationState.RUNNING
    if oar_state in FINAL_STATES or oar_state == "toError":
        return ReservationState.ENDED if started else ReservationState.FAILED
    return ReservationState.PENDING


class OarJob(ReservationBase):
    """One OAR job as a reservation: submitted on entering a ``with`` block,
    deleted on leaving it.

    Args:
        submission: what to ask OAR for.
        frontend: where to submit (see :data:`procession.g5k.utils.Frontend`).
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        start_timeout: seconds that :attr:`hosts` waits for a pending job to
            start (raising :class:`OarJobTimeout` after them), so that
            ``Remote(cmd, job.hosts)`` right after entering the block runs
            on the job's nodes, never on an empty list. Default:
            ``g5k_configuration['default_timeout']`` (900 s). None:
            :attr:`hosts` is empty until the job runs, as for every
            :class:`~procession.reservation.Reservation` (call
            :meth:`wait_start` first).

    Attributes:
        job_id: OAR's id, None until submitted.
        frontend: the job's frontend.
        raw_state: OAR's state of the job as last seen (``"Waiting"``,
            ``"Running"``, ``"Error"``, ...), None before.

    :attr:`state` and the dates are as last seen by :meth:`refresh`,
    :meth:`wait_start`, :attr:`hosts` or :meth:`release`. Calls block the
    calling thread; they are not meant for handlers.

    .. versionadded:: 0.1
    .. versionchanged:: 0.1
       A :class:`~procession.reservation.Reservation`: :meth:`wait_start`
       returns a bool and :attr:`state` is a ``ReservationState``
       (OAR's state is :attr:`raw_state`).
    """

    def __init__(
        self,
        submission: OarSubmission,
        frontend: Frontend = None,
        frontend_connection_params: Mapping[str, Any] | None = None,
        start_timeout: float | str | None = "default",
    ) -> None:
        super().__init__()
        if start_timeout == "default":
            start_timeout = g5k_configuration["default_timeout"]
        self.submission = submission
        self.frontend = frontend
        self.frontend_connection_params = frontend_connection_params
        self.start_timeout: float | None = get_seconds(start_timeout)
        self.job_id: int | None = None
        self.raw_state: str | None = None
        self._info: dict[str, Any] = {}
        self._hosts: list[Host] = []
        self._released = False

    def __repr__(self) -> str:
        return (
            f"<OarJob {self.job_id} on {self.frontend or 'localhost'} {self._state} "
            f"{self.submission!r}>"
        )

    def submit(self) -> int:
        """Submit the job (once) and return its id.

        Raises:
            OarError: OAR refused it, with OAR's message (the state is then
                ``FAILED``).
        """
        if self.job_id is None:
            self._submit_date = time.time()
            try:
                [(job_id, _)] = oarsub(
                    [(self.submission, self.frontend)],
                    self.frontend_connection_params,
                    abort_on_error=True,
                )
            except OarError:
                self._state = ReservationState.FAILED
                self._end_date = time.time()
                raise
            assert job_id is not None  # abort_on_error raised otherwise
            self.job_id = job_id
            self._state = ReservationState.PENDING
        return self.job_id

    def start(self) -> Self:
        """Submit the job (see :meth:`submit`); returns at once, with self."""
        self.submit()
        return self

    def _require_id(self) -> int:
        if self.job_id is None:
            raise RuntimeError("the OAR job is not submitted: call start() or use `with`")
        return self.job_id

    def refresh(self) -> dict[str, Any]:
        """Ask OAR about the job, update :attr:`state`, :attr:`raw_state`,
        the dates and :attr:`hosts`, and return
        :func:`~procession.g5k.get_oar_job_info`'s dict.

        Raises:
            OarError: the frontend failed.
            RuntimeError: not submitted.
        """
        info = get_oar_job_info(self._require_id(), self.frontend, self.frontend_connection_params)
        self._info = info
        self.raw_state = info.get("state")
        if self._released:
            return info  # keep what release() recorded
        started = bool(info.get("start_date")) or self._state is ReservationState.RUNNING
        state = reservation_state(self.raw_state, started)
        self._submit_date = info.get("submission_date") or self._submit_date
        if state is ReservationState.RUNNING and self._state is not ReservationState.RUNNING:
            self._start_date = info.get("start_date") or time.time()
            self._hosts = [Host(n) for n in info["nodes"]]
        if state in (ReservationState.ENDED, ReservationState.FAILED):
            self._end_date = info.get("stop_date") or self._end_date or time.time()
            self._start_date = self._start_date or info.get("start_date")
            self._hosts = []
        self._state = state
        return info

    def info(self) -> dict[str, Any]:
        """:func:`~procession.g5k.get_oar_job_info` of this job (see :meth:`refresh`)."""
        return self.refresh()

    def wait_start(self, timeout: float | str | None = None) -> bool:
        """Wait until the job runs (see :func:`~procession.g5k.wait_oar_job_start`).

        Args:
            timeout: seconds (or a duration string); None waits without limit.

        Returns:
            True when the job runs; False after ``timeout`` (still
            ``PENDING``) or when it ended without running (``FAILED``; OAR's
            reason is in ``info()["message"]``).

        Raises:
            OarError: the frontend failed.
            RuntimeError: not started.
        """
        self._check_started()
        if self._state is ReservationState.PENDING:
            wait_oar_job_start(
                self._require_id(),
                self.frontend,
                self.frontend_connection_params,
                get_seconds(timeout),
            )
            self.refresh()
        return self._state is ReservationState.RUNNING

    def wait_end(self, timeout: float | None = None) -> str:
        """Wait until OAR has ended the job and return OAR's final state.

        Raises:
            OarJobTimeout: still not ended after ``timeout`` seconds.
        """
        countdown = Timer(timeout)
        while True:
            state = self.refresh().get("state")
            if state in FINAL_STATES:
                assert state is not None
                return str(state)
            remaining = countdown.remaining()
            if remaining is not None and remaining <= 0:
                raise OarJobTimeout(f"OAR job {self.job_id} still {state} after {timeout} s")
            delay = float(g5k_configuration["tiny_polling_interval"])
            time.sleep(delay if remaining is None else min(delay, remaining))

    @property
    def hosts(self) -> list[Host]:
        """The job's hosts, sorted.

        A pending job is waited for first, ``start_timeout`` seconds at most;
        with ``start_timeout=None``, the list is empty until the job runs.

        Raises:
            OarJobTimeout: not running after ``start_timeout`` seconds.
            OarError: the job ended without running.
        """
        waits = self.start_timeout is not None and self._state is ReservationState.PENDING
        if waits and not self.wait_start(self.start_timeout):
            if self.state is ReservationState.FAILED:
                raise OarError(
                    f"OAR job {self.job_id} ended without running ({self.raw_state}): "
                    f"{self._info.get('message', '')}"
                )
            raise OarJobTimeout(
                f"OAR job {self.job_id} not running after {self.start_timeout:g} s: "
                f"state {self.raw_state}, predicted start "
                f"{self._info.get('scheduled_start') or self._info.get('start_date')}"
            )
        return list(self._hosts)

    def release(self) -> None:
        """Delete the job (``oardel``, which does not wait for OAR to end
        it); the state becomes ``ENDED``. Does nothing the second time."""
        if self.job_id is None or self._released:
            return
        self._released = True
        logger.debug("releasing OAR job %s on %s", self.job_id, self.frontend)
        try:
            oardel([(self.job_id, self.frontend)], self.frontend_connection_params)
        finally:
            if self._state not in (ReservationState.ENDED, ReservationState.FAILED):
                self._state = ReservationState.ENDED
                self._end_date = time.time()
            self._hosts = []
