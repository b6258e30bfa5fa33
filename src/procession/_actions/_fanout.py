"""Fan-out guards: how many processes of an action run at once.

Each local child costs descriptors in this process (three pipes and a
pidfd), so starting 20,000 ssh processes at once fails with EMFILE
("Too many open files") however high the limit was raised; and sshd drops
new connections once ``MaxStartups`` unauthenticated ones are pending on
one server. An action therefore starts its processes through
:func:`start_processes`:

- at most ``fanout`` processes are in flight (started, not ended); the
  others wait in order and start as running ones end. Without a
  ``fanout``, the number the descriptor limit allows is used, so an
  action never fails with EMFILE; a ``fanout`` above that limit is a
  :class:`ConfigurationError` naming the limit;
- with ``max_startups`` (sshd's ``MaxStartups``, when known), at most that
  many processes per host (address and port) are *connecting* at once (an
  ``SshProcess`` not yet ``connected``); a process that is connected no
  longer counts, so long-running commands do not hold the others back.

Completion is untouched: the action still counts the ends of all its
processes, queued ones included.

Threads: the queue is pumped on the conductor thread, from the processes'
end handlers (and a short timer while waiting for connections).
"""

from __future__ import annotations

import os
import resource
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

from .._conductor import get_conductor
from .._errors import ConfigurationError
from .._log import get_logger
from .._process import ProcessBase, ProcessLifecycleHandler

__all__ = [
    "DEFAULT_MAX_STARTUPS",
    "FDS_PER_PROCESS",
    "FanoutLimiter",
    "fd_capacity",
    "start_processes",
]

log: Final = get_logger("action")

FDS_PER_PROCESS: Final = 4
"""Descriptors a running child costs here: stdin, stdout, stderr, pidfd."""

FD_RESERVE: Final = 64
"""Descriptors kept free for everything else (logs, sockets, spawning)."""

DEFAULT_MAX_STARTUPS: Final = 10
"""OpenSSH's default ``MaxStartups`` start value (``10:30:100``): past it,
sshd drops new unauthenticated connections at random."""

STARTUP_POLL: Final = 0.02
"""Seconds between checks of connections while waiting on ``max_startups``."""


def fd_capacity() -> int:
    """How many more children this process can run at once (descriptors).

    The conductor raises the soft RLIMIT_NOFILE to the hard limit when it
    starts; this reads the current soft limit and the descriptors in use.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = FD_RESERVE
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(1, (soft - in_use - FD_RESERVE) // FDS_PER_PROCESS)


def _check(fanout: int | None, max_startups: int | None, name: str) -> int:
    capacity = fd_capacity()
    if fanout is None:
        return capacity
    if not isinstance(fanout, int) or isinstance(fanout, bool) or fanout < 1:
        raise ConfigurationError(f"fanout must be a positive integer, not {fanout!r}")
    if fanout > capacity:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        raise ConfigurationError(
            f"{name}: fanout={fanout} needs about {fanout * FDS_PER_PROCESS} file "
            f"descriptors, but only {capacity} processes fit under the limit "
            f"(RLIMIT_NOFILE soft {soft}, hard {hard}): use fanout <= {capacity}, or "
            f"raise the hard limit (ulimit -Hn, limits.conf)"
        )
    if max_startups is not None and (not isinstance(max_startups, int) or max_startups < 1):
        raise ConfigurationError(f"max_startups must be a positive integer, not {max_startups!r}")
    return fanout


def start_processes(
    processes: Sequence[ProcessBase],
    fanout: int | None = None,
    max_startups: int | None = None,
    name: str = "action",
) -> FanoutLimiter | None:
    """Start ``processes``, at most ``fanout`` in flight (see the module doc).

    Runs on the conductor thread (from ``Action.start``). Starts them all at
    once when they fit and no per-host limit applies.

    Returns:
        The limiter pumping the queue, or None when everything started.

    Raises:
        ConfigurationError: ``fanout`` is not a positive integer, or more
            than the descriptor limit allows.
    """
    limit = _check(fanout, max_startups, name)
    if max_startups is None and len(processes) <= limit:
        for p in processes:
            p.start()
        return None
    if fanout is None and len(processes) > limit:
        log.info(
            "%s: %d processes, at most %d at once (file descriptor limit)",
            name,
            len(processes),
            limit,
        )
    limiter = FanoutLimiter(processes, limit, max_startups)
    limiter.pump()
    return limiter


def _host_key(p: ProcessBase) -> Any:
    host = getattr(p, "host", None)
    if host is None:
        return None
    return (getattr(host, "address", host), getattr(host, "port", None))


class FanoutLimiter(ProcessLifecycleHandler):
    """Starts queued processes as running ones end (conductor thread).

    Args:
        processes: the processes, started in this order.
        fanout: at most this many in flight.
        max_startups: at most this many connecting per host, or None.
    """

    def __init__(
        self, processes: Sequence[ProcessBase], fanout: int, max_startups: int | None = None
    ) -> None:
        self.queue: deque[ProcessBase] = deque(processes)
        self.fanout = fanout
        self.max_startups = max_startups
        self.in_flight = 0
        self.max_in_flight = 0
        self._connecting: dict[Any, set[ProcessBase]] = {}
        self._started: set[ProcessBase] = set()
        self._pumping = False
        self._timer: Any = None
        for p in processes:
            p.lifecycle_handlers.append(self)

    def end(self, process: ProcessBase) -> None:
        """A process ended: its slot goes to the next one."""
        process.lifecycle_handlers.remove(self)  # a copy is being iterated
        if process not in self._started:
            return
        self._started.discard(process)
        self.in_flight -= 1
        self._connecting.get(_host_key(process), set()).discard(process)
        self.pump()

    def _startup_full(self, p: ProcessBase) -> bool:
        if self.max_startups is None:
            return False
        pending = self._connecting.get(_host_key(p))
        if not pending:
            return False
        for q in list(pending):
            if q.ended or getattr(q, "connected", True):
                pending.discard(q)
        return len(pending) >= self.max_startups

    def pump(self) -> None:
        """Start queued processes while there is room."""
        if self._pumping:
            return  # a start that ended at once: the outer loop continues
        self._pumping = True
        try:
            blocked = False
            while self.queue and self.in_flight < self.fanout:
                p = self.queue[0]
                if self._startup_full(p):
                    blocked = True
                    break
                self.queue.popleft()
                self._started.add(p)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                if self.max_startups is not None and not getattr(p, "connected", True):
                    self._connecting.setdefault(_host_key(p), set()).add(p)
                p.start()
            if blocked and self._timer is None:
                self._timer = get_conductor().call_later(STARTUP_POLL, self._tick)
        finally:
            self._pumping = False

    def _tick(self) -> None:
        self._timer = None
        self.pump()
