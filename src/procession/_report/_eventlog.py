"""The event log: one JSON line per process event, for ``tail -f`` and later study.

:class:`EventLog` is an instrument (see ``procession._process._instruments``):
it receives every process's lifecycle events, ``created`` on the thread that
made the process and the others on the conductor thread, and appends one
line per event under a lock. Lines are buffered and flushed at each
``ended`` event (and at least every :data:`FLUSH_INTERVAL` seconds when
events keep coming), so ``tail -f`` shows each end as it happens without a
system call per event.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from .._config import configuration
from .._errors import ConfigurationError
from .._log import get_logger
from .._process import ProcessBase, add_instrument, remove_instrument
from ._records import command_text, host_address, outcome, process_id

__all__ = [
    "FLUSH_INTERVAL",
    "EventLog",
    "enable_event_log_from_configuration",
    "event_record",
    "read_event_log",
]

log: Final = get_logger("report")

FLUSH_INTERVAL: Final = 1.0
"""Seconds after which a buffered line is flushed by the next event."""


def event_record(event: str, process: ProcessBase, when: float) -> dict[str, Any]:
    """The JSON object of one event (the line :class:`EventLog` writes).

    Every line has ``event``, ``time`` (unix time), ``id`` (see
    ``process_id``: stable for the process, never reused), ``name``,
    ``kind`` (class name), ``host`` (None for local processes) and
    ``command``. ``ended`` lines add ``exit_code``, ``exit_signal``,
    ``error``, ``error_reason``, ``timeouted``, ``killed``, ``forced_kill``,
    ``ok``, ``outcome``, ``connected`` (None for local processes),
    ``start_date`` and ``end_date``.
    """
    record: dict[str, Any] = {
        "event": event,
        "time": when,
        "id": process_id(process),
        "name": process.name,
        "kind": type(process).__name__,
        "host": host_address(process),
        "command": command_text(process),
    }
    if event == "ended":
        record.update(
            exit_code=process.exit_code,
            exit_signal=process.exit_signal,
            error=process.error,
            error_reason=process.error_reason,
            timeouted=process.timeouted,
            killed=process.killed,
            forced_kill=process.forced_kill,
            ok=process.ok,
            outcome=outcome(process),
            connected=getattr(process, "connected", None),
            start_date=process.start_date,
            end_date=process.end_date,
        )
    return record


class EventLog:
    """Write every process event to a JSON-lines file while started.

    >>> with EventLog("run.jsonl"):                      # doctest: +SKIP
    ...     Process("true").run()
    >>> [e["event"] for e in read_event_log("run.jsonl")]  # doctest: +SKIP
    ['created', 'started', 'ended']

    Events of every process go to the log, whoever made them, from
    :meth:`start` to :meth:`stop`; a process made before ``start()`` has no
    ``created`` line. The instrument methods run on the conductor thread
    (``created`` on the creating thread), take a lock only to append, and
    never wait for anything else.

    Args:
        path: the file.
        append: add to an existing file instead of replacing it (process
            ids then restart from where this interpreter is, so two runs in
            one file may share ids: tell them apart by ``time``).
    """

    def __init__(self, path: str | os.PathLike[str], append: bool = False) -> None:
        self.path = Path(path)
        """The log file."""
        self.append = append
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._last_flush = 0.0

    @property
    def active(self) -> bool:
        """Started and not stopped."""
        return self._file is not None

    def start(self) -> EventLog:
        """Open the file and start receiving events; returns self.

        Raises:
            OSError: the file cannot be opened.
            RuntimeError: already started.
        """
        with self._lock:
            if self._file is not None:
                raise RuntimeError(f"{self!r} is already started")
            self._file = open(  # noqa: SIM115  (closed by stop())
                self.path, "a" if self.append else "w", encoding="utf-8", errors="backslashreplace"
            )
            self._last_flush = time.monotonic()
        add_instrument(self)
        return self

    def stop(self) -> None:
        """Stop receiving events, flush and close the file (idempotent)."""
        remove_instrument(self)
        with self._lock:
            file, self._file = self._file, None
        if file is not None:
            file.close()

    close = stop
    """Same as :meth:`stop`."""

    def flush(self) -> None:
        """Write buffered lines to the file now."""
        with self._lock:
            if self._file is not None:
                self._file.flush()
                self._last_flush = time.monotonic()

    def process_event(self, event: str, process: ProcessBase, when: float) -> None:
        """Instrument entry point: append ``event`` of ``process`` (any thread)."""
        line = json.dumps(event_record(event, process, when), ensure_ascii=False) + "\n"
        with self._lock:
            file = self._file
            if file is None:  # an event already on its way when stop() ran
                return
            file.write(line)
            now = time.monotonic()
            if event == "ended" or now - self._last_flush >= FLUSH_INTERVAL:
                file.flush()
                self._last_flush = now

    def __enter__(self) -> EventLog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "active" if self.active else "stopped"
        return f"<EventLog {str(self.path)!r} {state}>"


def _lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str, bool]]:
    with open(path, encoding="utf-8", errors="replace") as f:
        previous: tuple[int, str] | None = None
        for number, line in enumerate(f, 1):
            if previous is not None:
                yield (*previous, False)
            previous = (number, line)
        if previous is not None:
            yield (*previous, True)


def read_event_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of an event-log file, in order.

    A last line cut short (the log is still being written, or its writer was
    killed) is ignored; blank lines are skipped.

    Raises:
        ValueError: a line other than the last is not a JSON object; the
            message names the file and line.
        OSError: the file cannot be read.
    """
    events = []
    for number, line, last in _lines(path):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            if last and not line.endswith("\n"):
                break  # a torn last line
            raise ValueError(f"{path}:{number}: not a JSON event line: {exc}") from exc
        if not isinstance(event, dict):
            raise ValueError(f"{path}:{number}: not a JSON object: {line.strip()[:80]!r}")
        events.append(event)
    return events


# ----------------------------------------------- configuration['event_log']
_configured_lock: Final = threading.Lock()
_configured: EventLog | None = None
_atexit_registered = False


def _stop_configured() -> None:
    global _configured
    with _configured_lock:
        current, _configured = _configured, None
        if current is not None:
            current.stop()


def enable_event_log_from_configuration() -> EventLog | None:
    """Start, switch or stop the event log named by ``configuration['event_log']``.

    With a path there, an :class:`EventLog` on that file is started (the
    file is replaced) and kept until the key changes and this is called
    again, or until the interpreter exits; with None (the default) a log
    started here before is stopped. Calling it again with the same path
    changes nothing. Thread-safe.

    Returns:
        The event log now active from the configuration, or None.

    Raises:
        ConfigurationError: the file cannot be opened; the message names
            the key and the file.
    """
    global _configured, _atexit_registered
    wanted = configuration.get("event_log") or None
    with _configured_lock:
        current = _configured
        if current is not None and wanted is not None and current.path == Path(wanted):
            return current
        _configured = None
        if current is not None:
            current.stop()
        if wanted is None:
            return None
        new = EventLog(wanted)
        try:
            new.start()
        except OSError as exc:
            raise ConfigurationError(
                f"configuration['event_log']: cannot open {str(wanted)!r}: {exc}"
            ) from exc
        _configured = new
        if not _atexit_registered:
            atexit.register(_stop_configured)
            _atexit_registered = True
        return new
