"""SshProcess, PortForwarder and get_process.

A remote process is a :class:`Process` whose command line is built here: the
user's own OpenSSH client runs the command, so ``~/.ssh/config``, agents,
ProxyJump and keys made with ``ssh-keygen`` all work.

Ending a remote command without a pty. Execo passes ``-tt`` so that killing
ssh hangs up the remote command; that turns every line ending into ``\\r\\n``
and mixes ssh's messages into the output. procession instead has the remote
login shell print its process group id on stderr first (a line the user
never sees), and ``kill()`` signals that whole group on the remote host
through a second, multiplexed ssh command. Output stays byte-exact and no
remote process is left behind.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Self

from .._conductor import get_conductor
from .._errors import ProcessesFailed
from .._log import get_logger
from .._process import STDERR, STDOUT, Process, Stream, name_from_cmdline
from .._process._instruments import emit
from .._process._process import _sigkill_delay
from .._time import Duration, get_seconds
from ._framing import RemoteFraming, wrap_command
from ._host import Host, HostLike
from ._params import make_connection_params
from ._ssh import classify_ssh_failure, ssh_argv

__all__ = ["PortForwarder", "SshProcess", "get_process"]

log: Final = get_logger("remote")

_TAIL: Final = 4096
REMOTE_KILL_GRACE: Final = 2.0
"""Seconds to let ssh return after the remote group was signalled, before the
local ssh client is signalled too (a host that no longer answers)."""


class SshProcess(Process):
    """A command run on a remote host through ssh, with every Process feature.

    >>> p = SshProcess("hostname", "node-1").run()     # doctest: +SKIP
    >>> p.ok, p.exit_code, p.stdout                     # doctest: +SKIP
    (True, 0, 'node-1\\n')

    Args:
        cmd: the remote command: a string given to the remote login shell,
            or an argv list (quoted for it).
        host: a :class:`Host` or an address.
        connection_params: overrides of ``default_connection_params`` for
            this process; the host's own fields override both.
        pty: allocate a remote pseudo-terminal (``ssh -tt``) for interactive
            programs; line endings then become ``\\r\\n``, as on any
            terminal. Default: ``connection_params['pty']``.
        **kwargs: the options of :class:`Process` (timeout, handlers,
            ``ignore_*``, ``nolog_*``, ...).

    State beyond Process: ``connected`` (the remote command started),
    ``remote_pgid``. A failure to connect (refused, timeout, authentication,
    unknown host) ends the process in ``error`` with ssh's message in
    ``error_reason`` and no exit code: ssh's own 255 is never reported as
    the command's exit code. A connection lost while the command ran is an
    error too.

    Differences from Execo: no ``-tt`` by default, and ``kill()`` still ends
    the remote command and its children (see the module documentation).
    """

    def __init__(
        self,
        cmd: str | Sequence[str],
        host: HostLike,
        connection_params: Mapping[str, Any] | None = None,
        pty: bool | None = None,
        **kwargs: Any,
    ) -> None:
        for local_only in ("shell", "kill_subprocesses"):
            if kwargs.pop(local_only, None):
                raise ValueError(f"{local_only}=True has no meaning for a remote process")
        self._params = make_connection_params(connection_params)
        kwargs.setdefault("name", name_from_cmdline(cmd))
        self.host = Host(host)
        super().__init__(cmd, **kwargs)
        self.connection_params = dict(connection_params) if connection_params else None
        self.remote_cmd = cmd
        self.tty = bool(self._params.get("pty") if pty is None else pty)

    def _init_state(self) -> None:
        super()._init_state()
        self.connected = False
        """The remote command was seen starting."""
        self.remote_pgid: int | None = None
        """Process group of the remote command, on the remote host."""
        self._framing: RemoteFraming | None = RemoteFraming()
        self._stderr_tail = b""
        self._sent_signal: int | None = None
        self._helpers: list[Process] = []

    # ------------------------------------------------------------ command
    def _remote_command(self) -> str:
        text = self.cmd if isinstance(self.cmd, str) else shlex.join(self.cmd)
        return wrap_command(text)

    def _argv(self) -> list[str]:
        return ssh_argv(self.host, self._remote_command(), self._params, tty=self.tty)

    @property
    def real_cmd(self) -> list[str]:
        """The ssh command line actually run (for logs and debugging)."""
        return self._argv()

    def _args_repr(self) -> list[str]:
        args = [repr(self.remote_cmd), repr(self.host), *self._kwargs_repr()]
        if self.connection_params:
            args.append(f"connection_params={self.connection_params!r}")
        return args

    def _infos(self) -> list[str]:
        return [*super()._infos(), f"connected={self.connected}"]

    # -------------------------------------------------- output interception
    def _emit_output(self, stream: Stream, data: bytes, eof: bool, error: bool = False) -> None:
        framing = self._framing
        if framing is not None and stream == (STDOUT if self.tty else STDERR):
            data = framing.feed(data, eof)
            if framing.started and not self.connected:
                self.connected = True
                self.remote_pgid = framing.pgid
                log.debug("%s: remote command started, group %s", self.name, framing.pgid)
            if not data and not eof:
                return
        if stream == STDERR and data:
            self._stderr_tail = (self._stderr_tail + data)[-_TAIL:]
        super()._emit_output(stream, data, eof, error)

    # ----------------------------------------------------------------- end
    def _set_ended(
        self,
        exit_code: int | None = None,
        exit_signal: int | None = None,
        error_reason: str | None = None,
    ) -> None:
        framing = self._framing
        if error_reason is None and exit_code == 255:
            if framing is not None and framing.exit_status is not None:
                exit_code = framing.exit_status  # the command's own status
            elif self.killed and self.connected and self._sent_signal is not None:
                # ssh exits 255 when the remote command dies of a signal.
                exit_signal, exit_code = self._sent_signal, None
            else:
                before = framing is not None and not self.connected
                said = framing.before_start if framing is not None and before else self._stderr_tail
                error_reason = classify_ssh_failure(said.decode("utf-8", "replace"), self.connected)
                exit_code = None
        super()._set_ended(exit_code, exit_signal, error_reason)

    # ---------------------------------------------------------------- kill
    def _kill_on_conductor(self, sig: int, auto_sigkill: bool | Duration | None) -> None:
        child = self._child
        if child is None or self.ended:
            return
        if not (self.connected and self.remote_pgid):
            # Not started remotely yet: ending the local ssh is enough.
            super()._kill_on_conductor(sig, auto_sigkill)
            self._sent_signal = sig
            return
        self.killed = True
        self._sent_signal = sig
        emit("killed", self)
        self._signal_remote_group(sig)
        conductor = get_conductor()
        self._timers.append(conductor.call_later(REMOTE_KILL_GRACE, self._signal_local, sig))
        delay = _sigkill_delay(sig, auto_sigkill)
        if delay is not None:
            self._timers.append(conductor.call_later(delay, self._force_kill))

    def _signal_remote_group(self, sig: int) -> None:
        """Conductor thread: signal the remote process group over a second ssh."""
        helper = Process(
            ssh_argv(
                self.host,
                f"kill -{int(sig)} -- -{self.remote_pgid} 2>/dev/null; exit 0",
                self._params,
            ),
            name=f"signal {int(sig)} to {self.name}",
            timeout=30,
            nolog_exit_code=True,
            nolog_error=True,
            nolog_timeout=True,
        )
        self._helpers.append(helper)
        helper.start()

    def _signal_local(self, sig: int) -> None:
        child = self._child
        if child is not None and not self.ended:
            log.debug("%s: still running after the remote signal; signalling ssh", self.name)
            get_conductor().send_signal(child, sig, False)

    def _force_kill(self) -> None:
        if self.ended:
            return
        self.forced_kill = True
        self._sent_signal = signal.SIGKILL
        if self.connected and self.remote_pgid:
            self._signal_remote_group(signal.SIGKILL)
            self._timers.append(
                get_conductor().call_later(REMOTE_KILL_GRACE, self._signal_local, signal.SIGKILL)
            )
        else:
            self._signal_local(signal.SIGKILL)


class PortForwarder(SshProcess):
    """Forward a local TCP port to ``remote_host:remote_port`` through ssh.

    ``start()`` returns once the local port accepts connections (the
    ``forwarding`` event is then set), or with the process in error and a
    clear ``error_reason`` after ``connection_params['forwarding_timeout']``
    seconds. As a context manager it starts, and raises
    :class:`ProcessesFailed` when forwarding could not be set up.

    Args:
        host: the ssh server through which to forward.
        remote_host: where connections go, as seen from ``host``.
        remote_port: the port there.
        local_port: the local port (default: a free one, see ``local_port``).
        bind_address: local address to listen on (default 127.0.0.1).
        connection_params: as for :class:`SshProcess`.
    """

    def __init__(
        self,
        host: HostLike,
        remote_host: HostLike,
        remote_port: int,
        local_port: int | None = None,
        bind_address: str | None = None,
        connection_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.remote_host = Host(remote_host).address
        self.remote_port = int(remote_port)
        self.bind_address = bind_address or "127.0.0.1"
        self.local_port = local_port or _free_port(self.bind_address)
        kwargs.setdefault("ignore_exit_code", True)
        kwargs.setdefault("nolog_exit_code", True)
        super().__init__(
            f"forward {self.bind_address}:{self.local_port} -> "
            f"{self.remote_host}:{self.remote_port}",
            host,
            connection_params,
            **kwargs,
        )
        self.forwarding = threading.Event()
        """Set once the local port accepts connections."""

    def _init_state(self) -> None:
        super()._init_state()
        self._framing = None  # no remote command: nothing to strip
        if hasattr(self, "forwarding"):
            self.forwarding.clear()

    def _argv(self) -> list[str]:
        spec = f"{self.bind_address}:{self.local_port}:{self.remote_host}:{self.remote_port}"
        argv = ssh_argv(
            self.host,
            "",
            self._params,
            extra=("-N", "-L", spec, "-o", "ExitOnForwardFailure=yes"),
            reuse=False,  # a forwarding owned by a shared master would outlive kill()
        )
        return argv[:-1]  # no remote command with -N

    def _args_repr(self) -> list[str]:
        return [
            repr(self.host),
            repr(self.remote_host),
            repr(self.remote_port),
            f"local_port={self.local_port!r}",
            f"bind_address={self.bind_address!r}",
        ]

    def _kill_on_conductor(self, sig: int, auto_sigkill: bool | Duration | None) -> None:
        Process._kill_on_conductor(self, sig, auto_sigkill)

    def _ready(self) -> bool:
        try:
            with socket.create_connection((self.bind_address, self.local_port), timeout=1):
                return True
        except OSError:
            return False

    def _forwarding_timeout(self) -> float:
        return float(get_seconds(self._params.get("forwarding_timeout")) or 25)

    def _not_ready(self) -> None:
        def fail() -> None:
            if not self.ended:
                self.error = True
                self.error_reason = (
                    f"port forwarding {self.bind_address}:{self.local_port} -> "
                    f"{self.remote_host}:{self.remote_port} through {self.host.address} "
                    f"not ready after {self._forwarding_timeout():g} s"
                )

        get_conductor().call(fail)
        self.kill()

    def _port_in_use(self) -> bool:
        """Whether something else already listens on the local port.

        Checked before starting: a connect test alone would take another
        program's listener for our forwarding.
        """
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((self.bind_address, self.local_port))
            except OSError:
                return True
        return False

    def _fail_before_start(self, reason: str) -> None:
        def fail() -> None:
            self._set_started()
            self._set_ended(error_reason=reason)

        get_conductor().call(fail)

    def start(self) -> Self:
        """Start ssh and wait until the local port accepts connections."""
        if self.started:
            return self
        if self._port_in_use():
            self._fail_before_start(
                f"local port {self.bind_address}:{self.local_port} is already in use"
            )
            return self
        super().start()
        deadline = time.monotonic() + self._forwarding_timeout()
        while not self.ended and time.monotonic() < deadline:
            if self._ready():
                self.forwarding.set()
                return self
            time.sleep(0.05)
        if not self.ended:
            self._not_ready()
        return self

    async def start_async(self) -> Self:
        """:meth:`start`, awaited without blocking the loop."""
        if self.started:
            return self
        if self._port_in_use():
            self._fail_before_start(
                f"local port {self.bind_address}:{self.local_port} is already in use"
            )
            return self
        await super().start_async()
        deadline = time.monotonic() + self._forwarding_timeout()
        while not self.ended and time.monotonic() < deadline:
            if await asyncio.to_thread(self._ready):
                self.forwarding.set()
                return self
            await asyncio.sleep(0.05)
        if not self.ended:
            self._not_ready()
        return self

    def __enter__(self) -> PortForwarder:
        """Start and wait for the forwarding; raise if it failed."""
        self.start()
        if not self.forwarding.is_set():
            self.kill()
            if self.started:
                self.wait()
            raise ProcessesFailed([self])
        return self


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def get_process(*args: Any, **kwargs: Any) -> Process:
    """A :class:`Process`, or an :class:`SshProcess` when ``host`` is given.

    ``host=None`` and ``connection_params`` are dropped for local processes,
    as in Execo.
    """
    if kwargs.get("host") is not None:
        return SshProcess(*args, **kwargs)
    kwargs.pop("host", None)
    kwargs.pop("connection_params", None)
    return Process(*args, **kwargs)
