"""Instruments: observers of every process's lifecycle (the event API).

The event log, the progress bar and the timeline are instruments. An
instrument is any object with ``process_event(event, process, when)``;
``when`` is a unix timestamp. Events:

- ``"created"``: a process object was made (on the creating thread);
- ``"started"``, ``"ended"``, ``"killed"``, ``"timeouted"``, ``"reset"``:
  on the conductor thread.

Instruments must be thread-safe and must not block. Exceptions they raise
are logged and ignored.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final, Protocol

from .._log import get_logger

if TYPE_CHECKING:
    from ._process import ProcessBase

__all__ = ["Instrument", "add_instrument", "emit", "instruments", "remove_instrument"]

log: Final = get_logger("process")
_lock = threading.Lock()
_instruments: tuple[Any, ...] = ()


class Instrument(Protocol):
    """What an instrument implements (see the module documentation)."""

    def process_event(self, event: str, process: ProcessBase, when: float) -> None:
        """``process`` went through ``event`` at unix time ``when``."""


def add_instrument(instrument: Instrument) -> None:
    """Start sending process events to ``instrument``."""
    global _instruments
    with _lock:
        if instrument not in _instruments:
            _instruments = (*_instruments, instrument)


def remove_instrument(instrument: Instrument) -> None:
    """Stop sending events to ``instrument`` (no error if absent)."""
    global _instruments
    with _lock:
        _instruments = tuple(i for i in _instruments if i is not instrument)


def instruments() -> tuple[Instrument, ...]:
    """The instruments currently registered."""
    return _instruments


def emit(event: str, process: ProcessBase) -> None:
    """Send ``event`` about ``process`` to every instrument."""
    current = _instruments  # a tuple, replaced atomically: no lock needed here
    if not current:
        return
    when = time.time()
    for instrument in current:
        try:
            instrument.process_event(event, process, when)
        except Exception:
            log.exception("instrument %r failed on %s event", instrument, event)
