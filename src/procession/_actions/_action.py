"""Action: a set of processes treated as one object, Execo's semantics.

An action ends when all its processes have ended; ``ok`` when all are ok.
Completion is per action (Execo woke every waiter of every action on each
process end through one global condition).
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Generator, Iterable, Sequence
from typing import Any, Final, Self

from .._conductor import Completion, get_conductor
from .._errors import ActionsFailed
from .._log import get_logger
from .._process import STDOUT, ProcessBase, ProcessLifecycleHandler
from .._process._expect import Regexes
from .._remote import Host, HostLike
from .._time import Duration, Timer, get_seconds
from ._fanout import start_processes

__all__ = [
    "Action",
    "ActionLifecycleHandler",
    "filter_bad_hosts",
    "wait_all_actions",
    "wait_any_actions",
]

log: Final = get_logger("action")


class ActionLifecycleHandler:
    """Told of an action's start, end and reset. Subclass and override.

    Methods run on the conductor thread (end) or the starting thread
    (start, reset) and must not block.
    """

    def start(self, action: Action) -> None:
        """The action has started."""

    def end(self, action: Action) -> None:
        """All processes of the action have ended."""

    def reset(self, action: Action) -> None:
        """The action was reset."""


class _EndCounter(ProcessLifecycleHandler):
    """Counts process ends for one action (conductor thread)."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def end(self, process: ProcessBase) -> None:
        self.action._process_ended()


class Action:
    """Base of every action: start, wait, run, kill, reset, expect, write.

    Args:
        lifecycle_handlers: :class:`ActionLifecycleHandler` instances.
        name: a name for logs and reports (default: the class and command).
        default_expect_timeout: seconds for :meth:`expect` without timeout.
        fanout: at most this many processes in flight (started, not ended);
            the others wait in order and start as running ones end. Default:
            as many as the file descriptor limit allows, so that a big
            action never fails with EMFILE; a fanout above that limit is a
            :class:`ConfigurationError` at ``start()``.
        max_startups: at most this many processes per host still
            *connecting* at once (sshd's ``MaxStartups``, whose default is
            10): for many sessions to one host, e.g. a frontend. Default: no
            per-host limit.

    Taktuk and ChainPut actions have their own fan-out (taktuk's window,
    the chain) and ignore these two options.

    Differences from Execo: ``wait``, ``run`` and ``expect`` have asyncio
    twins (``wait_async``, ``run_async``, ``expect_async``; ``await a``
    waits for the end); ``check()`` raises :class:`ActionsFailed` on
    demand.
    """

    def __init__(
        self,
        lifecycle_handlers: Iterable[ActionLifecycleHandler] | None = None,
        name: str | None = None,
        default_expect_timeout: Duration | None = None,
        fanout: int | None = None,
        max_startups: int | None = None,
    ) -> None:
        self.processes: list[ProcessBase] = []
        self.fanout = fanout
        self.max_startups = max_startups
        self.name = name if name is not None else f"{type(self).__name__} 0x{id(self):08x}"
        self.default_expect_timeout = get_seconds(default_expect_timeout)
        self.lifecycle_handlers: list[ActionLifecycleHandler] = list(lifecycle_handlers or [])
        self._reset_state()

    def _reset_state(self) -> None:
        self.started = False
        self.ended = False
        self._remaining = 0
        self._completion: Completion[None] = Completion()

    def _adopt(self, processes: Sequence[ProcessBase]) -> None:
        """Make ``processes`` this action's, counted for its end."""
        counter = _EndCounter(self)
        for p in processes:
            p.lifecycle_handlers.append(counter)
        self.processes = list(processes)

    # ------------------------------------------------------------- state
    @property
    def ok(self) -> bool:
        """Every process is ok (see ``Process.ok``)."""
        return all(p.ok for p in self.processes)

    @property
    def finished_ok(self) -> bool:
        """Started, ended and ok."""
        return self.started and self.ended and self.ok

    def stats(self) -> dict[str, Any]:
        """Execo's statistics dict: counts summed over the processes."""
        stats = _empty_stats()
        stats["name"] = self.name
        for p in self.processes:
            ps = p.stats()
            if ps["start_date"] is not None and (
                stats["start_date"] is None or ps["start_date"] < stats["start_date"]
            ):
                stats["start_date"] = ps["start_date"]
            if ps["end_date"] is not None and (
                stats["end_date"] is None or ps["end_date"] > stats["end_date"]
            ):
                stats["end_date"] = ps["end_date"]
            for key, value in ps.items():
                if key.startswith("num_"):
                    stats[key] += value
        if stats["num_processes"] > stats["num_ended"]:
            stats["end_date"] = None
        return stats

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def __str__(self) -> str:
        s = self.stats()
        return (
            f"<{type(self).__name__}(name={self.name!r}, started={self.started}, "
            f"ended={self.ended}, ok={self.ok}, processes={s['num_processes']}, "
            f"ended_processes={s['num_ended']}, ok_processes={s['num_ok']})>"
        )

    # --------------------------------------------------------- lifecycle
    def _call_handlers(self, event: str) -> None:
        for handler in list(self.lifecycle_handlers):
            try:
                getattr(handler, event)(self)
            except Exception:
                log.exception(
                    "action lifecycle handler %r failed in %s() of %s", handler, event, self.name
                )

    def _process_ended(self) -> None:
        self._remaining -= 1
        if self._remaining == 0:
            self._set_ended()

    def _set_ended(self) -> None:
        if self.ended:
            return
        self.ended = True
        log.debug("end: %s", self)
        self._call_handlers("end")
        self._completion.resolve(None)

    def _start_processes(self) -> None:
        start_processes(self.processes, self.fanout, self.max_startups, self.name)

    def start(self) -> Self:
        """Start every process; returns self at once.

        Raises:
            ValueError: the action was already started (reset it first).
        """
        if self.started:
            raise ValueError(f"{self.name} was already started; reset() it to run it again")

        def begin() -> None:
            self.started = True
            self._remaining = len(self.processes)
            self._call_handlers("start")
            if not self.processes:
                self._set_ended()
                return
            self._start_processes()

        # On the conductor thread: no process can end (and be counted) before
        # the counter is set, however fast it is.
        get_conductor().call(begin)
        return self

    async def start_async(self) -> Self:
        """:meth:`start`, from an asyncio task."""
        return self.start()

    def wait(self, timeout: Duration | None = None) -> Self:
        """Wait until every process has ended, at most ``timeout`` seconds."""
        if not self.started:
            raise ValueError(f"wait() on an action that was not started: {self.name}")
        self._completion.wait(get_seconds(timeout), f"{type(self).__name__}.wait()")
        return self

    async def wait_async(self, timeout: Duration | None = None) -> Self:
        """:meth:`wait`, awaited from any asyncio loop without blocking it."""
        if not self.started:
            raise ValueError(f"wait_async() on an action that was not started: {self.name}")
        await self._completion.wait_async(get_seconds(timeout))
        return self

    def __await__(self) -> Generator[Any, None, Action]:
        """``await action`` waits for its end."""
        return self.wait_async().__await__()

    def run(self, timeout: Duration | None = None) -> Self:
        """Start, then wait (at most ``timeout`` seconds)."""
        return self.start().wait(timeout)

    async def run_async(self, timeout: Duration | None = None) -> Self:
        """:meth:`run`, awaited without blocking the loop."""
        self.start()
        return await self.wait_async(timeout)

    def kill(self, sig: int = signal.SIGTERM) -> Action:
        """Send ``sig`` to every running process (SIGKILL follows as for a
        process); returns at once."""
        for p in self.processes:
            if p.running:
                p.kill(sig)
        return self

    def reset(self) -> Action:
        """Kill and wait if running, then make the action startable again."""
        if self.started and not self.ended:
            self.kill()
            self.wait()
        for p in self.processes:
            p.reset()  # type: ignore[attr-defined]
        self._call_handlers("reset")
        self._reset_state()
        return self

    def check(self) -> Action:
        """Raise :class:`ActionsFailed` (carrying the failed processes) when
        not ok; returns self otherwise. For code that wants exceptions."""
        if not self.ok:
            raise ActionsFailed([self])
        return self

    def write(self, data: str | bytes) -> Action:
        """Write to the stdin of every process (``print(..., file=action)``)."""
        for p in self.processes:
            p.write(data)  # type: ignore[attr-defined]
        return self

    def flush(self) -> None:
        """Nothing to do; for ``print(file=action)``."""

    def close_stdin(self) -> Action:
        """Close the stdin of every process."""
        for p in self.processes:
            p.close_stdin()  # type: ignore[attr-defined]
        return self

    def __enter__(self) -> Action:
        return self

    def __exit__(self, *exc: object) -> None:
        """Kill the running processes and wait for the end."""
        self.kill()
        if self.started:
            self.wait()

    # ------------------------------------------------------------ expect
    def _expect_timeout(self, timeout: Any) -> float | None:
        return get_seconds(self.default_expect_timeout if timeout is False else timeout)

    def expect(
        self,
        regexes: Regexes,
        timeout: Duration | bool | None = False,
        stream: int = STDOUT,
        backtrack: bool = True,
    ) -> list[tuple[ProcessBase, int | None, re.Match[str] | None]]:
        """Expect ``regexes`` on every process, within one overall timeout.

        Returns:
            ``[(process, regex_index, match)]`` in process order; index and
            match are None for processes that did not match in time.
        """
        secs = self._expect_timeout(timeout)
        countdown = Timer(secs)
        out: list[tuple[ProcessBase, int | None, re.Match[str] | None]] = []
        for p in self.processes:
            left = countdown.remaining()
            index, match = p.expect(
                regexes,
                timeout=None if left is None else max(0.0, left),
                stream=stream,
                backtrack=backtrack,
            )
            out.append((p, index, match))
        return out

    async def expect_async(
        self,
        regexes: Regexes,
        timeout: Duration | bool | None = False,
        stream: int = STDOUT,
        backtrack: bool = True,
    ) -> list[tuple[ProcessBase, int | None, re.Match[str] | None]]:
        """:meth:`expect`, awaited without blocking the loop."""
        secs = self._expect_timeout(timeout)
        countdown = Timer(secs)
        out: list[tuple[ProcessBase, int | None, re.Match[str] | None]] = []
        for p in self.processes:
            left = countdown.remaining()
            index, match = await p.expect_async(
                regexes,
                timeout=None if left is None else max(0.0, left),
                stream=stream,
                backtrack=backtrack,
            )
            out.append((p, index, match))
        return out


def _empty_stats() -> dict[str, Any]:
    return {
        "name": None,
        "start_date": None,
        "end_date": None,
        "num_processes": 0,
        "num_started": 0,
        "num_ended": 0,
        "num_errors": 0,
        "num_timeouts": 0,
        "num_forced_kills": 0,
        "num_non_zero_exit_codes": 0,
        "num_expect_fail": 0,
        "num_write_error": 0,
        "num_ok": 0,
        "num_finished_ok": 0,
        "sub_stats": [],
    }


def _wait_actions(actions: Sequence[Action], timeout: float | None, need: int) -> list[Action]:
    """Wait until ``need`` actions have ended (one completion, no polling)."""
    done: Completion[None] = Completion()
    lock = threading.Lock()
    count = [0]

    def one_ended(_: None) -> None:
        # On the conductor thread, or here when an action ended meanwhile.
        with lock:
            count[0] += 1
            enough = count[0] >= need
        if enough:
            done.resolve(None)

    for a in actions:
        if not a.started:
            raise ValueError(f"{a.name} was not started")
        a._completion.add_done_callback(one_ended)
    done.wait(timeout, "wait_any_actions()/wait_all_actions()")
    return [a for a in actions if a.ended]


def wait_any_actions(actions: Iterable[Action], timeout: Duration | None = None) -> list[Action]:
    """Wait until at least one of ``actions`` has ended.

    Returns:
        The actions that have ended (empty after a timeout).
    """
    acts = list(actions)
    if not acts or any(a.ended for a in acts):
        return [a for a in acts if a.ended]
    return _wait_actions(acts, get_seconds(timeout), 1)


def wait_all_actions(actions: Iterable[Action], timeout: Duration | None = None) -> list[Action]:
    """Wait until all ``actions`` have ended.

    Returns:
        The actions that have ended (all of them unless the timeout expired).
    """
    acts = list(actions)
    pending = [a for a in acts if not a.ended]
    if pending:
        _wait_actions(pending, get_seconds(timeout), len(pending))
    return [a for a in acts if a.ended]


def filter_bad_hosts(action: Action, hosts: Iterable[HostLike]) -> list[HostLike]:
    """``hosts`` without those whose process in ``action`` is not ok.

    The hosts are returned as given (Host or address), in order.
    """
    bad = {Host(p.host) for p in action.processes if p.host is not None and not p.ok}
    return [h for h in hosts if Host(h) not in bad]
