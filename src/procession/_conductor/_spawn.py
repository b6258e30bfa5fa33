"""Starting children: pipes or a pseudo-terminal, a session of their own.

Each child is a session leader (``setsid``), so that ``killpg`` reaches the
commands it starts and a Ctrl-C typed in the user's terminal is handled by
the script, not delivered straight to every child. Spawn errors (command not
found, EMFILE, EAGAIN, bad working directory) are returned as a readable
reason, never turned into an exit code (ClusterShell's 255 collides with
ssh's own 255).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .._errors import ProcessionError

# Linux F_SETPIPE_SZ / F_GETPIPE_SZ (fcntl.F_SETPIPE_SZ exists from 3.10 on Linux).
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class SpawnError(ProcessionError, OSError):
    """A child could not be started; ``str()`` says why and what to do."""


@dataclass(slots=True)
class SpawnSpec:
    """What to start.

    Attributes:
        argv: the program and its arguments (already split).
        cwd: working directory, or None for the current one.
        env: full environment, or None to inherit.
        pty: give the child a pseudo-terminal as stdin/stdout (stderr stays
            a pipe) and make it the controlling terminal.
        close_stdin: give the child /dev/null as stdin.
    """

    argv: Sequence[str]
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    pty: bool = False
    close_stdin: bool = False


@dataclass(slots=True)
class Spawned:
    """A started child and the parent's ends of its streams."""

    pid: int
    stdin: int | None
    stdout: int
    stderr: int | None
    pty_master: int | None = None
    fds: list[int] = field(default_factory=list)


_which_cache: dict[tuple[str, str], str] = {}


def _resolve(argv0: str, env: Mapping[str, str] | None) -> str | None:
    """Absolute path of a command name, cached per PATH.

    subprocess searches PATH on every start (11 path joins and as many exec
    attempts here); a thousand starts of one command need one search.
    Entries are dropped when the file disappears (see ``spawn``).
    """
    if "/" in argv0:
        return None
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    key = (argv0, path)
    found = _which_cache.get(key)
    if found is None:
        found = shutil.which(argv0, path=path)
        if found is None:
            return None
        _which_cache[key] = found
    return found


def _acquire_ctty() -> None:  # pragma: no cover - runs in the child
    # Popen calls setsid() before preexec_fn, so the pty slave on fd 0 can
    # become the controlling terminal (ssh -t, password prompts, job control).
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _reason(exc: OSError, spec: SpawnSpec) -> str:
    prog = spec.argv[0] if spec.argv else "<empty command>"
    if exc.errno == errno.ENOENT and spec.cwd and exc.filename == spec.cwd:
        return f"cannot start {prog!r}: working directory {spec.cwd!r} does not exist"
    if exc.errno == errno.ENOENT:
        return f"cannot start {prog!r}: command not found (check the name and PATH)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot start {prog!r}: permission denied ({exc.strerror})"
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        return (
            f"cannot start {prog!r}: out of file descriptors ({exc.strerror}); "
            "raise the limit (ulimit -n) or start fewer processes at once"
        )
    if exc.errno == errno.EAGAIN:
        return (
            f"cannot start {prog!r}: out of processes ({exc.strerror}); raise the limit "
            "(ulimit -u) or start fewer processes at once"
        )
    return f"cannot start {prog!r}: {exc}"


def _close_all(fds: Sequence[int | None]) -> None:
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def spawn(spec: SpawnSpec) -> Spawned:
    """Start a child described by ``spec``.

    Returns:
        The child, with non-blocking parent-side descriptors.

    Raises:
        SpawnError: the child could not be started (reason in the message).
    """
    if not spec.argv:
        raise SpawnError("cannot start an empty command")
    parent: list[int | None] = []
    child: list[int | None] = []
    try:
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        parent.append(err_r)
        child.append(err_w)
        if spec.pty:
            master, slave = os.openpty()
            parent.append(master)
            child.append(slave)
            os.set_inheritable(master, False)
            stdin_child: int = slave
            stdout_child = slave
            stdin_parent: int | None = master
            stdout_parent = master
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            parent.append(out_r)
            child.append(out_w)
            stdout_child, stdout_parent = out_w, out_r
            if spec.close_stdin:
                stdin_child = subprocess.DEVNULL
                stdin_parent = None
            else:
                in_r, in_w = os.pipe2(os.O_CLOEXEC)
                parent.append(in_w)
                child.append(in_r)
                stdin_child, stdin_parent = in_r, in_w
        executable = _resolve(spec.argv[0], spec.env)
        proc = subprocess.Popen(
            list(spec.argv),
            executable=executable,
            stdin=stdin_child,
            stdout=stdout_child,
            stderr=err_w,
            cwd=spec.cwd,
            env=spec.env,
            close_fds=True,
            start_new_session=True,
            preexec_fn=_acquire_ctty if spec.pty else None,  # noqa: PLW1509
        )
    except OSError as exc:
        _close_all(parent + child)
        _which_cache.clear()  # a cached path may have gone: search again next time
        raise SpawnError(_reason(exc, spec)) from exc
    _close_all(child)
    # We reap the child ourselves (pidfd or SIGCHLD); tell Popen so that its
    # __del__ neither warns nor keeps the pid in subprocess._active.
    proc.returncode = 0
    fds = [fd for fd in parent if fd is not None]
    for fd in fds:
        os.set_blocking(fd, False)
    return Spawned(
        pid=proc.pid,
        stdin=stdin_parent,
        stdout=stdout_parent,
        stderr=err_r,
        pty_master=stdout_parent if spec.pty else None,
        fds=fds,
    )


def grow_pipe(fd: int, size: int = 1 << 20) -> None:
    """Enlarge a pipe's buffer (fewer wake-ups for high-volume streams).

    Only done for streams that filled the default 64 KiB buffer, since
    unprivileged users share a quota of pipe pages (pipe-user-pages-soft)
    and a thousand quiet children must not exhaust it.
    """
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, size)
    except OSError:
        pass
