"""Exceptions raised by procession.

The tree::

    ProcessionError
    ├── ConfigurationError (also ValueError)     a bad configuration key or file
    ├── SubstitutionError (also ValueError)      a {{expr}} that does not evaluate
    ├── ProcessTimeout (also TimeoutError)       an opt-in timeout of a checked call
    ├── ConductorBlockingCall (also RuntimeError) a blocking call from a handler
    ├── ProcessesFailed                          processes ended not ok (``check``)
    └── ActionsFailed                            actions ended not ok (``check``)

A host that does not answer, a command that exits non-zero or a process that
times out is *state* on its process object, never an exception: these
exceptions are only raised by calls that ask for them (``check()``-style) or
for programming errors.

Layer 0: imports nothing from procession.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "ActionsFailed",
    "ConductorBlockingCall",
    "ConfigurationError",
    "ProcessTimeout",
    "ProcessesFailed",
    "ProcessionError",
    "SubstitutionError",
]


class ProcessionError(Exception):
    """Base class of every exception procession raises on its own."""


class ConfigurationError(ProcessionError, ValueError):
    """A configuration value or file is invalid; the message names the key."""


class SubstitutionError(ProcessionError, ValueError):
    """A ``{{expr}}`` substitution could not be evaluated."""


class ProcessTimeout(ProcessionError, TimeoutError):
    """Raised by opt-in checked waits when the timeout expires."""


class ConductorBlockingCall(ProcessionError, RuntimeError):
    """A blocking call was made on the conductor thread (from a handler).

    Handlers run on the conductor thread; a blocking call there would wait
    for the very thread that must wake it up. Use the ``*_async`` twin from
    an asyncio task, or hand the work to another thread.
    """


def _tail(text: str | None, lines: int = 5) -> str:
    if not text:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def describe_failure(process: Any) -> str:
    """One paragraph saying why ``process`` is not ok (duck-typed)."""
    host = getattr(process, "host", None)
    where = f" on {host}" if host is not None else ""
    head = f"{getattr(process, 'cmd', process)!r}{where}: "
    reason = process.failure_reason() if hasattr(process, "failure_reason") else "failed"
    parts = [head + reason]
    for name in ("stdout", "stderr"):
        tail = _tail(getattr(process, name, None))
        if tail:
            parts.append(f"  {name} (tail):\n" + "\n".join("    " + x for x in tail.splitlines()))
    return "\n".join(parts)


class ProcessesFailed(ProcessionError):
    """Some processes ended not ok.

    Attributes:
        processes: the failed processes, each carrying its full state.
    """

    def __init__(self, processes: Iterable[Any]) -> None:
        self.processes: Sequence[Any] = list(processes)
        super().__init__(self.processes)

    def __str__(self) -> str:
        n = len(self.processes)
        shown = "\n".join(describe_failure(p) for p in self.processes[:10])
        more = f"\n... and {n - 10} more" if n > 10 else ""
        return f"{n} process(es) failed:\n{shown}{more}"


class ActionsFailed(ProcessionError):
    """Some actions ended not ok.

    Attributes:
        actions: the failed actions.
        processes: the failed processes of those actions.
    """

    def __init__(self, actions: Iterable[Any]) -> None:
        self.actions: Sequence[Any] = list(actions)
        self.processes: Sequence[Any] = [
            p for a in self.actions for p in getattr(a, "processes", []) if not p.ok
        ]
        super().__init__(self.actions)

    def __str__(self) -> str:
        names = ", ".join(str(getattr(a, "name", a)) for a in self.actions)
        body = str(ProcessesFailed(self.processes)) if self.processes else ""
        return f"{len(self.actions)} action(s) failed: {names}\n{body}".rstrip()
