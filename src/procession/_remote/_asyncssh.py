"""An in-process ssh engine: asyncssh, behind the SshProcess interface.

``AsyncSshProcess`` has the state, handlers, expect, write, timeout and kill
of every process, but no local ssh child: the SSH protocol runs in this
interpreter, on one asyncio loop in one background thread
(``procession-asyncssh``, started on first use) that serves every
connection. One connection per (host, port, user, key) is opened on first
use and kept, so later commands to the same host open only a channel.

Threads: asyncssh's callbacks run on the asyncssh thread and only hand
events to the conductor (``call_soon``); every state change happens on the
conductor thread, as for any process.

Honoured from the connection parameters: ``user``, ``port``, ``keyfile``,
and in ``ssh_options``: ``-F CONFIG`` (read by asyncssh as far as it
supports OpenSSH's format), ``StrictHostKeyChecking=no`` (no known_hosts
check) and ``ConnectTimeout``. Requires the ``asyncssh`` extra.
"""

from __future__ import annotations

import asyncio
import atexit
import signal
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Self

from .._conductor import get_conductor
from .._log import get_logger
from .._process import STDERR, STDOUT, ProcessBase, Stream, name_from_cmdline
from .._process._instruments import emit
from .._process._process import _sigkill_delay
from .._time import Duration
from ._framing import RemoteFraming, wrap_command
from ._host import Host, HostLike
from ._params import effective_login, make_connection_params, rewritten_address

__all__ = ["AsyncSshProcess", "engine_loop", "stop_engine"]

log: Final = get_logger("remote")

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
_connections: dict[tuple[Any, ...], asyncio.Future[Any]] = {}


_thread: threading.Thread | None = None


def engine_loop() -> asyncio.AbstractEventLoop:
    """The asyncssh thread's loop (started on first use)."""
    global _loop, _thread
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            # Name resolution runs in the loop's executor: one thread, so that
            # the thread count does not grow with the number of hosts.
            loop.set_default_executor(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="procession-asyncssh-dns")
            )
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=run, name="procession-asyncssh", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
            atexit.register(stop_engine)
        return _loop


def stop_engine(timeout: float = 10.0) -> None:
    """Close every kept connection and stop the engine's thread.

    Called at interpreter exit; the engine starts again on next use.
    """
    global _loop, _thread
    with _loop_lock:
        loop, thread, _loop, _thread = _loop, _thread, None, None
    if loop is None or thread is None:
        return

    async def close_all() -> None:
        conns = [f.result() for f in _connections.values() if f.done() and not f.exception()]
        _connections.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()
        await loop.shutdown_default_executor()

    try:
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout)
    except Exception as exc:  # a connection that does not close cleanly
        log.debug("asyncssh engine: closing connections: %s", exc)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout)
    loop.close()


def _options(params: Mapping[str, Any]) -> dict[str, Any]:
    opts = list(params.get("ssh_options") or ())
    out: dict[str, Any] = {}
    for i, opt in enumerate(opts):
        nxt = opts[i + 1] if i + 1 < len(opts) else ""
        if opt == "-F" and "config" not in out:
            out["config"] = [nxt]
        elif opt == "-o":
            key, _, value = nxt.partition("=")
            if key == "StrictHostKeyChecking" and value == "no" and "known_hosts" not in out:
                out["known_hosts"] = None
            elif key == "ConnectTimeout" and "connect_timeout" not in out:
                out["connect_timeout"] = float(value)
    return out


def _asyncssh() -> Any:
    """The asyncssh module (the optional extra, imported on first use)."""
    try:
        import asyncssh  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            "the in-process ssh engine (AsyncSshProcess, remote tool ASYNCSSH) needs asyncssh:"
            " pip install 'procession[asyncssh]'"
        ) from exc
    return asyncssh


def connect_failure(exc: BaseException) -> str:
    """The error reason of a process whose connection could not be made because of ``exc``.

    It names the real exception type. A :class:`Warning` raised as an exception is not the
    host's fault: the caller's warnings filters (``-W error``, pytest's ``error``) turned a
    library's warning into an error, and the reason says so, with the filter that lets it be.
    """
    kind = type(exc)
    name = f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")
    if isinstance(exc, ImportError) and "procession[asyncssh]" in str(exc):
        return str(exc)
    if isinstance(exc, Warning):
        return (
            f"ssh could not connect: a warning was raised as an error by the warnings filters"
            f" ({name}: {exc}); it is not a connection failure: let it be a warning, e.g."
            f" warnings.filterwarnings('ignore', category={kind.__qualname__})"
        )
    return f"ssh could not connect: {name}: {exc}".rstrip(": ")


async def _connection(host: Host, params: Mapping[str, Any]) -> Any:
    asyncssh = _asyncssh()
    user, keyfile, port = effective_login(host, params)
    address = rewritten_address(host, params)
    opts = _options(params)
    key = (address, port, user, keyfile, tuple(opts.get("config", ())))
    fut = _connections.get(key)
    if fut is None or (fut.done() and (fut.exception() is not None or fut.result().is_closed())):
        fut = asyncio.get_running_loop().create_future()
        _connections[key] = fut
        kwargs: dict[str, Any] = dict(opts)
        if user:
            kwargs["username"] = user
        if port:
            kwargs["port"] = port
        if keyfile:
            kwargs["client_keys"] = [keyfile]
        try:
            conn = await asyncssh.connect(address, **kwargs)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "never retrieved" warning
            raise
        fut.set_result(conn)
    return await asyncio.shield(fut)


_session_class: Any = None


def _make_session(process: AsyncSshProcess) -> Any:
    """An asyncssh session whose callbacks hand events to the conductor."""
    global _session_class
    if _session_class is None:
        _asyncssh()  # the optional extra: a clear error without it
        import asyncssh  # noqa: PLC0415

        class _Session(asyncssh.SSHClientSession[bytes]):
            """asyncssh session callbacks → conductor events (asyncssh thread)."""

            def __init__(self, p: AsyncSshProcess) -> None:
                self.p = p
                self.exit_status: int | None = None
                self.exit_signal: str | None = None

            def data_received(self, data: bytes, datatype: int | None) -> None:
                stream = STDERR if datatype == asyncssh.EXTENDED_DATA_STDERR else STDOUT
                get_conductor().call_soon(self.p._emit_output, stream, data, False)

            def exit_status_received(self, status: int) -> None:
                self.exit_status = status

            def exit_signal_received(self, signal_name: str, *args: Any) -> None:
                self.exit_signal = signal_name

            def connection_lost(self, exc: Exception | None) -> None:
                get_conductor().call_soon(
                    self.p._channel_closed, self.exit_status, self.exit_signal, exc
                )

        _session_class = _Session
    return _session_class(process)


class AsyncSshProcess(ProcessBase):
    """A remote command over the in-process ssh engine (see the module doc).

    Args:
        cmd: the remote command (a string for the remote shell, or argv).
        host: a :class:`Host` or an address.
        connection_params: overrides of ``default_connection_params``.
        **kwargs: the options of :class:`ProcessBase`.

    State beyond ProcessBase: ``connected``, ``remote_pgid``; a failure to
    connect is ``error`` with asyncssh's message, as for SshProcess.
    """

    def __init__(
        self,
        cmd: str | Sequence[str],
        host: HostLike,
        connection_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.host = Host(host)
        self._params = make_connection_params(connection_params)
        self.connection_params = dict(connection_params) if connection_params else None
        kwargs.setdefault("name", name_from_cmdline(cmd))
        super().__init__(cmd, **kwargs)

    def _init_state(self) -> None:
        super()._init_state()
        self.connected = False
        self.remote_pgid: int | None = None
        self._framing = RemoteFraming()
        self._channel: Any = None
        self._sent_signal: int | None = None

    def _args_repr(self) -> list[str]:
        return [repr(self.cmd), repr(self.host), *self._kwargs_repr()]

    def _emit_output(self, stream: Stream, data: bytes, eof: bool, error: bool = False) -> None:
        if stream == STDERR:
            data = self._framing.feed(data, eof)
            if self._framing.started and not self.connected:
                self.connected = True
                self.remote_pgid = self._framing.pgid
            if not data and not eof:
                return
        super()._emit_output(stream, data, eof, error)

    # ------------------------------------------------------------- start
    def start(self) -> Self:
        """Start the command; returns at once (the connection is made in
        the background; a failure ends the process in error)."""
        if self.started:
            return self
        get_conductor().call(self._start_on_conductor)
        return self

    def _start_on_conductor(self) -> None:
        if self.started:
            return
        self._set_started()
        if self.timeout is not None:
            self._timers.append(get_conductor().call_later(self.timeout, self._on_timeout))
        self._call_lifecycle("start")
        text = self.cmd if isinstance(self.cmd, str) else " ".join(self.cmd)
        asyncio.run_coroutine_threadsafe(self._run(wrap_command(text)), engine_loop())

    async def _run(self, command: str) -> None:
        try:
            conn = await _connection(self.host, self._params)
            chan, _session = await conn.create_session(
                lambda: _make_session(self), command, encoding=None
            )
        except Exception as exc:
            get_conductor().call_soon(self._fail, connect_failure(exc))
            return
        self._channel = chan

    def _fail(self, reason: str) -> None:
        if not self.ended:
            self._set_ended(error_reason=reason)

    def _channel_closed(self, status: int | None, sig: str | None, exc: Exception | None) -> None:
        """Conductor thread: the channel is over."""
        if self.ended:
            return
        for stream in (STDOUT, STDERR):
            if stream not in self._eof:
                self._emit_output(stream, b"", eof=True)
        exit_status = self._framing.exit_status if self._framing.exit_status is not None else status
        if exit_status is not None and not (self.killed and self._framing.exit_status is None):
            self._set_ended(exit_code=exit_status)
        elif self.killed and self._sent_signal is not None:
            self._set_ended(exit_signal=self._sent_signal)
        elif sig is not None:
            signum = getattr(signal, f"SIG{sig}", None)
            self._set_ended(exit_signal=int(signum) if signum else None)
        else:
            detail = f": {exc}" if exc else ""
            self._set_ended(error_reason=f"ssh connection lost while the command ran{detail}")

    def _on_timeout(self) -> None:
        if not self.ended:
            self.timeouted = True
            emit("timeouted", self)
            self._kill_on_conductor(signal.SIGTERM, True)

    # -------------------------------------------------------------- kill
    def kill(
        self, sig: int = signal.SIGTERM, auto_sigkill: bool | Duration = True
    ) -> AsyncSshProcess:
        """Signal the remote command's process group; SIGKILL follows after
        SIGTERM/SIGINT as for every process."""
        if self.started and not self.ended:
            get_conductor().call(self._kill_on_conductor, sig, auto_sigkill)
        return self

    def _kill_on_conductor(self, sig: int, auto_sigkill: bool | Duration | None) -> None:
        if self.ended:
            return
        self.killed = True
        self._sent_signal = sig
        emit("killed", self)
        asyncio.run_coroutine_threadsafe(self._signal_remote(sig), engine_loop())
        delay = _sigkill_delay(sig, auto_sigkill)
        if delay is not None:
            self._timers.append(get_conductor().call_later(delay, self._force_kill))

    def _force_kill(self) -> None:
        if not self.ended:
            self.forced_kill = True
            self._sent_signal = signal.SIGKILL
            asyncio.run_coroutine_threadsafe(self._signal_remote(signal.SIGKILL), engine_loop())

    async def _signal_remote(self, sig: int) -> None:
        try:
            if self.remote_pgid:
                conn = await _connection(self.host, self._params)
                await conn.run(f"kill -{int(sig)} -- -{self.remote_pgid} 2>/dev/null; exit 0")
            if self._channel is not None and sig == signal.SIGKILL:
                self._channel.close()
        except Exception as exc:
            log.debug("%s: remote signal failed: %s", self.name, exc)
            if self._channel is not None:
                self._channel.close()

    # ------------------------------------------------------------- stdin
    def write(self, data: str | bytes) -> AsyncSshProcess:
        """Write to the remote command's stdin (queued)."""
        if not self.started:
            raise ValueError(f"write() before start() on {self!r}")
        payload = data.encode() if isinstance(data, str) else bytes(data)
        engine_loop().call_soon_threadsafe(self._write_now, payload)
        return self

    def _write_now(self, payload: bytes) -> None:
        if self._channel is None:
            # Not connected yet: retry shortly (a write before the channel).
            if not self.ended:
                engine_loop().call_later(0.01, self._write_now, payload)
            return
        self._channel.write(payload)

    def close_stdin(self) -> AsyncSshProcess:
        """Send EOF to the remote command's stdin."""
        engine_loop().call_soon_threadsafe(self._eof_now)
        return self

    def _eof_now(self) -> None:
        if self._channel is None:
            if not self.ended:
                engine_loop().call_later(0.01, self._eof_now)
            return
        self._channel.write_eof()

    def flush(self) -> None:
        """Nothing to do; for ``print(file=p)``."""

    def reset(self) -> AsyncSshProcess:
        """Kill and wait if running, then make it startable again."""
        if self.running:
            self.kill()
            self.wait()

        def do_reset() -> None:
            self._call_lifecycle("reset")
            self._init_state()

        get_conductor().call(do_reset)
        return self
