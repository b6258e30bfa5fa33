"""A waitable result resolved once, on the conductor thread.

One object, two faces: ``wait(timeout)`` blocks a thread; ``await
wait_async(timeout)`` suspends a task of *any* asyncio loop (Jupyter's
included) without blocking it. Each waitable condition (a process ended, an
expect matched, a start completed) has its own Completion, so a resolution
wakes only its own waiters (Execo notified one global condition on every
loop turn).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from .._errors import ConductorBlockingCall

T = TypeVar("T")

_conductor_thread_ident: int | None = None


def on_conductor_thread() -> bool:
    """True when called from the conductor thread (handlers run there)."""
    return threading.get_ident() == _conductor_thread_ident


def set_conductor_thread(ident: int | None) -> None:
    global _conductor_thread_ident
    _conductor_thread_ident = ident


def forbid_blocking(call: str) -> None:
    """Raise :class:`ConductorBlockingCall` when on the conductor thread.

    Args:
        call: the name of the blocking call, for the message.
    """
    if on_conductor_thread():
        raise ConductorBlockingCall(
            f"{call} would block the conductor thread, which runs handlers and must "
            f"never wait: it is the thread that would wake the wait up. From a handler, "
            f"use the *_async twin from an asyncio task, or run the blocking code in "
            f"another thread."
        )


class Completion(Generic[T]):
    """A value that becomes available once.

    ``resolve`` is called once (normally on the conductor thread); waiters on
    any thread or asyncio loop then see the value.
    """

    __slots__ = ("_callbacks", "_event", "_lock", "_value")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._value: T | None = None
        self._callbacks: list[Callable[[T], None]] = []

    def done(self) -> bool:
        """Whether the value is available."""
        return self._event.is_set()

    def result(self) -> T:
        """The value (undefined before :meth:`done`)."""
        return self._value  # type: ignore[return-value]

    def resolve(self, value: T) -> bool:
        """Set the value and run the callbacks; False when already resolved."""
        with self._lock:
            if self._event.is_set():
                return False
            self._value = value
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(value)
        return True

    def add_done_callback(self, cb: Callable[[T], None]) -> None:
        """Call ``cb(value)`` when resolved (at once when already resolved)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(cb)
                return
        cb(self._value)  # type: ignore[arg-type]

    def wait(self, timeout: float | None = None, what: str = "wait()") -> bool:
        """Block until resolved or ``timeout`` seconds pass.

        Returns:
            True when resolved. Ctrl-C interrupts the wait (KeyboardInterrupt).

        Raises:
            ConductorBlockingCall: called from a handler while not resolved.
        """
        if self._event.is_set():
            return True
        forbid_blocking(what)
        if timeout is not None and timeout <= 0:
            return False
        return self._event.wait(timeout)

    async def wait_async(self, timeout: float | None = None) -> bool:
        """Await resolution from any running asyncio loop.

        Returns:
            True when resolved, False when ``timeout`` seconds passed first.
        """
        if self._event.is_set():
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def _wake(_: T) -> None:
            try:
                loop.call_soon_threadsafe(_set_if_pending, fut)
            except RuntimeError:  # that loop was closed while nobody awaited
                pass

        self.add_done_callback(_wake)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return self._event.is_set()
        return True


def _set_if_pending(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
