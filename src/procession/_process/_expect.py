"""Expect: wait for a regex in a process's output, as Don Libes' expect.

:class:`Matcher` is the pure core (strings in, matches out); it is wired to
processes by :class:`ExpectOutputHandler`, fed on the conductor thread.
Waiting is completion-based: a waiter is resolved on the conductor thread
the moment its regex matches, or when every stream it watches ends.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._conductor import Completion
from ._handlers import ProcessOutputHandler

if TYPE_CHECKING:
    from ._process import ProcessBase

__all__ = ["ExpectOutputHandler", "Matcher", "compile_regexes"]

Regexes = str | re.Pattern[str] | Sequence[str | re.Pattern[str]]
Key = tuple[Any, int]
Matches = dict[Key, tuple[int, re.Match[str]]]


def compile_regexes(regexes: Regexes) -> list[re.Pattern[str]]:
    """One regex or a list; strings are compiled with ``re.MULTILINE``.

    Raises:
        ValueError: an invalid regex, named in the message.
    """
    items: Iterable[str | re.Pattern[str]] = (
        [regexes] if isinstance(regexes, str | re.Pattern) else regexes
    )
    compiled = []
    for r in items:
        if isinstance(r, re.Pattern):
            compiled.append(r)
            continue
        try:
            compiled.append(re.compile(r, re.MULTILINE))
        except re.error as exc:
            raise ValueError(f"invalid expect regex {r!r}: {exc}") from exc
    if not compiled:
        raise ValueError("expect needs at least one regex")
    return compiled


class Matcher:
    """The unconsumed text of one stream, searched for regexes (pure).

    A successful search consumes the text up to the end of the match, so
    that successive searches continue after the previous match.

    >>> m = Matcher()
    >>> m.feed("login: ")
    >>> m.search(compile_regexes([r"^Password:", r"^login:\\s*$"]))[0]
    1
    """

    __slots__ = ("closed", "text")

    def __init__(self, text: str = "") -> None:
        self.text = text
        self.closed = False

    def feed(self, text: str) -> None:
        """Append newly arrived text."""
        if text:
            self.text += text

    def search(self, regexes: Sequence[re.Pattern[str]]) -> tuple[int, re.Match[str]] | None:
        """The first regex (in list order) that matches, consuming its text."""
        for index, regex in enumerate(regexes):
            match = regex.search(self.text)
            if match is not None:
                self.text = self.text[match.end() :]
                return index, match
        return None


class _Waiter:
    __slots__ = ("completion", "keys", "regexes")

    def __init__(self, regexes: list[re.Pattern[str]], keys: frozenset[Key] | None) -> None:
        self.regexes = regexes
        self.keys = keys
        self.completion: Completion[Matches] = Completion()


class ExpectOutputHandler(ProcessOutputHandler):
    """An output handler on which to expect regexes, over many processes.

    Add one instance to the ``stdout_handlers`` (or ``stderr_handlers``) of
    several processes; from then on it records their output, and
    :meth:`expect` waits for a regex on any of them. Each (process, stream)
    has its own search position: a match consumes the text up to its end.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._matchers: dict[Key, Matcher] = {}
        self._waiters: list[_Waiter] = []

    # Called on the conductor thread with each chunk.
    def read(self, process: ProcessBase, stream: int, string: str, eof: bool, error: bool) -> None:
        """Record output and resolve the waiters it satisfies."""
        key = (process, int(stream))
        with self._lock:
            matcher = self._matchers.get(key)
            if matcher is None:
                matcher = self._matchers[key] = Matcher()
            matcher.feed(string)
            if eof or error:
                matcher.closed = True
            self._serve(key)

    def _serve(self, key: Key) -> None:
        # Lock held.
        matcher = self._matchers[key]
        for waiter in list(self._waiters):
            if waiter.keys is not None and key not in waiter.keys:
                continue
            found = matcher.search(waiter.regexes)
            if found is not None:
                self._waiters.remove(waiter)
                waiter.completion.resolve({key: found})
            elif self._all_closed(waiter):
                self._waiters.remove(waiter)
                waiter.completion.resolve({})

    def _all_closed(self, waiter: _Waiter) -> bool:
        # Lock held. True when every watched stream has ended.
        keys = waiter.keys if waiter.keys is not None else list(self._matchers)
        return bool(keys) and all(k in self._matchers and self._matchers[k].closed for k in keys)

    def attach(self, key: Key, initial: str, closed: bool) -> None:
        """Start watching ``key`` with ``initial`` text (backtrack) if new."""
        with self._lock:
            if key not in self._matchers:
                matcher = self._matchers[key] = Matcher(initial)
                matcher.closed = closed

    def _register(self, regexes: Regexes, keys: frozenset[Key] | None) -> _Waiter:
        waiter = _Waiter(compile_regexes(regexes), keys)
        with self._lock:
            found: Matches = {}
            for key, matcher in self._matchers.items():
                if keys is not None and key not in keys:
                    continue
                hit = matcher.search(waiter.regexes)
                if hit is not None:
                    found[key] = hit
            if found:
                waiter.completion.resolve(found)
            elif self._all_closed(waiter):
                waiter.completion.resolve({})
            else:
                self._waiters.append(waiter)
        return waiter

    def _give_up(self, waiter: _Waiter) -> Matches:
        with self._lock:
            if not waiter.completion.done():
                self._waiters.remove(waiter)
                waiter.completion.resolve({})
        return waiter.completion.result()

    def expect(
        self,
        regexes: Regexes,
        timeout: float | None = None,
        keys: Iterable[Key] | None = None,
    ) -> Matches:
        """Wait for a regex on the watched streams.

        Args:
            regexes: a regex or a list (strings compiled with MULTILINE).
            timeout: seconds; None waits without limit, 0 only looks.
            keys: restrict to these ``(process, stream)`` pairs.

        Returns:
            ``{(process, stream): (regex_index, match)}`` for the streams
            that matched (at least one), or ``{}`` on timeout or when every
            watched stream has ended without a match.
        """
        waiter = self._register(regexes, frozenset(keys) if keys is not None else None)
        if not waiter.completion.wait(timeout, "expect()"):
            return self._give_up(waiter)
        return waiter.completion.result()

    async def expect_async(
        self,
        regexes: Regexes,
        timeout: float | None = None,
        keys: Iterable[Key] | None = None,
    ) -> Matches:
        """:meth:`expect`, awaited from any asyncio loop."""
        waiter = self._register(regexes, frozenset(keys) if keys is not None else None)
        if not await waiter.completion.wait_async(timeout):
            return self._give_up(waiter)
        return waiter.completion.result()
