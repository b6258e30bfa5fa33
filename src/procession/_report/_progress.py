"""A one-line progress bar on a terminal, for a set of processes.

Off unless asked for: ``with Progress(processes): ...``. It writes only when
its stream (stderr by default) is a terminal, and nothing at all otherwise,
so scripts whose stderr goes to a file or a pipe stay clean.

Threads: the instrument methods run on the conductor thread and only update
two counters under a lock; one small timer thread per active display, started
by :meth:`Progress.start` and joined by :meth:`Progress.stop`, redraws the
line at most ten times a second, and only when the text changed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, Any, Final

from .._process import ProcessBase, add_instrument, remove_instrument
from .._time import format_seconds
from ._records import flatten_processes

__all__ = ["Progress", "format_progress"]

_CLEAR_TO_EOL: Final = "\x1b[K"
_BAR_WIDTH: Final = 24


def format_progress(
    ended: int, total: int, failed: int, elapsed: float, label: str = "", width: int = 80
) -> str:
    """The text of the progress line (pure), at most ``width - 1`` characters.

    >>> format_progress(3, 8, 1, 12.3)
    '[#########---------------] 3/8 ended, 1 failed, 12s'
    """
    filled = _BAR_WIDTH * ended // total if total else _BAR_WIDTH
    bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
    prefix = f"{label} " if label else ""
    text = f"{prefix}[{bar}] {ended}/{total} ended, {failed} failed, {format_seconds(elapsed)}"
    return text[: max(width - 1, 1)]


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _columns(stream: IO[str]) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 80
    return columns or 80  # a fresh pseudo-terminal reports 0 columns


class Progress:
    """Show ``ended/total``, failures and elapsed time of some processes.

    >>> with Progress(processes):                  # doctest: +SKIP
    ...     for p in processes: p.start()
    ...     for p in processes: p.wait()
    [########################] 8/8 ended, 1 failed, 3s

    Args:
        processes_or_actions: the processes to follow: processes, actions
            (their ``processes``) or reports; read at :meth:`start`.
        file: where to draw (default ``sys.stderr`` at :meth:`start`);
            nothing is drawn, and no thread started, unless it is a
            terminal.
        interval: seconds between redraws (at least 0.1).
        label: text shown before the bar.
    """

    def __init__(
        self,
        processes_or_actions: Iterable[Any],
        file: IO[str] | None = None,
        interval: float = 0.1,
        label: str = "",
    ) -> None:
        self._objects = list(processes_or_actions)
        self.file = file
        self.interval = max(float(interval), 0.1)
        self.label = label
        self._lock = threading.Lock()
        self._processes: list[ProcessBase] = []
        self._tracked: frozenset[int] = frozenset()
        self._done: dict[int, bool] = {}
        self._failed = 0
        self._t0 = 0.0
        self._stream: IO[str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = ""

    # ------------------------------------------------------------------ counts
    @property
    def total(self) -> int:
        """How many processes are followed (known from :meth:`start`)."""
        return len(self._processes)

    @property
    def ended(self) -> int:
        """How many of them have ended."""
        return len(self._done)

    @property
    def failed(self) -> int:
        """How many of them ended not ok."""
        return self._failed

    @property
    def active(self) -> bool:
        """Drawing: started on a terminal and not stopped."""
        return self._thread is not None

    def _note_end(self, process: ProcessBase) -> None:
        key = id(process)
        with self._lock:
            if key not in self._done:
                ok = self._done[key] = process.ok
                self._failed += not ok

    def _note_reset(self, process: ProcessBase) -> None:
        with self._lock:
            ok = self._done.pop(id(process), None)
            if ok is False:
                self._failed -= 1

    def process_event(self, event: str, process: ProcessBase, when: float) -> None:
        """Instrument entry point (conductor thread): count ends and resets."""
        if id(process) not in self._tracked:
            return
        if event == "ended":
            self._note_end(process)
        elif event == "reset":
            self._note_reset(process)

    # ----------------------------------------------------------------- drawing
    def text(self) -> str:
        """The progress line as it would be drawn now."""
        width = _columns(self._stream) if self._stream is not None else 80
        elapsed = time.monotonic() - self._t0 if self._t0 else 0.0
        return format_progress(self.ended, self.total, self.failed, elapsed, self.label, width)

    def _draw(self, final: bool = False) -> None:
        stream = self._stream
        if stream is None:
            return
        text = self.text()
        if text == self._drawn and not final:
            return
        self._drawn = text
        try:
            stream.write("\r" + text + _CLEAR_TO_EOL + ("\n" if final else ""))
            stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing
            self._stream = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    # --------------------------------------------------------------- lifecycle
    def start(self) -> Progress:
        """Start following and drawing; returns self.

        When the stream is not a terminal this only records the start: no
        instrument, no thread, no output.

        Raises:
            RuntimeError: already started.
        """
        if self._t0:
            raise RuntimeError("this Progress was already started")
        stream = self.file if self.file is not None else sys.stderr
        self._processes = flatten_processes(self._objects)
        self._tracked = frozenset(id(p) for p in self._processes)
        self._t0 = time.monotonic()
        if not _isatty(stream):
            return self
        self._stream = stream
        add_instrument(self)
        # Processes that ended before the instrument was in place.
        for p in self._processes:
            if p.ended:
                self._note_end(p)
        self._draw()
        self._thread = threading.Thread(target=self._run, name="procession-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the display: join its thread, draw the last line and end it
        with a newline (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        remove_instrument(self)
        self._stop.set()
        thread.join()
        self._draw(final=True)
        self._stream = None

    def __enter__(self) -> Progress:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Progress {self.ended}/{self.total} ended, {self.failed} failed>"
