"""Plain-data views of processes: ids, labels, outcomes and JSON records.

Shared by the report, the event log, the timeline and the progress display,
so that every one of them names a process and its outcome the same way.
Everything here only reads process attributes; nothing blocks.
"""

from __future__ import annotations

import itertools
import shlex
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Final

from .._process import ProcessBase

__all__ = [
    "OUTCOMES",
    "command_text",
    "flatten_processes",
    "host_address",
    "outcome",
    "outcome_of_record",
    "process_id",
    "process_label",
    "process_record",
    "tail",
]

OUTCOMES: Final = ("ok", "non-zero exit", "error", "timeout", "killed", "running")
"""Every value :func:`outcome` returns, in the order reports show them."""

_ids_lock: Final = threading.Lock()
_ids: Final[weakref.WeakKeyDictionary[ProcessBase, int]] = weakref.WeakKeyDictionary()
_counter: Final = itertools.count(1)


def process_id(process: ProcessBase) -> int:
    """A small integer naming ``process`` for the life of the interpreter.

    Given on first request, 1, 2, 3, ...; the same process always gets the
    same id, and ids are never reused (unlike ``id()``, which is once the
    object is collected). Thread-safe.
    """
    with _ids_lock:
        pid = _ids.get(process)
        if pid is None:
            pid = _ids[process] = next(_counter)
        return pid


def command_text(process: ProcessBase) -> str:
    """The command as one string (the remote command for a remote process)."""
    cmd = process.cmd
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def host_address(process: ProcessBase) -> str | None:
    """The address of the process's host, or None for a local process."""
    host = getattr(process, "host", None)
    return None if host is None else str(host)


def process_label(process: ProcessBase) -> str:
    """How reports name a process: its host address, else its name."""
    return host_address(process) or process.name


def outcome(process: ProcessBase) -> str:
    """One word for how ``process`` ended (one of :data:`OUTCOMES`).

    ``"running"`` until it has ended (or when it never started); then, first
    that applies: ``"error"`` (could not start or connect), ``"timeout"``,
    ``"killed"`` (by ``kill()`` or a signal), ``"ok"``, ``"non-zero exit"``.
    """
    if not process.ended:
        return "running"
    return outcome_of_record(
        error=process.error,
        timeouted=process.timeouted,
        killed=process.killed,
        exit_signal=process.exit_signal,
        ok=process.ok,
    )


def outcome_of_record(*, error: Any, timeouted: Any, killed: Any, exit_signal: Any, ok: Any) -> str:
    """:func:`outcome` computed from the fields of an ended record (pure)."""
    if error:
        return "error"
    if timeouted:
        return "timeout"
    if killed or exit_signal is not None:
        return "killed"
    return "ok" if ok else "non-zero exit"


def tail(text: str, chars: int) -> str:
    """The last ``chars`` characters of ``text``, cut at a line start when one
    is near, so a tail does not begin mid-line."""
    if chars <= 0:
        return ""
    if len(text) <= chars:
        return text
    cut = text[-chars:]
    if text[-chars - 1] == "\n":
        return cut
    newline = cut.find("\n", 0, chars // 4)
    return cut[newline + 1 :] if newline >= 0 else cut


def process_record(process: ProcessBase, tail_chars: int = 2048) -> dict[str, Any]:
    """Every piece of a process's state as JSON-ready values.

    The keys are stable and documented in ``docs/guide/reports.md``.
    ``connected`` is None for local processes. Dates are unix timestamps.
    """
    start, end = process.start_date, process.end_date
    return {
        "id": process_id(process),
        "name": process.name,
        "kind": type(process).__name__,
        "host": host_address(process),
        "command": command_text(process),
        "started": process.started,
        "ended": process.ended,
        "start_date": start,
        "end_date": end,
        "duration": end - start if start is not None and end is not None else None,
        "exit_code": process.exit_code,
        "exit_signal": process.exit_signal,
        "error": process.error,
        "error_reason": process.error_reason,
        "timeouted": process.timeouted,
        "killed": process.killed,
        "forced_kill": process.forced_kill,
        "expect_fail": process.expect_fail,
        "write_error": process.write_error,
        "ok": process.ok,
        "finished_ok": process.finished_ok,
        "outcome": outcome(process),
        "failure_reason": None if process.ok else process.failure_reason(),
        "connected": getattr(process, "connected", None),
        "stdout_tail": tail(process.stdout, tail_chars),
        "stderr_tail": tail(process.stderr, tail_chars),
    }


def _walk(obj: Any, seen: set[int]) -> Iterator[ProcessBase]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, ProcessBase):
        yield obj
        return
    # A Report, then an action (``processes``), then a workflow of actions.
    for attr in ("stats_objects", "processes", "actions"):
        children = getattr(obj, attr, None)
        if children is not None:
            for child in children:
                yield from _walk(child, seen)
            return


def flatten_processes(objects: Iterable[Any]) -> list[ProcessBase]:
    """The processes of processes, actions (``.processes``), workflows
    (``.actions``) and reports, in order, each once."""
    seen: set[int] = set()
    return [p for obj in objects for p in _walk(obj, seen)]
