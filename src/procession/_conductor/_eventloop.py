"""A minimal event loop for the conductor thread: selectors plus timers.

asyncio's loop costs several microseconds per ``add_reader``/``remove_reader``
(transport checks, Handle objects, key lookups); the conductor does six of
them per child. This loop keeps one dict of callbacks per direction on top
of ``selectors.DefaultSelector`` (epoll on Linux, kqueue on macOS), a heap
of timers, and a thread-safe ready queue woken through a pipe.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import os
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from .._log import get_logger

__all__ = ["EventLoop", "TimerHandle"]

log: Final = get_logger("conductor")
_READ: Final = selectors.EVENT_READ
_WRITE: Final = selectors.EVENT_WRITE
Callback = tuple[Callable[..., object], tuple[Any, ...]]


class TimerHandle:
    """A scheduled call; ``cancel()`` it to drop it."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the call (a no-op once it ran)."""
        self.cancelled = True


class EventLoop:
    """Readers, writers, timers and a thread-safe queue, run on one thread."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._readers: dict[int, Callback] = {}
        self._writers: dict[int, Callback] = {}
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._ready: collections.deque[Callback] = collections.deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._selector.register(self._wake_r, _READ)
        self._readers[self._wake_r] = (self._drain_wakeups, ())
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- fds
    def _update(self, fd: int) -> None:
        mask = (_READ if fd in self._readers else 0) | (_WRITE if fd in self._writers else 0)
        try:
            registered = self._selector.get_key(fd).events
        except KeyError:
            registered = 0
        if mask == registered:
            return
        if not registered:
            self._selector.register(fd, mask)
        elif not mask:
            self._selector.unregister(fd)
        else:
            self._selector.modify(fd, mask)

    def add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fd`` is readable."""
        self._readers[fd] = (callback, args)
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        """Stop watching ``fd`` for reading."""
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fd`` is writable."""
        self._writers[fd] = (callback, args)
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        """Stop watching ``fd`` for writing."""
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    # -------------------------------------------------------- scheduling
    def time(self) -> float:
        """The loop's clock (monotonic seconds)."""
        return time.monotonic()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` at the next turn (loop thread only)."""
        self._ready.append((callback, args))

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop thread, from any thread."""
        self._ready.append((callback, args))
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` in ``delay`` seconds (loop thread only)."""
        handle = TimerHandle(self.time() + max(delay, 0.0), callback, args)
        heapq.heappush(self._timers, (handle.when, next(self._seq), handle))
        return handle

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    # ------------------------------------------------------------- running
    def _run(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("internal error in the conductor, in %r", callback)

    def run_forever(self) -> None:
        """Run until :meth:`stop` (call on the loop thread)."""
        self._thread = threading.current_thread()
        select = self._selector.select
        readers, writers, ready, timers = self._readers, self._writers, self._ready, self._timers
        while not self._stopping:
            if ready:
                timeout: float | None = 0
            elif timers:
                timeout = max(0.0, timers[0][0] - self.time())
            else:
                timeout = None
            for key, events in select(timeout):
                fd = key.fd
                if events & _READ and fd in readers:
                    cb, args = readers[fd]
                    self._run(cb, args)
                if events & _WRITE and fd in writers:
                    cb, args = writers[fd]
                    self._run(cb, args)
            now = self.time()
            while timers and timers[0][0] <= now:
                handle = heapq.heappop(timers)[2]
                if not handle.cancelled:
                    self._run(handle.callback, handle.args)
            for _ in range(len(ready)):
                cb, args = ready.popleft()
                self._run(cb, args)
        self._stopping = False

    def stop(self) -> None:
        """Make :meth:`run_forever` return after the current turn."""
        self._stopping = True

    def close(self) -> None:
        """Release the selector and the wake-up pipe (loop not running)."""
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
