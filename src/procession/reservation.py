"""One reservation interface for every testbed: OAR jobs, Slurm allocations, static host lists.

A *reservation* is a set of hosts obtained from a scheduler (or simply given)
for some time. Scripts and the cluster engine written against
:class:`Reservation` run unchanged on Grid'5000 (``procession.g5k``), on a
Slurm cluster (``procession.slurm``) or on a fixed list of machines
(:class:`StaticHosts`)::

    with SlurmAllocation(nodes=2, walltime="0:30:00") as r:   # submits
        if not r.wait_start(timeout=600):
            raise SystemExit(f"not started: {r.state} {r.state_reason}")
        Remote("hostname", r.hosts).run()
    # released here, even on an exception or Ctrl-C

Life of a reservation (:class:`ReservationState`)::

    NEW --start()--> PENDING --scheduler--> RUNNING --release()/walltime--> ENDED
                        \\--refused, cancelled before starting--> FAILED

Layer 5: imports only the public package ``procession`` and the standard
library.

.. versionadded:: 0.1
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from procession import Host, ProcessionError, expand_hosts, logger

__all__ = [
    "Reservation",
    "ReservationBase",
    "ReservationError",
    "ReservationState",
    "StaticHosts",
]

_logger = logger.getChild("reservation")


class ReservationError(ProcessionError, RuntimeError):
    """A scheduler refused or failed a reservation request.

    The message holds the scheduler's own words (e.g. sbatch's error line).
    Subclassed by each testbed (``procession.slurm.SlurmError``).
    """


class ReservationState(enum.StrEnum):
    """Where a reservation is in its life; the same values on every testbed.

    The scheduler's own state (``"PENDING"``, ``"Waiting"``, ``"CANCELLED"``,
    ...) stays available as ``raw_state`` on the reservations that have one.
    """

    NEW = "new"
    """Not submitted yet."""
    PENDING = "pending"
    """Submitted, waiting for its resources."""
    RUNNING = "running"
    """Started: :attr:`Reservation.hosts` are usable."""
    ENDED = "ended"
    """Released, or ended by the scheduler after having started (walltime, cancel)."""
    FAILED = "failed"
    """Refused, or ended without ever starting."""


_FINAL = frozenset({ReservationState.ENDED, ReservationState.FAILED})


@runtime_checkable
class Reservation(Protocol):
    """What every reservation offers; a structural type (no inheritance needed).

    Attributes:
        state: a :class:`ReservationState`.
        submit_date: unix time of the submission, None before.
        start_date: unix time the hosts became usable (scheduler's start
            time), None before.
        end_date: unix time of the end: the release, or the scheduler's
            end; None before.
    """

    @property
    def state(self) -> ReservationState:
        """Current state (may ask the scheduler)."""
        ...

    @property
    def submit_date(self) -> float | None:
        """Unix time of the submission, None before."""
        ...

    @property
    def start_date(self) -> float | None:
        """Unix time the hosts became usable, None before."""
        ...

    @property
    def end_date(self) -> float | None:
        """Unix time of the end, None before."""
        ...

    @property
    def hosts(self) -> list[Host]:
        """The reserved hosts, in the scheduler's order; empty until running."""
        ...

    def start(self) -> Self:
        """Submit the request; returns at once (does not wait for the resources)."""
        ...

    def wait_start(self, timeout: float | str | None = None) -> bool:
        """Wait until running; True if it runs, False on timeout or failure."""
        ...

    def release(self) -> None:
        """Give the resources back; idempotent."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ReservationBase:
    """Shared behaviour of the reservations of procession: state, dates, context manager.

    Subclasses implement :meth:`start`, :meth:`wait_start`, :meth:`release`
    and :attr:`hosts`, and set the protected fields ``_state``,
    ``_submit_date``, ``_start_date``, ``_end_date``.

    As a context manager, ``with r:`` calls :meth:`start` if the reservation
    is new and always calls :meth:`release` on the way out: normal exit,
    exception or ``KeyboardInterrupt``. An error while releasing during an
    exception is logged and does not hide that exception.
    """

    def __init__(self) -> None:
        self._state = ReservationState.NEW
        self._submit_date: float | None = None
        self._start_date: float | None = None
        self._end_date: float | None = None

    @property
    def state(self) -> ReservationState:
        """Current state, as last known (see :class:`ReservationState`)."""
        return self._state

    @property
    def submit_date(self) -> float | None:
        """Unix time of the submission, None before."""
        return self._submit_date

    @property
    def start_date(self) -> float | None:
        """Unix time the hosts became usable, None before."""
        return self._start_date

    @property
    def end_date(self) -> float | None:
        """Unix time of the end (release or scheduler's end), None before."""
        return self._end_date

    @property
    def hosts(self) -> list[Host]:
        """The reserved hosts; empty until running."""
        raise NotImplementedError

    def start(self) -> Self:
        """Submit the request (see :class:`Reservation`)."""
        raise NotImplementedError

    def wait_start(self, timeout: float | str | None = None) -> bool:
        """Wait until running (see :class:`Reservation`)."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the resources back (see :class:`Reservation`)."""
        raise NotImplementedError

    def _check_started(self) -> None:
        if self._state is ReservationState.NEW:
            raise RuntimeError(f"{self!r} was not started: call start() or use it in a with block")

    def __enter__(self) -> Self:
        if self._state is ReservationState.NEW:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.release()
            return
        try:
            self.release()
        except Exception as release_exc:
            # The exception in flight says what went wrong first; keep it.
            _logger.error("%r: release failed: %s", self, release_exc)
            exc.add_note(f"and releasing {self!r} failed: {release_exc}")


class StaticHosts(ReservationBase):
    """A fixed list of hosts as a reservation: machines you already have.

    Starts at once, never waits and releases nothing, so that code written
    for :class:`Reservation` runs on a rack of your own or a pile of VMs::

        with StaticHosts("node-[1-4]") as r:
            assert r.wait_start()
            Remote("uptime", r.hosts).run()

    Args:
        hosts: a node set (``"node-[1-4]"``, ``"a,b"``), a :class:`Host`, or
            a list of those.

    Raises:
        ValueError: a malformed node set, or no host at all.
    """

    def __init__(self, hosts: Iterable[Host | str] | str | Host) -> None:
        super().__init__()
        self._hosts = expand_hosts(hosts)
        if not self._hosts:
            raise ValueError("StaticHosts needs at least one host")

    @property
    def hosts(self) -> list[Host]:
        """The hosts given (known before :meth:`start`, unlike a scheduler's)."""
        return list(self._hosts)

    def start(self) -> Self:
        """Mark the reservation running (a no-op when already started)."""
        if self._state is ReservationState.NEW:
            self._submit_date = self._start_date = time.time()
            self._state = ReservationState.RUNNING
        return self

    def wait_start(self, timeout: float | str | None = None) -> bool:
        """True while running, False once released; never waits.

        Raises:
            RuntimeError: not started.
        """
        self._check_started()
        return self._state is ReservationState.RUNNING

    def release(self) -> None:
        """Mark the reservation ended; idempotent, touches no host."""
        if self._state not in _FINAL:
            self._end_date = time.time()
            self._state = ReservationState.ENDED

    def __repr__(self) -> str:
        return f"<StaticHosts {self._state} hosts={len(self._hosts)}>"
