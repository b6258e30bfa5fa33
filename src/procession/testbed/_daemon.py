"""Start, watch and stop daemons (sshd, the delay relay) and their process trees.

Daemons are started with :func:`os.posix_spawn` in a session of their own, with
stdin on ``/dev/null`` and stdout and stderr appended to a log file, never to a
pipe of ours: a daemon that outlives the command that started it (``python -m
procession.testbed up``) must not hold that command's output open.

Linux only: process trees are read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

# Signals Python ignores at startup (SIGPIPE, SIGXFSZ) and that a daemon must
# see at their default disposition; subprocess.Popen resets the same ones
# (restore_signals=True).
_RESET_SIGNALS: Final = (signal.SIGPIPE, signal.SIGXFSZ)
_POLL_INTERVAL: Final = 0.01


def spawn(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` as a daemon and return its pid.

    The child runs in a new session (so a Ctrl-C in the terminal does not reach
    it), with stdin from ``/dev/null`` and stdout and stderr appended to
    ``log_path``. The caller reaps it with :func:`wait_exited` or
    :func:`stop_tree`.

    Raises:
        OSError: the program cannot be executed.
    """
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(
        argv[0],
        list(argv),
        dict(os.environ if env is None else env),
        file_actions=file_actions,
        setsid=True,
        setsigdef=_RESET_SIGNALS,
        setsigmask=(),
    )


def _stat_fields(pid: int) -> tuple[str, int] | None:
    """``(state, ppid)`` of ``pid`` from ``/proc``, or None when it does not exist."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may contain spaces or ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1])


def is_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` (empty for a zombie or a process that is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(fields[1], []).append(int(entry.name))
    return children


def descendant_levels(pid: int) -> list[list[int]]:
    """Descendants of ``pid`` grouped by depth: children first, then grandchildren..."""
    children = _children_map()
    levels: list[list[int]] = []
    current = children.get(pid, [])
    while current:
        levels.append(current)
        current = [c for p in current for c in children.get(p, [])]
    return levels


def _reap(pid: int) -> None:
    # Only for daemons we spawned: reaping any other child of this process
    # would steal its exit status from whoever started it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _exited(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def wait_exited(pid: int, timeout: float, reap: bool = True) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit.

    Works for processes that are not our children too (a daemon started by an
    earlier ``up`` command), through a pidfd when the platform has one.

    Args:
        pid: the process.
        timeout: seconds.
        reap: reap it: True only for a child spawned by :func:`spawn`.

    Returns:
        True when the process has exited.
    """
    deadline = time.monotonic() + timeout
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(pid)
        except ProcessLookupError:
            return True
        try:
            # A pidfd becomes readable when the process exits (zombie or not).
            readable, _, _ = select.select([fd], [], [], max(0.0, timeout))
        finally:
            os.close(fd)
        if readable and reap:
            _reap(pid)
        return bool(readable)
    while not _exited(pid) and time.monotonic() < deadline:
        time.sleep(_POLL_INTERVAL)
    if _exited(pid) and reap:
        _reap(pid)
    return _exited(pid)


def wait_all_exited(pids: Iterable[int], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until every pid has exited (zombies count); no reaping."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while True:
        pending = {p for p in pending if not _exited(p)}
        if not pending:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)


def kill_quietly(pid: int, sig: int) -> None:
    """Send ``sig`` to ``pid``, ignoring a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def kill_descendants(pid: int, timeout: float = 5.0) -> None:
    """SIGKILL every descendant of ``pid``, deepest first.

    Killing bottom up, waiting for each level to exit, gives each parent a
    chance to reap its children before it dies, so fewer orphans are left
    for init (some PID 1 reap them late). Sessions a daemon forked (a
    connection, the user's shell, its commands) are such descendants.
    """
    deadline = time.monotonic() + timeout
    for _ in range(3):  # processes forked while we were killing
        levels = descendant_levels(pid)
        if not any(is_alive(p) for level in levels for p in level):
            return
        for level in reversed(levels):
            for child in level:
                kill_quietly(child, signal.SIGKILL)
            wait_all_exited(level, max(0.0, deadline - time.monotonic()))


def stop_tree(pid: int, timeout: float = 5.0, reap: bool = True) -> bool:
    """Stop a daemon and everything it forked.

    Descendants first (SIGKILL, deepest first, see :func:`kill_descendants`),
    then the daemon itself: SIGTERM, and SIGKILL if it is still alive after
    ``timeout`` seconds. The daemon is reaped when ``reap`` is true (a
    child spawned by :func:`spawn`).

    Returns:
        True when the daemon has exited.
    """
    if not is_alive(pid):
        if reap:
            _reap(pid)
        return True
    kill_descendants(pid, timeout)
    kill_quietly(pid, signal.SIGTERM)
    if wait_exited(pid, timeout, reap):
        return True
    kill_quietly(pid, signal.SIGKILL)
    return wait_exited(pid, timeout, reap)
