"""Layer 2, processes: ``Process`` and its state, handlers and expect.

Imports only the conductor (layer 1) and the leaves.
"""

from __future__ import annotations

from ._expect import ExpectOutputHandler, Matcher, compile_regexes
from ._handlers import (
    STDERR,
    STDOUT,
    LineSplitter,
    ProcessLifecycleHandler,
    ProcessOutputHandler,
    Stream,
)
from ._instruments import Instrument, add_instrument, emit, instruments, remove_instrument
from ._process import Process, ProcessBase, compact_output, name_from_cmdline
from ._serial import Serial

__all__ = [
    "STDERR",
    "STDOUT",
    "ExpectOutputHandler",
    "Instrument",
    "LineSplitter",
    "Matcher",
    "Process",
    "ProcessBase",
    "ProcessLifecycleHandler",
    "ProcessOutputHandler",
    "Serial",
    "Stream",
    "add_instrument",
    "compact_output",
    "compile_regexes",
    "emit",
    "instruments",
    "name_from_cmdline",
    "remove_instrument",
]
