"""``OarJob``: an OAR job as a context manager that always releases it.

Beyond Execo: ``with OarJob(OarSubmission("nodes=2", walltime=600)) as job:
Remote("hostname", job.hosts, connection_params).run()``. Leaving the block,
by an exception or Ctrl-C too, deletes the job (``oardel``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from procession import Host, Timer

from .config import g5k_configuration
from .oar import (
    FINAL_STATES,
    OarSubmission,
    get_oar_job_info,
    get_oar_job_nodes,
    oardel,
    oarsub,
    wait_oar_job_start,
)
from .utils import Frontend, OarError, OarJobTimeout

__all__ = ["OarJob"]

logger = logging.getLogger("procession.g5k.oar")


class OarJob:
    """One OAR job, submitted on entering a ``with`` block, deleted on leaving it.

    Args:
        submission: what to ask OAR for.
        frontend: where to submit (see :data:`procession.g5k.utils.Frontend`).
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        start_timeout: seconds that :attr:`hosts` waits for the job to start
            (None: no limit).

    Attributes:
        job_id: OAR's id, None until submitted.
        frontend: the job's frontend.

    Calls block the calling thread; they are not meant for handlers.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        submission: OarSubmission,
        frontend: Frontend = None,
        frontend_connection_params: Mapping[str, Any] | None = None,
        start_timeout: float | None = None,
    ) -> None:
        self.submission = submission
        self.frontend = frontend
        self.frontend_connection_params = frontend_connection_params
        self.start_timeout = start_timeout
        self.job_id: int | None = None
        self._hosts: list[Host] | None = None
        self._released = False

    def __repr__(self) -> str:
        return f"<OarJob {self.job_id} on {self.frontend or 'localhost'} {self.submission!r}>"

    def submit(self) -> int:
        """Submit the job (once) and return its id.

        Raises:
            OarError: OAR refused it, with OAR's message.
        """
        if self.job_id is None:
            [(job_id, _)] = oarsub(
                [(self.submission, self.frontend)],
                self.frontend_connection_params,
                abort_on_error=True,
            )
            assert job_id is not None  # abort_on_error raised otherwise
            self.job_id = job_id
        return self.job_id

    def _require_id(self) -> int:
        if self.job_id is None:
            raise RuntimeError("the OAR job is not submitted: call submit() or use `with`")
        return self.job_id

    def info(self) -> dict[str, Any]:
        """:func:`~procession.g5k.get_oar_job_info` of this job."""
        return get_oar_job_info(self._require_id(), self.frontend, self.frontend_connection_params)

    @property
    def state(self) -> str | None:
        """OAR's current state of the job (asks the frontend)."""
        return self.info().get("state")

    def wait_start(self, timeout: float | None = None) -> None:
        """Wait until the job runs.

        Args:
            timeout: seconds; None waits without limit.

        Raises:
            OarJobTimeout: still not running after ``timeout``.
            OarError: the job ended without running.
        """
        job_id = self._require_id()
        if wait_oar_job_start(job_id, self.frontend, self.frontend_connection_params, timeout):
            return
        info = self.info()
        if info.get("state") in FINAL_STATES:
            raise OarError(
                f"OAR job {job_id} ended without running ({info.get('state')}): "
                f"{info.get('message', '')}"
            )
        raise OarJobTimeout(
            f"OAR job {job_id} not running after {timeout} s: state {info.get('state')}, "
            f"predicted start {info.get('scheduled_start') or info.get('start_date')}"
        )

    def wait_end(self, timeout: float | None = None) -> str:
        """Wait until the job has ended and return its final state.

        Raises:
            OarJobTimeout: still not ended after ``timeout`` seconds.
        """
        countdown = Timer(timeout)
        while True:
            state = self.state
            if state in FINAL_STATES:
                assert state is not None
                return state
            remaining = countdown.remaining()
            if remaining is not None and remaining <= 0:
                raise OarJobTimeout(f"OAR job {self.job_id} still {state} after {timeout} s")
            delay = float(g5k_configuration["tiny_polling_interval"])
            time.sleep(delay if remaining is None else min(delay, remaining))

    @property
    def hosts(self) -> list[Host]:
        """The job's hosts, sorted; waits for the start (``start_timeout``)."""
        if self._hosts is None:
            self._hosts = get_oar_job_nodes(
                self._require_id(),
                self.frontend,
                self.frontend_connection_params,
                timeout=self.start_timeout,
            )
        return list(self._hosts)

    def release(self) -> None:
        """Delete the job (``oardel``); does nothing the second time."""
        if self.job_id is None or self._released:
            return
        self._released = True
        logger.debug("releasing OAR job %s on %s", self.job_id, self.frontend)
        oardel([(self.job_id, self.frontend)], self.frontend_connection_params)

    def __enter__(self) -> OarJob:
        self.submit()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Runs for KeyboardInterrupt too: BaseException leaves through here.
        self.release()
