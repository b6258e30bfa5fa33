"""A one-line progress display of a sweep, on a terminal only."""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import TracebackType
from typing import Any, Final, TextIO, cast

from procession import format_duration, logger

from ._sweeper import ParamSweeper, SweepCounts

__all__ = ["Progress", "format_progress"]

_CLEAR: Final = "\r\x1b[K"


def format_progress(counts: SweepCounts, rate: float | None, eta: float | None) -> str:
    """The progress line: counts, rate (combinations per second) and ETA (seconds).

    >>> format_progress(SweepCounts(200, 50, 4, 1, 145), 2.5, 60.0)
    'done 50/200 (25.0%) | 4 in progress | 145 remaining | 1 skipped | 2.50/s | ETA 1m0s'
    """
    pct = 100.0 * counts.done / counts.total if counts.total else 100.0
    parts = [
        f"done {counts.done}/{counts.total} ({pct:.1f}%)",
        f"{counts.inprogress} in progress",
        f"{counts.remaining} remaining",
    ]
    if counts.skipped:
        parts.append(f"{counts.skipped} skipped")
    parts.append("-/s" if rate is None else f"{rate:.2f}/s")
    parts.append("ETA ?" if eta is None else f"ETA {format_duration(eta)}")
    return " | ".join(parts)


class _ClearingStream:
    """Stands for the terminal in log handlers: erases the progress line before each write."""

    def __init__(self, progress: Progress, stream: TextIO) -> None:
        self._progress = progress
        self._stream = stream

    def write(self, text: str) -> int:
        with self._progress._lock:
            if self._progress._shown:
                self._stream.write(_CLEAR)
                self._progress._shown = False
            return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Progress:
    """Show done / in progress / remaining, rate and ETA of a sweeper on a terminal.

    Redraws one line every ``interval`` seconds from a background thread,
    only when ``stream`` is a terminal: in a batch job or with output
    redirected, it does nothing. While it runs, the ``procession`` logger's
    stream handlers writing to the same terminal erase the line before each
    record (their stream is wrapped, then restored by :meth:`stop`). Use it as a context
    manager around the loop that consumes the sweeper::

        with Progress(sweeper):
            while (comb := sweeper.get_next()) is not None:
                ...

    The rate counts the combinations done since :meth:`start` (by every
    process sharing the sweeper); the ETA divides what is left (todo and in
    progress) by it.

    Threads: one background thread between :meth:`start` and :meth:`stop`.

    Args:
        sweeper: the sweeper to watch (its state is refreshed from disk at
            each redraw).
        stream: the terminal (default ``sys.stderr``).
        interval: seconds between redraws.
    """

    def __init__(
        self, sweeper: ParamSweeper, stream: TextIO | None = None, interval: float = 1.0
    ) -> None:
        self._sweeper = sweeper
        self._stream = sys.stderr if stream is None else stream
        self._interval = interval
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._shown = False
        self._handlers: list[logging.StreamHandler[Any]] = []
        self._start_time = time.monotonic()
        self._start_done = 0

    @property
    def enabled(self) -> bool:
        """True when the stream is a terminal (the display is shown)."""
        isatty = getattr(self._stream, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:
            return False

    def render(self) -> str:
        """The progress line now (refreshes the sweeper from disk)."""
        self._sweeper.update()
        counts = self._sweeper.counts()
        elapsed = time.monotonic() - self._start_time
        finished = counts.done - self._start_done
        rate = finished / elapsed if elapsed > 0 and finished > 0 else None
        left = counts.remaining + counts.inprogress
        eta = left / rate if rate else None
        return format_progress(counts, rate, eta)

    def _draw(self) -> None:
        line = self.render()
        with self._lock:
            self._stream.write(_CLEAR + line)
            self._stream.flush()
            self._shown = True

    def _loop(self) -> None:
        while True:
            try:
                self._draw()
            except Exception:
                logger.exception("progress display failed; stopping it")
                return
            if self._stop.wait(self._interval):
                return

    def start(self) -> Progress:
        """Start redrawing (no-op when the stream is not a terminal)."""
        self._start_time = time.monotonic()
        self._start_done = self._sweeper.counts().done
        if not self.enabled or self._thread is not None:
            return self
        self._handlers = [
            h
            for h in logger.handlers
            if isinstance(h, logging.StreamHandler) and h.stream is self._stream
        ]
        proxy = cast(TextIO, _ClearingStream(self, self._stream))
        for handler in self._handlers:
            handler.setStream(proxy)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="procession-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop redrawing; leave the last line, followed by a newline, on the terminal."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        for handler in self._handlers:
            handler.setStream(self._stream)
        self._handlers = []
        line = self.render()
        with self._lock:
            self._stream.write(_CLEAR + line + "\n")
            self._stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
