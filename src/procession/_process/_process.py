"""ProcessBase and Process: Execo's process objects, done right.

Threads: every state attribute (``started``, ``ended``, ``exit_code``, ...)
is written on the conductor thread only; the user-facing methods hand work to
the conductor and wait on a per-process :class:`Completion`. Handlers run on
the conductor thread and must not block.

Both faces: ``p.run()`` blocks the calling thread; ``await p.run_async()``
(and ``await p`` for the end) suspends an asyncio task of any loop.
"""

from __future__ import annotations

import codecs
import os
import re
import shlex
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, Final, Self

from .._conductor import (
    Child,
    Completion,
    SpawnError,
    SpawnSpec,
    get_conductor,
    spawn,
)
from .._config import configuration
from .._log import get_logger
from .._time import Duration, format_duration, format_unixts, get_seconds
from ._expect import ExpectOutputHandler, Regexes
from ._handlers import STDERR, STDOUT, ProcessLifecycleHandler, Stream, deliver_output
from ._instruments import emit

__all__ = ["Process", "ProcessBase", "name_from_cmdline"]

log: Final = get_logger("process")
io_log: Final = get_logger("io")
"""Byte-level tracing of every chunk read (DEBUG); Execo's IODEBUG level."""


# Characters that make shlex.split differ from str.split.
_NEEDS_SHLEX: Final = re.compile(r"[\\'\"]")


def _cmd_text(cmd: str | Sequence[str]) -> str:
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def name_from_cmdline(cmd: str | Sequence[str]) -> str:
    """A short name for a command line (at most 39 characters, as Execo)."""
    text = re.sub(r"\s+", " ", _cmd_text(cmd).strip())
    return text if len(text) <= 39 else text[:36] + "..."


def compact_output(text: str) -> str:
    """Head and tail of ``text`` past ``configuration['compact_output_threshold']``."""
    limit = configuration.get("compact_output_threshold") or 0
    if limit == 0 or len(text) <= limit:
        return text
    return text[: limit // 2] + "\n[...]\n" + text[-(limit // 2) :]


class _Collector:
    """Collected bytes of one stream: a bytearray, decoded once on access."""

    __slots__ = ("_cache", "_cache_len", "data")

    def __init__(self) -> None:
        self.data = bytearray()
        self._cache = ""
        self._cache_len = 0

    def text(self) -> str:
        if self._cache_len != len(self.data):
            self._cache = self.data.decode("utf-8", errors="replace")
            self._cache_len = len(self.data)
        return self._cache


class ProcessBase:
    """State, handlers, expect and waits shared by every kind of process.

    Not started directly: see :class:`Process` and ``SshProcess``.

    Args:
        cmd: the command, a string or an argv list.
        timeout: seconds (or any duration :func:`get_seconds` accepts) after
            which the process is killed and marked ``timeouted``.
        ignore_exit_code: a non-zero exit code does not make it not ok.
        nolog_exit_code: no warning is logged for a non-zero exit code.
        ignore_timeout: a timeout (and the exit code it causes) does not
            make it not ok.
        nolog_timeout: no warning is logged on timeout.
        ignore_error: a start error does not make it not ok.
        nolog_error: no warning is logged for a start error.
        ignore_expect_fail: an expect that fails does not make it not ok.
        nolog_expect_fail: no warning is logged when an expect fails.
        ignore_write_error: a failed write to stdin does not make it not ok.
        nolog_write_error: no warning is logged for a failed write.
        default_expect_timeout: seconds for :meth:`expect` when it is given
            no timeout; None waits without limit.
        default_stream: the stream :meth:`expect` reads by default.
        default_stdout_handler: collect stdout in :attr:`stdout`. Set False
            for huge outputs you do not need: memory then stays flat.
        default_stderr_handler: collect stderr in :attr:`stderr`.
        stdout_handlers: handlers of stdout: :class:`ProcessOutputHandler`,
            file descriptors, file objects or filenames.
        stderr_handlers: same, for stderr.
        lifecycle_handlers: :class:`ProcessLifecycleHandler` instances.
        name: a name for logs and reports (default: from the command).
    """

    def __init__(
        self,
        cmd: str | Sequence[str],
        timeout: Duration | None = None,
        ignore_exit_code: bool = False,
        nolog_exit_code: bool = False,
        ignore_timeout: bool = False,
        nolog_timeout: bool = False,
        ignore_error: bool = False,
        nolog_error: bool = False,
        ignore_expect_fail: bool = False,
        nolog_expect_fail: bool = False,
        ignore_write_error: bool = False,
        nolog_write_error: bool = False,
        default_expect_timeout: Duration | None = None,
        default_stream: int = STDOUT,
        default_stdout_handler: bool = True,
        default_stderr_handler: bool = True,
        lifecycle_handlers: Iterable[ProcessLifecycleHandler] | None = None,
        stdout_handlers: Iterable[Any] | None = None,
        stderr_handlers: Iterable[Any] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(cmd, str | list | tuple):
            raise TypeError(f"cmd must be a string or a list of strings, not {cmd!r}")
        if not cmd or (not isinstance(cmd, str) and not all(isinstance(a, str) for a in cmd)):
            raise ValueError(f"cmd must be a non-empty string or list of strings, not {cmd!r}")
        if default_stream not in (STDOUT, STDERR):
            raise ValueError(f"default_stream must be STDOUT or STDERR, not {default_stream!r}")
        self.cmd = cmd
        # Subclasses may set the host before calling this (so "created" events carry it).
        self.host: Any = getattr(self, "host", None)
        self.timeout = get_seconds(timeout)
        self.ignore_exit_code = ignore_exit_code
        self.nolog_exit_code = nolog_exit_code
        self.ignore_timeout = ignore_timeout
        self.nolog_timeout = nolog_timeout
        self.ignore_error = ignore_error
        self.nolog_error = nolog_error
        self.ignore_expect_fail = ignore_expect_fail
        self.nolog_expect_fail = nolog_expect_fail
        self.ignore_write_error = ignore_write_error
        self.nolog_write_error = nolog_write_error
        self.default_expect_timeout = get_seconds(default_expect_timeout)
        self.default_stream = Stream(default_stream)
        self.default_stdout_handler = default_stdout_handler
        self.default_stderr_handler = default_stderr_handler
        self.lifecycle_handlers: list[ProcessLifecycleHandler] = list(lifecycle_handlers or [])
        self.stdout_handlers: list[Any] = list(stdout_handlers or [])
        self.stderr_handlers: list[Any] = list(stderr_handlers or [])
        self.name = name if name is not None else name_from_cmdline(cmd)
        self._thread_local: threading.local | None = None
        self._init_state()
        emit("created", self)

    # ------------------------------------------------------------------ state
    def _init_state(self) -> None:
        self.started = False
        """True as soon as ``start()`` returns (Execo sets it later: a bug)."""
        self.start_date: float | None = None
        """Unix timestamp of the start, or None."""
        self.ended = False
        """True once the process is over and all its output was read."""
        self.end_date: float | None = None
        """Unix timestamp of the end, or None."""
        self.error = False
        """The process could not be started (see ``error_reason``)."""
        self.error_reason: str | None = None
        """Why it could not be started (or connected, for remote processes)."""
        self.exit_code: int | None = None
        """The exit code (3 for ``exit 3``); None when killed by a signal."""
        self.exit_signal: int | None = None
        """The signal that killed the process, or None."""
        self.timeouted = False
        """The timeout expired and the process was killed."""
        self.killed = False
        """``kill()`` (or the timeout) sent it a signal."""
        self.forced_kill = False
        """It ignored SIGTERM and was sent SIGKILL after ``kill_timeout``."""
        self.expect_fail = False
        """An expect ended without a match (timeout or end of stream)."""
        self.write_error = False
        """Writing to its stdin failed."""
        self.stdout_ioerror = False
        self.stderr_ioerror = False
        self._collected = {STDOUT: _Collector(), STDERR: _Collector()}
        self._eof: set[int] = set()
        self._decoders: dict[int, codecs.IncrementalDecoder] = {}
        self._open_files: dict[tuple[str, int], Any] = {}
        self._ended_completion: Completion[None] = Completion()
        self._timers: list[Any] = []
        self._thread_local = None

    @property
    def stdout(self) -> str:
        """Everything written to stdout so far, decoded as UTF-8 (invalid
        bytes replaced: decoding never raises). Empty when
        ``default_stdout_handler`` is off."""
        return self._collected[STDOUT].text()

    @property
    def stderr(self) -> str:
        """Everything written to stderr so far (see :attr:`stdout`)."""
        return self._collected[STDERR].text()

    @property
    def running(self) -> bool:
        """Started and not yet ended."""
        return self.started and not self.ended

    @property
    def ok(self) -> bool:
        """Not failed so far.

        True when not started, while running, or when ended without error,
        without timeout and with exit code 0, each part waived by its
        ``ignore_*`` flag; an expect failure or write error also makes it not
        ok unless ignored.

        Differences from Execo: a process ended by ``kill()`` is not ok
        (Execo counted it ok): set ``ignore_exit_code`` for processes you
        kill on purpose. A timed-out process with ``ignore_timeout`` is ok
        whatever the exit code its kill caused.
        """
        if self.expect_fail and not self.ignore_expect_fail:
            return False
        if self.write_error and not self.ignore_write_error:
            return False
        if not self.ended:
            return True
        if self.error:
            return self.ignore_error
        if self.timeouted and not self.ignore_timeout:
            return False
        return self.exit_code == 0 or self.ignore_exit_code or self.timeouted

    @property
    def finished_ok(self) -> bool:
        """Started, ended and ok."""
        return self.started and self.ended and self.ok

    def failure_reason(self) -> str:
        """One line saying how the process ended (for logs and errors)."""
        if self.error:
            return f"error: {self.error_reason}"
        parts = []
        if self.timeouted:
            parts.append(f"timed out after {format_duration(self.timeout, showms=True)}")
        if self.exit_signal is not None:
            parts.append(f"killed by {_signal_name(self.exit_signal)}")
        elif self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        if self.forced_kill:
            parts.append("SIGKILL sent after SIGTERM was ignored")
        if self.expect_fail:
            parts.append("expect failed")
        if self.write_error:
            parts.append("write to stdin failed")
        if not self.ended:
            parts.append("running" if self.started else "not started")
        return ", ".join(parts) or "ok"

    def stats(self) -> dict[str, Any]:
        """Execo's statistics dict of this one process (see ``Report``)."""
        return {
            "name": self.name,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "num_processes": 1,
            "num_started": int(self.started),
            "num_ended": int(self.ended),
            "num_errors": int(self.error),
            "num_timeouts": int(self.timeouted),
            "num_forced_kills": int(self.forced_kill),
            "num_non_zero_exit_codes": int(self.ended and not self.error and self.exit_code != 0),
            "num_expect_fail": int(self.expect_fail),
            "num_write_error": int(self.write_error),
            "num_ok": int(self.ok),
            "num_finished_ok": int(self.finished_ok),
            "sub_stats": [],
        }

    # ---------------------------------------------------------- presentation
    def _kwargs_repr(self) -> list[str]:
        out = []
        if self.timeout is not None:
            out.append(f"timeout={self.timeout!r}")
        for flag in (
            "ignore_exit_code",
            "nolog_exit_code",
            "ignore_timeout",
            "nolog_timeout",
            "ignore_error",
            "nolog_error",
            "ignore_expect_fail",
            "nolog_expect_fail",
        ):
            if getattr(self, flag):
                out.append(f"{flag}=True")
        return out

    def _args_repr(self) -> list[str]:
        return [repr(self.cmd), *self._kwargs_repr()]

    def _infos(self) -> list[str]:
        infos = [
            f"name={self.name!r}",
            f"started={self.started}",
            f"start_date={format_unixts(self.start_date)}",
            f"ended={self.ended}",
            f"end_date={format_unixts(self.end_date)}",
            f"killed={self.killed}",
            f"error={self.error}",
            f"error_reason={self.error_reason!r}",
            f"timeouted={self.timeouted}",
            f"expect_fail={self.expect_fail}",
            f"write_error={self.write_error}",
            f"exit_code={self.exit_code}",
            f"ok={self.ok}",
        ]
        if self.exit_signal is not None:
            infos.append(f"exit_signal={_signal_name(self.exit_signal)}")
        if self.forced_kill:
            infos.append("forced_kill=True")
        return infos

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._args_repr())})"

    def __str__(self) -> str:
        return f"<{type(self).__name__}({', '.join(self._args_repr() + self._infos())})>"

    def dump(self) -> str:
        """``str(self)`` followed by stdout and stderr (compacted)."""
        return (
            f"{self}\nstdout:\n{compact_output(self.stdout)}\n"
            f"stderr:\n{compact_output(self.stderr)}"
        )

    # -------------------------------------- conductor-thread state transitions
    def _emit_output(self, stream: Stream, data: bytes, eof: bool, error: bool = False) -> None:
        """Feed output to the collectors and handlers (conductor thread)."""
        if io_log.isEnabledFor(10):
            io_log.debug("%s %s%s: %r", self.name, stream.name.lower(), " eof" if eof else "", data)
        if data and (
            self.default_stdout_handler if stream == STDOUT else self.default_stderr_handler
        ):
            self._collected[stream].data += data
        if eof:
            self._eof.add(stream)
            if error:
                setattr(self, "stdout_ioerror" if stream == STDOUT else "stderr_ioerror", True)
        handlers = self.stdout_handlers if stream == STDOUT else self.stderr_handlers
        if not handlers:
            return
        decoder = self._decoders.get(stream)
        if decoder is None:
            decoder = self._decoders[stream] = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(data, final=eof)
        for handler in list(handlers):
            try:
                deliver_output(self, stream, handler, text, data, eof, error, self._open_files)
            except Exception:
                log.exception("output handler %r failed on %s", handler, self.name)

    def _call_lifecycle(self, event: str) -> None:
        for handler in list(self.lifecycle_handlers):
            try:
                getattr(handler, event)(self)
            except Exception:
                log.exception(
                    "lifecycle handler %r failed in %s() of %s", handler, event, self.name
                )

    def _set_started(self) -> None:
        """Conductor thread: the process is started (or failed to)."""
        self.started = True
        self.start_date = time.time()
        # Expect handlers learn at once which streams they watch, so that
        # one waiting on several processes knows when all of them are over.
        for stream, handlers in ((STDOUT, self.stdout_handlers), (STDERR, self.stderr_handlers)):
            for handler in handlers:
                if isinstance(handler, ExpectOutputHandler):
                    handler.attach((self, int(stream)), "", False)
        log.debug("start: %s", self)
        emit("started", self)

    def _set_ended(
        self,
        exit_code: int | None = None,
        exit_signal: int | None = None,
        error_reason: str | None = None,
    ) -> None:
        """Conductor thread: the process is over; finish streams, log, notify."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for stream in (STDOUT, STDERR):
            if stream not in self._eof:
                self._emit_output(stream, b"", eof=True)
        if error_reason is not None:
            self.error = True
            self.error_reason = error_reason
        self.exit_code = exit_code
        self.exit_signal = exit_signal
        self.end_date = time.time()
        self.ended = True
        emit("ended", self)
        self._log_end()
        self._call_lifecycle("end")
        self._ended_completion.resolve(None)

    def _log_end(self) -> None:
        warn = (
            (self.error and not self.nolog_error)
            or (self.timeouted and not self.nolog_timeout)
            or (
                not self.error
                and not self.timeouted
                and self.exit_code != 0
                and not self.nolog_exit_code
                and not self.killed
            )
        )
        if warn:
            log.warning("%s", _EndReport(self))
        else:
            log.debug("end: %s", self)

    def _note_expect_fail(self, regexes: Regexes) -> None:
        self.expect_fail = True
        patterns = [r.pattern if isinstance(r, re.Pattern) else r for r in _as_list(regexes)]
        level = 10 if self.nolog_expect_fail else 30
        log.log(
            level, "expect failed: %s not found in %s\n%s", patterns, self.name, _Lazy(self.dump)
        )

    def _note_write_error(self, exc: OSError) -> None:
        if self.write_error:
            return
        self.write_error = True
        level = 10 if self.nolog_write_error else 30
        log.log(level, "write to stdin of %s failed: %s", self.name, exc)

    # ---------------------------------------------------------------- waiting
    def wait(self, timeout: Duration | None = None) -> Self:
        """Wait for the end, at most ``timeout`` seconds; returns self.

        On timeout the process keeps running; check :attr:`ended`. Ctrl-C
        interrupts the wait.

        Raises:
            ValueError: the process was never started.
            ConductorBlockingCall: called from a handler.
        """
        if not self.started:
            raise ValueError(f"wait() on a process that was not started: {self!r}")
        self._ended_completion.wait(get_seconds(timeout), f"{type(self).__name__}.wait()")
        return self

    async def wait_async(self, timeout: Duration | None = None) -> Self:
        """:meth:`wait`, awaited from any asyncio loop without blocking it."""
        if not self.started:
            raise ValueError(f"wait_async() on a process that was not started: {self!r}")
        await self._ended_completion.wait_async(get_seconds(timeout))
        return self

    def __await__(self) -> Generator[Any, None, ProcessBase]:
        """``await p`` waits for the end (see :meth:`wait_async`)."""
        return self.wait_async().__await__()

    # ----------------------------------------------------------------- expect
    def _expect_handler(self, stream: Stream, backtrack: bool, handler: Any) -> Any:
        if handler is None:
            if self._thread_local is None:
                self._thread_local = threading.local()
            handler = getattr(self._thread_local, "expect_handler", None)
            if handler is None:
                handler = self._thread_local.expect_handler = ExpectOutputHandler()
        handlers = self.stdout_handlers if stream == STDOUT else self.stderr_handlers
        if handler not in handlers:

            def attach() -> None:
                # On the conductor thread: no output can slip in between the
                # backtrack snapshot and the handler's first chunk.
                initial = self._collected[stream].text() if backtrack else ""
                handler.attach((self, int(stream)), initial, stream in self._eof)
                handlers.append(handler)

            _conductor_call(attach)
        return handler

    def _expect_args(self, timeout: Any, stream: int | None) -> tuple[float | None, Stream]:
        if timeout is False:
            timeout = self.default_expect_timeout
        return get_seconds(timeout), Stream(self.default_stream if stream is None else stream)

    def expect(
        self,
        regexes: Regexes,
        timeout: Duration | bool | None = False,
        stream: int | None = None,
        backtrack: bool = True,
        expect_output_handler: ExpectOutputHandler | None = None,
    ) -> tuple[int | None, re.Match[str] | None]:
        """Wait for a regex in the output, as Don Libes' expect.

        Args:
            regexes: a regex or a list; strings are compiled with
                ``re.MULTILINE``, so ``^Password:\\s*$`` matches a prompt that
                has no trailing newline.
            timeout: seconds; False (default) uses ``default_expect_timeout``;
                None waits without limit; 0 only looks.
            stream: STDOUT or STDERR (default: ``default_stream``).
            backtrack: the first expect searches the output since the start
                (needs the default handler); False searches only what comes
                next. Later expects continue after the previous match.
            expect_output_handler: a shared handler; default one per thread.

        Returns:
            ``(regex_index, match)``, or ``(None, None)`` on timeout or end
            of stream; then :attr:`expect_fail` is set and a warning logged
            (unless ``nolog_expect_fail``).

        Raises:
            ValueError: an invalid regex.
            ConductorBlockingCall: called from a handler (use expect_async).
        """
        secs, strm = self._expect_args(timeout, stream)
        handler = self._expect_handler(strm, backtrack, expect_output_handler)
        found = handler.expect(regexes, secs, keys=[(self, int(strm))])
        return self._expect_result(found, strm, regexes)

    async def expect_async(
        self,
        regexes: Regexes,
        timeout: Duration | bool | None = False,
        stream: int | None = None,
        backtrack: bool = True,
        expect_output_handler: ExpectOutputHandler | None = None,
    ) -> tuple[int | None, re.Match[str] | None]:
        """:meth:`expect`, awaited from any asyncio loop without blocking it."""
        secs, strm = self._expect_args(timeout, stream)
        handler = self._expect_handler(strm, backtrack, expect_output_handler)
        found = await handler.expect_async(regexes, secs, keys=[(self, int(strm))])
        return self._expect_result(found, strm, regexes)

    def _expect_result(
        self, found: dict[Any, Any], stream: Stream, regexes: Regexes
    ) -> tuple[int | None, re.Match[str] | None]:
        hit = found.get((self, int(stream)))
        if hit is None:
            self._note_expect_fail(regexes)
            return None, None
        return hit  # type: ignore[no-any-return]

    # --------------------------------------------------------- context manager
    def __enter__(self) -> ProcessBase:
        return self

    def __exit__(self, *exc: object) -> None:
        """Kill the process if running, and wait until it has ended."""
        self.kill()
        if self.started:
            self.wait()

    async def __aenter__(self) -> ProcessBase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.kill()
        if self.started:
            await self.wait_async()

    # ------------------------------------------------ overridden by subclasses
    def start(self) -> Self:
        """Start the process; returns self."""
        raise NotImplementedError

    def kill(self, sig: int = signal.SIGTERM, auto_sigkill: bool | Duration = True) -> ProcessBase:
        """Send a signal to the process; returns self."""
        raise NotImplementedError

    def run(self, timeout: Duration | None = None) -> Self:
        """Start, then wait for the end (at most ``timeout`` seconds)."""
        return self.start().wait(timeout)

    async def start_async(self) -> Self:
        """:meth:`start`, awaited from any asyncio loop."""
        return self.start()

    async def run_async(self, timeout: Duration | None = None) -> Self:
        """:meth:`run`, awaited from any asyncio loop without blocking it."""
        await self.start_async()
        return await self.wait_async(timeout)


class Process(ProcessBase):
    """A local process.

    >>> p = Process("echo hello").run()
    >>> p.ok, p.exit_code, p.stdout
    (True, 0, 'hello\\n')

    Args:
        cmd: a string (split like a shell would, unless ``shell=True``) or an
            argv list.
        shell: run ``cmd`` with ``/bin/sh -c``.
        pty: give the process a pseudo-terminal for stdin and stdout (stderr
            stays a pipe); it becomes its controlling terminal.
        kill_subprocesses: ``kill()`` signals the whole process group (the
            commands it started) rather than the process alone; default: True
            with ``shell=True``, False otherwise, as in Execo.
        cwd: working directory (Execo has none).
        env: variables to set, merged over the current environment; a None
            value removes a variable (Execo has none).
        close_stdin: give the process /dev/null as stdin (for commands that
            would wait for input); ``write()`` then fails.
        **kwargs: the state, handler and logging options of
            :class:`ProcessBase`.

    Differences from Execo: ``started`` is true as soon as ``start()``
    returns; ``exit_code`` is the real exit code (Execo 2.8.2 gives the raw
    wait status, 768 for ``exit 3``); output is collected in linear time.
    """

    def __init__(
        self,
        cmd: str | Sequence[str],
        shell: bool = False,
        pty: bool = False,
        kill_subprocesses: bool | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str | None] | None = None,
        close_stdin: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(cmd, **kwargs)
        self.shell = shell
        self.pty = pty
        self.kill_subprocesses = kill_subprocesses
        self.cwd = os.fspath(cwd) if cwd is not None else None
        self.env = dict(env) if env is not None else None
        self.close_stdin_at_start = close_stdin
        self.pid: int | None = None
        self._child: Child | None = None

    def _init_state(self) -> None:
        super()._init_state()
        self.pid = None
        self._child = None

    def _kwargs_repr(self) -> list[str]:
        out = super()._kwargs_repr()
        for flag in ("shell", "pty"):
            if getattr(self, flag):
                out.append(f"{flag}=True")
        if self.kill_subprocesses is not None:
            out.append(f"kill_subprocesses={self.kill_subprocesses!r}")
        if self.cwd is not None:
            out.append(f"cwd={self.cwd!r}")
        return out

    def _infos(self) -> list[str]:
        return [*super()._infos(), f"pid={self.pid}"]

    def _argv(self) -> list[str]:
        """The argv to execute (subclasses build remote command lines)."""
        if self.shell:
            return ["/bin/sh", "-c", _cmd_text(self.cmd)]
        if isinstance(self.cmd, str):
            if not _NEEDS_SHLEX.search(self.cmd):
                return self.cmd.split()  # same result as shlex.split, 10x cheaper
            try:
                return shlex.split(self.cmd)
            except ValueError as exc:
                raise ValueError(f"cannot split command {self.cmd!r}: {exc}") from exc
        return list(self.cmd)

    def _spawn_spec(self) -> SpawnSpec:
        env = None
        if self.env is not None:
            env = dict(os.environ)
            for key, value in self.env.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value
        return SpawnSpec(
            argv=self._argv(),
            cwd=self.cwd,
            env=env,
            pty=self.pty,
            close_stdin=self.close_stdin_at_start,
        )

    @property
    def _group_kill(self) -> bool:
        return self.shell if self.kill_subprocesses is None else self.kill_subprocesses

    # --------------------------------------------------------------- starting
    def start(self) -> Self:
        """Start the process; returns self at once (does not wait for it).

        When ``start()`` returns, ``started`` is True and ``pid`` is set, or
        the process has already ended with ``error`` and ``error_reason``
        (command not found, out of file descriptors or processes, ...). A
        second call does nothing.
        """
        if self.started:
            return self
        spec = self._spawn_spec()  # errors in the command raise here, in the caller
        _conductor_call(self._start_on_conductor, spec)
        return self

    async def start_async(self) -> Self:
        """:meth:`start`, awaited from any asyncio loop."""
        if self.started:
            return self
        spec = self._spawn_spec()
        await get_conductor().call_async(self._start_on_conductor, spec)
        return self

    def _start_on_conductor(self, spec: SpawnSpec) -> None:
        if self.started:
            return
        conductor = get_conductor()
        self._set_started()
        try:
            spawned = spawn(spec)
        except SpawnError as exc:
            self._call_lifecycle("start")
            self._set_ended(error_reason=str(exc))
            return
        self.pid = spawned.pid
        self._child = conductor.add_child(spawned, _Observer(self))
        if self.timeout is not None:
            self._timers.append(conductor.call_later(self.timeout, self._on_timeout))
        self._call_lifecycle("start")

    def _on_timeout(self) -> None:
        if not self.ended:
            self.timeouted = True
            log.debug("timeout after %ss: %s", self.timeout, self.name)
            emit("timeouted", self)
            self._kill_on_conductor(signal.SIGTERM, True)

    # ---------------------------------------------------------------- killing
    def kill(
        self, sig: int = signal.SIGTERM, auto_sigkill: bool | Duration = True, **kwargs: Any
    ) -> Process:
        """Send ``sig`` to the process (or its group, see ``kill_subprocesses``).

        Does nothing when not running. After SIGTERM or SIGINT, SIGKILL
        follows if the process is still alive ``auto_sigkill`` seconds later
        (True: ``configuration['kill_timeout']``; False: never). Returns self
        once the signal is sent; it does not wait for the end.

        Args:
            sig: the signal number.
            auto_sigkill: see above. Execo's name
                ``auto_force_kill_timeout`` is accepted too.
        """
        if "auto_force_kill_timeout" in kwargs:
            auto_sigkill = kwargs.pop("auto_force_kill_timeout")
        if kwargs:
            raise TypeError(f"kill() got unexpected arguments {sorted(kwargs)}")
        if self.started and not self.ended:
            _conductor_call(self._kill_on_conductor, sig, auto_sigkill)
        return self

    def _kill_on_conductor(self, sig: int, auto_sigkill: bool | Duration | None) -> None:
        child = self._child
        if child is None or self.ended:
            return
        conductor = get_conductor()
        if not conductor.send_signal(child, sig, self._group_kill):
            return
        self.killed = True
        log.debug("sent %s to %s", _signal_name(sig), self.name)
        emit("killed", self)
        delay = _sigkill_delay(sig, auto_sigkill)
        if delay is not None:
            self._timers.append(conductor.call_later(delay, self._force_kill))

    def _force_kill(self) -> None:
        child = self._child
        if child is not None and not self.ended and child.alive:
            self.forced_kill = True
            log.debug("SIGTERM ignored, sending SIGKILL to %s", self.name)
            get_conductor().send_signal(child, signal.SIGKILL, True)

    # ---------------------------------------------------------------- stdin
    def write(self, data: str | bytes) -> Process:
        """Write to the process's stdin (queued; never blocks).

        Strings are encoded as UTF-8. ``print(..., file=p)`` works. A failure
        (the process closed its stdin or ended) sets :attr:`write_error`.

        Raises:
            ValueError: the process was not started.
        """
        if not self.started:
            raise ValueError(f"write() before start() on {self!r}")
        payload = data.encode() if isinstance(data, str) else bytes(data)
        _conductor_call(self._write_on_conductor, payload)
        return self

    def _write_on_conductor(self, payload: bytes) -> None:
        if self._child is None or self.ended:
            self._note_write_error(BrokenPipeError("the process has ended"))
            return
        get_conductor().write(self._child, payload)

    def flush(self) -> None:
        """Nothing to do (writes are queued at once); for ``print(file=p)``."""

    def close_stdin(self) -> Process:
        """Close stdin once queued writes are done (the process sees EOF).

        With ``pty=True`` an end-of-file character (^D) is sent instead.
        """
        if self.started and not self.ended:
            _conductor_call(self._close_stdin_on_conductor)
        return self

    def _close_stdin_on_conductor(self) -> None:
        if self._child is not None and not self.ended:
            get_conductor().close_stdin(self._child)

    # ------------------------------------------------------------------ reset
    def reset(self) -> Process:
        """Make the process startable again: kill it if running, wait for its
        end, then clear its state (handlers and options are kept)."""
        if self.running:
            self.kill()
            self.wait()

        def do_reset() -> None:
            self._call_lifecycle("reset")
            self._init_state()
            emit("reset", self)

        _conductor_call(do_reset)
        return self


class _Observer:
    """Adapts conductor events to a process (the declared protocol)."""

    __slots__ = ("process",)

    def __init__(self, process: Process) -> None:
        self.process = process

    def on_output(self, stream: int, data: bytes) -> None:
        self.process._emit_output(Stream(stream), data, eof=False)

    def on_eof(self, stream: int) -> None:
        self.process._emit_output(Stream(stream), b"", eof=True)

    def on_exited(self, status: int) -> None:
        if os.WIFSIGNALED(status):
            self.process._set_ended(exit_signal=os.WTERMSIG(status))
        else:
            self.process._set_ended(exit_code=os.waitstatus_to_exitcode(status))

    def on_write_error(self, exc: OSError) -> None:
        self.process._note_write_error(exc)


def _sigkill_delay(sig: int, auto_sigkill: bool | Duration | None) -> float | None:
    """Seconds before SIGKILL follows ``sig``, or None for no escalation."""
    if sig not in (signal.SIGTERM, signal.SIGINT) or auto_sigkill in (False, None):
        return None
    if auto_sigkill is True:
        return float(configuration["kill_timeout"])
    return float(get_seconds(auto_sigkill) or 0)


def _conductor_call(fn: Callable[..., Any], *args: Any) -> Any:
    return get_conductor().call(fn, *args)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _as_list(regexes: Regexes) -> list[Any]:
    return [regexes] if isinstance(regexes, str | re.Pattern) else list(regexes)


class _Lazy:
    """Formats on demand, so disabled log levels cost nothing."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], str]) -> None:
        self.fn = fn

    def __str__(self) -> str:
        return self.fn()


def _tail(text: str, lines: int = 10) -> str:
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) if kept else "    (empty)"


class _EndReport:
    """The one warning a failed process logs, formatted lazily."""

    __slots__ = ("p",)

    def __init__(self, p: ProcessBase) -> None:
        self.p = p

    def __str__(self) -> str:
        p = self.p
        where = f" on {p.host}" if p.host is not None else ""
        duration = (
            format_duration(p.end_date - p.start_date, showms=True)
            if p.end_date is not None and p.start_date is not None
            else "?"
        )
        return (
            f"{type(p).__name__} {p.name!r}{where} failed: {p.failure_reason()} "
            f"after {duration}\n  command: {_cmd_text(p.cmd)}\n"
            f"  stdout (tail):\n{_tail(p.stdout)}\n  stderr (tail):\n{_tail(p.stderr)}"
        )
