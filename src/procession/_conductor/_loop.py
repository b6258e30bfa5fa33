"""The conductor: one thread, one event loop, every child and every pipe.

The conductor thread runs a small event loop (epoll on Linux, kqueue on
macOS, see ``_eventloop``) that
multiplexes the output pipes of all children and learns of their exit
without a thread per child: a pidfd per child on Linux (>= 5.3), a SIGCHLD
self-pipe elsewhere (or a 50 ms poll when the conductor was started from a
thread other than the main one, where no signal handler can be installed).
The number of threads never depends on the number of processes.

Only the conductor thread touches descriptors, reaps children and calls the
:class:`ChildObserver` methods. Other threads hand it work with
:meth:`Conductor.call` (blocking, returns the result) or
:meth:`Conductor.call_soon` (fire and forget).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import errno
import os
import resource
import signal
import threading
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar

from .._config import configuration
from .._log import get_logger
from ._completion import on_conductor_thread, set_conductor_thread
from ._eventloop import EventLoop, TimerHandle
from ._spawn import Spawned, grow_pipe

__all__ = ["ChildObserver", "Conductor", "get_conductor"]

log: Final = get_logger("conductor")
T = TypeVar("T")

STDOUT: Final = 1
STDERR: Final = 2
_SMALL_READ: Final = 1 << 16
_LARGE_READ: Final = 1 << 20
_BATCH_BELOW: Final = 1 << 16
_BATCH_PAUSE: Final = 0.0005
EOF_GRACE: Final = 0.5
"""Seconds to wait, after a child exited, for EOF on its output pipes.

A grandchild that inherited the pipes (``server &`` in a shell command) may
keep them open forever; the process still ends, this long after its exit.
"""


class ChildObserver(Protocol):
    """What the conductor calls, on its own thread, about one child.

    Calls for a child come in this order: any number of ``on_output`` and
    ``on_eof`` (once per stream), then ``on_exited`` exactly once, after all
    output was delivered (or after :data:`EOF_GRACE` when a grandchild keeps
    a pipe open). ``on_write_error`` may come any time before ``on_exited``.
    Implementations must not block.
    """

    def on_output(self, stream: int, data: bytes) -> None:
        """``data`` was read on ``stream`` (1 stdout, 2 stderr)."""

    def on_eof(self, stream: int) -> None:
        """``stream`` reached end of file."""

    def on_exited(self, status: int) -> None:
        """The child was reaped with raw wait ``status``; nothing follows."""

    def on_write_error(self, exc: OSError) -> None:
        """Writing to the child's stdin failed (it is then closed)."""


class Child:
    """The conductor's record of one running child (conductor thread only)."""

    __slots__ = (
        "close_after_drain",
        "grace",
        "observer",
        "open_streams",
        "pid",
        "pidfd",
        "read_size",
        "spawned",
        "status",
        "stdin_queue",
        "writing",
    )

    def __init__(self, spawned: Spawned, observer: ChildObserver) -> None:
        self.spawned = spawned
        self.pid = spawned.pid
        self.observer = observer
        self.pidfd: int | None = None
        self.status: int | None = None
        self.open_streams: dict[int, int] = {}  # fd -> stream
        self.read_size: dict[int, int] = {}
        self.grace: TimerHandle | None = None
        self.stdin_queue: collections.deque[memoryview] = collections.deque()
        self.writing = False
        self.close_after_drain = False

    @property
    def alive(self) -> bool:
        """Not yet reaped (its pid and process group cannot be reused)."""
        return self.status is None


class _Box:
    """A one-shot rendezvous: a lock released by the conductor."""

    __slots__ = ("exc", "lock", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.value: Any = None
        self.exc: BaseException | None = None


def _pidfd_works() -> bool:
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        fd = os.pidfd_open(os.getpid())
    except OSError:
        return False
    os.close(fd)
    return True


def _raise_nofile_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.debug("raised RLIMIT_NOFILE from %d to %d", soft, hard)
        except (ValueError, OSError) as exc:
            log.debug("could not raise RLIMIT_NOFILE: %s", exc)


class Conductor:
    """The thread that owns every child process and descriptor.

    Args:
        exit_watcher: ``"pidfd"`` or ``"sigchld"``; default: pidfd when the
            kernel has it (also overridable with ``$PROCESSION_EXIT_WATCHER``,
            which the tests use to run the same suite on both).
    """

    def __init__(self, exit_watcher: str | None = None) -> None:
        watcher = exit_watcher or os.environ.get("PROCESSION_EXIT_WATCHER") or "auto"
        if watcher == "auto":
            watcher = "pidfd" if _pidfd_works() else "sigchld"
        if watcher not in ("pidfd", "sigchld"):
            raise ValueError(f"unknown exit watcher {watcher!r} (pidfd or sigchld)")
        self.exit_watcher = watcher
        self.loop = EventLoop()
        self.children: dict[int, Child] = {}
        self._streams: set[Child] = set()
        self._thread = threading.Thread(target=self._run, name="procession-conductor", daemon=True)
        self._stopped = False
        self._sig_pipe: tuple[int, int] | None = None
        self._poll_handle: TimerHandle | None = None

    # ------------------------------------------------------------------ life
    def start(self) -> Conductor:
        """Start the thread (once); raises the soft fd limit to the hard one."""
        _raise_nofile_limit()
        ready = threading.Event()
        self.loop.call_soon(ready.set)
        self._thread.start()
        ready.wait()
        if self.exit_watcher == "sigchld":
            self._install_sigchld()
        return self

    def _run(self) -> None:
        set_conductor_thread(threading.get_ident())
        try:
            self.loop.run_forever()
        finally:
            set_conductor_thread(None)

    @property
    def thread(self) -> threading.Thread:
        """The conductor thread."""
        return self._thread

    def stop(self, kill_children: bool = True, timeout: float = 5.0) -> None:
        """Stop the loop and join the thread (used at interpreter exit).

        Args:
            kill_children: send SIGTERM to the process group of every child
                still running.
            timeout: seconds to wait for the thread.
        """
        if self._stopped:
            return
        if kill_children and self._thread.is_alive():
            try:
                self.call(self._terminate_all)
            except RuntimeError:
                pass
        self._stopped = True
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)

    def _terminate_all(self) -> None:
        for child in list(self.children.values()):
            if child.alive:
                log.debug("exit: SIGTERM to process group %d", child.pid)
                self.send_signal(child, signal.SIGTERM, group=True)

    # ------------------------------------------------------- cross-thread API
    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the conductor thread and return its result.

        Runs directly when already on the conductor thread. Exceptions are
        re-raised in the caller.
        """
        if on_conductor_thread():
            return fn(*args)
        if self._stopped:
            raise RuntimeError("the procession conductor is stopped (interpreter exiting)")
        box = _Box()

        def run() -> None:
            try:
                box.value = fn(*args)
            except BaseException as exc:
                box.exc = exc
            finally:
                box.lock.release()

        self.loop.call_soon_threadsafe(run)
        box.lock.acquire()
        if box.exc is not None:
            raise box.exc
        return box.value  # type: ignore[no-any-return]

    async def call_async(self, fn: Callable[..., T], *args: Any) -> T:
        """Like :meth:`call`, awaited from any asyncio loop without blocking it."""
        if on_conductor_thread():
            return fn(*args)
        caller = asyncio.get_running_loop()
        fut: asyncio.Future[T] = caller.create_future()

        def run() -> None:
            try:
                value = fn(*args)
            except BaseException as exc:
                caller.call_soon_threadsafe(_settle, fut, None, exc)
            else:
                caller.call_soon_threadsafe(_settle, fut, value, None)

        self.loop.call_soon_threadsafe(run)
        return await fut

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the conductor thread (any thread)."""
        if on_conductor_thread():
            self.loop.call_soon(fn, *args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    # --------------------------------------------- conductor-thread-only API
    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> TimerHandle:
        """Schedule ``fn(*args)`` in ``delay`` seconds (conductor thread only)."""
        return self.loop.call_later(max(delay, 0.0), fn, *args)

    def add_child(self, spawned: Spawned, observer: ChildObserver) -> Child:
        """Watch a freshly spawned child (conductor thread only)."""
        child = Child(spawned, observer)
        self.children[child.pid] = child
        for fd, stream in ((spawned.stdout, STDOUT), (spawned.stderr, STDERR)):
            if fd is None:
                continue
            child.open_streams[fd] = stream
            child.read_size[fd] = _SMALL_READ
            self.loop.add_reader(fd, self._on_readable, child, fd)
        if self.exit_watcher == "pidfd":
            child.pidfd = os.pidfd_open(child.pid)
            self.loop.add_reader(child.pidfd, self._on_pidfd, child)
        else:
            self._reap(child)
            self._ensure_poll()
        return child

    def add_stream(self, fd: int, observer: ChildObserver) -> Child:
        """Watch a bidirectional descriptor that is not a child (a serial
        device): its input is STDOUT, writes go to the same descriptor, and
        ``on_exited(0)`` follows its end of file or :meth:`close_stream`.
        The conductor owns ``fd`` from now on (conductor thread only).
        """
        os.set_blocking(fd, False)
        spawned = Spawned(pid=-1, stdin=fd, stdout=fd, stderr=None, pty_master=fd, fds=[fd])
        child = Child(spawned, observer)
        self._streams.add(child)
        child.open_streams[fd] = STDOUT
        child.read_size[fd] = _SMALL_READ
        self.loop.add_reader(fd, self._on_readable, child, fd)
        return child

    def close_stream(self, child: Child) -> None:
        """End a stream added by :meth:`add_stream` (conductor thread only)."""
        for fd in list(child.open_streams):
            self._close_stream(child, fd)
        self._maybe_finish(child)

    def send_signal(self, child: Child, sig: int, group: bool) -> bool:
        """Signal a child, or its whole process group (conductor thread only).

        Returns:
            False when the child was already reaped (nothing was sent).
        """
        if child.pid <= 0:  # a stream, not a process: never kill(-1, ...)
            return False
        if not child.alive:
            return False
        try:
            # The child is not reaped yet, so neither its pid nor its process
            # group id can have been reused by another process.
            if group:
                os.killpg(child.pid, sig)
            else:
                os.kill(child.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            if group:  # a member of the group changed uid (sudo): the leader at least
                return self.send_signal(child, sig, group=False)
            raise
        return True

    def write(self, child: Child, data: bytes) -> None:
        """Queue ``data`` for the child's stdin (conductor thread only)."""
        if child.spawned.stdin is None or child.close_after_drain:
            child.observer.on_write_error(BrokenPipeError(errno.EPIPE, "stdin is closed"))
            return
        if data:
            child.stdin_queue.append(memoryview(data))
        self._flush_stdin(child)

    def close_stdin(self, child: Child) -> None:
        """Close the child's stdin once queued data is written."""
        if child.spawned.stdin is None:
            return
        child.close_after_drain = True
        self._flush_stdin(child)

    # ------------------------------------------------------------- internals
    def _flush_stdin(self, child: Child) -> None:
        fd = child.spawned.stdin
        assert fd is not None
        queue = child.stdin_queue
        try:
            while queue:
                n = os.write(fd, queue[0])
                if n == len(queue[0]):
                    queue.popleft()
                else:
                    queue[0] = queue[0][n:]
        except BlockingIOError:
            if not child.writing:
                child.writing = True
                self.loop.add_writer(fd, self._flush_stdin, child)
            return
        except OSError as exc:
            queue.clear()
            self._drop_stdin(child)
            child.observer.on_write_error(exc)
            return
        if child.writing:
            child.writing = False
            self.loop.remove_writer(fd)
        if child.close_after_drain:
            self._drop_stdin(child)

    def _drop_stdin(self, child: Child) -> None:
        fd = child.spawned.stdin
        if fd is None:
            return
        if child.writing:
            child.writing = False
            self.loop.remove_writer(fd)
        if fd == child.spawned.pty_master:
            # The pty master is also stdout: a child's pty gets EOF (^D)
            # instead of a close; a stream (a serial device) gets nothing, or
            # a device at its shell prompt would log out.
            if child.pid > 0:
                try:
                    os.write(fd, b"\x04")
                except OSError:
                    pass
        else:
            os.close(fd)
        child.spawned.stdin = None

    def _on_readable(self, child: Child, fd: int) -> None:
        size = child.read_size[fd]
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            return
        except OSError:  # EIO on a pty master once the slave side is gone
            data = b""
        if data:
            if len(data) == size == _SMALL_READ:
                # A high-volume stream: bigger pipe, bigger reads, fewer wake-ups.
                grow_pipe(fd)
                child.read_size[fd] = _LARGE_READ
            elif size == _LARGE_READ and len(data) < _BATCH_BELOW:
                # A high-volume stream fed in small writes (`yes | head`):
                # one loop turn per write would cost more than the data.
                # Let the pipe fill for a moment, then take it in one read.
                self.loop.remove_reader(fd)
                self.loop.call_later(_BATCH_PAUSE, self._resume_reading, child, fd)
            child.observer.on_output(child.open_streams[fd], data)
        else:
            self._close_stream(child, fd)
            self._maybe_finish(child)

    def _resume_reading(self, child: Child, fd: int) -> None:
        if fd in child.open_streams:
            self.loop.add_reader(fd, self._on_readable, child, fd)

    def _close_stream(self, child: Child, fd: int) -> None:
        stream = child.open_streams.pop(fd)
        self.loop.remove_reader(fd)
        if fd != child.spawned.pty_master:
            os.close(fd)
        child.observer.on_eof(stream)

    def _on_pidfd(self, child: Child) -> None:
        self._reap(child)

    def _reap(self, child: Child) -> None:
        try:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else (os.wait in user code)
            pid, status = child.pid, 255 << 8
            log.warning("child %d was reaped outside procession; exit status lost", child.pid)
        if pid == 0:
            return
        child.status = status
        if child.pidfd is not None:
            self.loop.remove_reader(child.pidfd)
            os.close(child.pidfd)
            child.pidfd = None
        if child.open_streams:
            child.grace = self.loop.call_later(EOF_GRACE, self._end_grace, child)
        self._maybe_finish(child)

    def _end_grace(self, child: Child) -> None:
        child.grace = None
        for fd in list(child.open_streams):
            # Take what is already buffered, then stop listening.
            for _ in range(64):
                try:
                    data = os.read(fd, _LARGE_READ)
                except OSError:
                    break
                if not data:
                    break
                child.observer.on_output(child.open_streams[fd], data)
            self._close_stream(child, fd)
        self._maybe_finish(child)

    def _maybe_finish(self, child: Child) -> None:
        if child.pid < 0 and child.status is None and not child.open_streams:
            child.status = 0  # a stream (add_stream) ends with its input
        if child.status is None or child.open_streams:
            return
        if child.grace is not None:
            child.grace.cancel()
            child.grace = None
        if child.pid < 0:
            self._streams.discard(child)
        else:
            del self.children[child.pid]
        if child.spawned.stdin is not None:
            self._drop_stdin(child)
        if child.spawned.pty_master is not None:
            os.close(child.spawned.pty_master)
        child.observer.on_exited(child.status)

    # ---------------------------------------------------- SIGCHLD fallback
    def _install_sigchld(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            log.debug("conductor started off the main thread: polling for child exits")
            return
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._sig_pipe = (r, w)

        def on_sigchld(signum: int, frame: object) -> None:
            try:
                os.write(w, b"\0")
            except OSError:
                pass

        signal.signal(signal.SIGCHLD, on_sigchld)
        self.call(self.loop.add_reader, r, self._on_sigchld_pipe)

    def _on_sigchld_pipe(self) -> None:
        assert self._sig_pipe is not None
        try:
            while os.read(self._sig_pipe[0], 4096):
                pass
        except BlockingIOError:
            pass
        self._reap_all()

    def _reap_all(self) -> None:
        for child in list(self.children.values()):
            if child.alive:
                self._reap(child)

    def _ensure_poll(self) -> None:
        # Without a signal handler (conductor started off the main thread),
        # and also as a safety net against a lost signal, poll while children run.
        if self._poll_handle is None:
            self._poll_handle = self.loop.call_later(0.05, self._poll)

    def _poll(self) -> None:
        self._poll_handle = None
        self._reap_all()
        if any(c.alive for c in self.children.values()):
            self._ensure_poll()


def _settle(fut: asyncio.Future[T], value: T | None, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)  # type: ignore[arg-type]


_conductor: Conductor | None = None
_conductor_lock = threading.Lock()


def get_conductor() -> Conductor:
    """The process-wide conductor, started on first use (never at import)."""
    global _conductor
    c = _conductor
    if c is not None:
        return c
    with _conductor_lock:
        if _conductor is None:
            c = Conductor().start()
            atexit.register(_at_exit, c)
            _conductor = c
        return _conductor


def _at_exit(c: Conductor) -> None:
    c.stop(kill_children=bool(configuration.get("kill_childs_at_end", True)))
