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
from ._process import Process, ProcessBase, compact_output, name_from_cmdline

__all__ = [
    "STDERR",
    "STDOUT",
    "ExpectOutputHandler",
    "LineSplitter",
    "Matcher",
    "Process",
    "ProcessBase",
    "ProcessLifecycleHandler",
    "ProcessOutputHandler",
    "Stream",
    "compact_output",
    "compile_regexes",
    "name_from_cmdline",
]
