"""SerialSsh: a serial console of a remote host, through ssh.

Nothing but POSIX ``sh`` and ``stty`` (GNU coreutils or busybox) is needed on
the remote host; pyserial is not. The remote command configures the device
with ``stty -F`` and bridges it to ssh's stdin and stdout:

- with ``socat`` when the host has it: ``socat - OPEN:DEV,noctty``. It ends
  on its own when the device hangs up, and 0.5 s after its stdin closes;
- else with two ``cat``: ``cat DEV & cat > DEV`` (Execo's trick), whose
  reader is killed when the writer ends, so that nothing stays behind on the
  remote host. A hang-up is then noticed at the next write only.

ssh runs without a pseudo-terminal (``-T``), so bytes pass unchanged both
ways. ``kill()`` closes ssh's stdin: the bridge sees end of file and the
remote command exits 0, which leaves the console ok, as a local
:class:`~procession.Serial`; when it does not end within
:data:`CLOSE_GRACE` seconds, SshProcess's own kill (the remote process group
is signalled) takes over.
"""

from __future__ import annotations

import re
import shlex
import signal
from collections.abc import Mapping
from typing import Any, Final

from .._conductor import get_conductor
from .._log import get_logger
from .._process import Stream
from .._process._serial import check_serial_options, serial_cmd, serial_name
from .._time import Duration
from ._framing import wrap_command
from ._host import Host, HostLike
from ._sshprocess import SshProcess

__all__ = ["CLOSE_GRACE", "CONNECT_GRACE", "SerialSsh", "serial_bridge_script"]

log: Final = get_logger("remote")

CLOSE_GRACE: Final = 3.0
"""Seconds ``kill()`` waits for the remote bridge to end after closing its
stdin, before signalling the remote process group (socat needs 0.5 s)."""
CONNECT_GRACE: Final = 30.0
"""Seconds ``kill()`` lets ssh connect when it is called before the remote
bridge started; :data:`CLOSE_GRACE` counts from the start of the bridge."""

_OPEN_FAILED: Final = 111
_OPEN_FAILED_MARK: Final = "procession-serial: "
# Paths socat's address syntax takes as they are (no ',', ':', '!', quotes, spaces).
_SOCAT_SAFE: Final = re.compile(r"^[A-Za-z0-9_./+@%=-]+$")
_PARITY_STTY: Final = {
    "N": "-parenb",
    "E": "parenb -parodd -cmspar",
    "O": "parenb parodd -cmspar",
    "M": "parenb parodd cmspar",
    "S": "parenb -parodd cmspar",
}
_BRIDGES: Final = ("auto", "socat", "cat")


def _stty_settings(
    speed: int, bytesize: int, parity: str, stopbits: float, rtscts: bool, xonxoff: bool
) -> str:
    # The same line as pyserial sets up locally: raw, no echo, no translation
    # of line ends; clocal so that opening never waits for a carrier.
    settings = [
        str(speed),
        "raw",
        "-echo -echoe -echok -echonl -echoctl -echoke -iexten",
        "-opost -onlcr -ocrnl -icrnl -inlcr -igncr",
        "clocal cread",
        f"cs{bytesize}",
        _PARITY_STTY[parity],
        "cstopb" if stopbits == 2 else "-cstopb",
        "crtscts" if rtscts else "-crtscts",
        "ixon ixoff" if xonxoff else "-ixon -ixoff",  # after raw, which clears them
    ]
    return " ".join(settings)


def serial_bridge_script(
    device: str,
    speed: int = 115200,
    bytesize: int = 8,
    parity: str = "N",
    stopbits: float = 1,
    rtscts: bool = False,
    xonxoff: bool = False,
    bridge: str = "auto",
) -> str:
    """The POSIX ``sh`` script that configures ``device`` and bridges it to
    stdin and stdout (see the module documentation).

    It exits 111 after a line ``procession-serial: cannot open serial device:
    MESSAGE`` on stderr when the device cannot be configured (or socat was
    required and is missing), and 0 when the bridge ends.
    """
    dev = shlex.quote(device)
    fail = f"printf '{_OPEN_FAILED_MARK}%s\\n' \"$m\" >&2; exit {_OPEN_FAILED}"
    lines = [
        f"m=$(stty -F {dev} {_stty_settings(speed, bytesize, parity, stopbits, rtscts, xonxoff)}"
        " 2>&1 </dev/null) || { " + fail + "; }",
    ]
    use_socat = bridge != "cat" and _SOCAT_SAFE.match(device) is not None
    if bridge == "socat" and not use_socat:
        raise ValueError(f"socat cannot take the device path {device!r}; use bridge='cat'")
    if use_socat:
        socat = f"socat - OPEN:{device},noctty; exit 0"
        if bridge == "socat":
            lines.append(
                "command -v socat >/dev/null 2>&1 || { m='socat: not found'; " + fail + "; }"
            )
            lines.append(socat)
            return "\n".join(lines)
        lines.append(f"if command -v socat >/dev/null 2>&1; then {socat}; fi")
    # The reader must not outlive the writer (Execo's version leaves it behind).
    lines.append(f"cat {dev} & r=$!; cat > {dev}; kill $r 2>/dev/null; wait $r; exit 0")
    return "\n".join(lines)


class SerialSsh(SshProcess):
    """A serial console of a remote host, through ssh, with the face of a process.

    >>> with SerialSsh("node-1", "/dev/ttyUSB0", 115200).start() as console:  # doctest: +SKIP
    ...     console.write("\\r").expect("login: $", timeout=10)

    Args:
        host: the host the device is attached to (a :class:`Host` or an address).
        device: the serial device on that host.
        speed: bauds.
        connection_params: as for :class:`SshProcess`.
        bytesize: data bits, 5 to 8.
        parity: ``"N"``, ``"E"``, ``"O"``, ``"M"`` or ``"S"``.
        stopbits: 1 or 2 (``stty`` has no 1.5).
        rtscts: hardware (RTS/CTS) flow control.
        xonxoff: software (XON/XOFF) flow control.
        bridge: ``"auto"`` (socat when the host has it, else cat),
            ``"socat"`` or ``"cat"``.
        **kwargs: the options of :class:`SshProcess` and
            :class:`ProcessBase` (``timeout``, handlers, ``ignore_*``, ...);
            ``pty=True`` is refused: a remote terminal would echo and
            translate the bytes.

    Raises:
        ValueError: an impossible line setting, a bad ``bridge``, or ``pty=True``.

    The line is raw 8N1 without flow control by default. :attr:`cmd` is
    ``serial:HOST:DEVICE@SPEED``; :attr:`remote_script` is the script run
    on the host. A device that cannot be opened there ends the console in
    ``error``, with an ``error_reason`` naming the device and the host; an
    ssh failure too, as for any SshProcess.

    Threads: as :class:`SshProcess`; the methods may be called from any
    thread but the conductor's.

    Differences from Execo: the remote side is a script of its own (socat
    when present, and no ``cat`` left behind otherwise); ssh has no
    ``-tt``, so no byte is changed; ``kill()`` ends the console cleanly and
    it is ok, with exit code 0 (see :class:`~procession.Serial`).
    """

    def __init__(
        self,
        host: HostLike,
        device: str,
        speed: int = 115200,
        connection_params: Mapping[str, Any] | None = None,
        *,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        rtscts: bool = False,
        xonxoff: bool = False,
        bridge: str = "auto",
        **kwargs: Any,
    ) -> None:
        check_serial_options(speed, bytesize, parity, stopbits)
        if stopbits == 1.5:
            raise ValueError("stopbits=1.5 cannot be set with stty; use 1 or 2")
        if bridge not in _BRIDGES:
            raise ValueError(f"bridge must be one of {_BRIDGES}, not {bridge!r}")
        if kwargs.pop("pty", None):
            raise ValueError("SerialSsh cannot use pty=True: a remote terminal alters the bytes")
        self.device = str(device)
        self.speed = speed
        self.bytesize = bytesize
        self.parity = parity
        self.stopbits = stopbits
        self.rtscts = rtscts
        self.xonxoff = xonxoff
        self.bridge = bridge
        script = serial_bridge_script(
            self.device, speed, bytesize, parity, stopbits, rtscts, xonxoff, bridge
        )
        address = Host(host).address
        kwargs.setdefault("name", serial_name(self.device, speed, address))
        super().__init__(
            serial_cmd(self.device, speed, address), host, connection_params, pty=False, **kwargs
        )
        self.remote_script = script
        """The script run on the remote host (see :func:`serial_bridge_script`)."""
        self.remote_cmd = script

    def _init_state(self) -> None:
        super()._init_state()
        self._closing = False
        self._close_timer: Any = None
        self._close_signal: tuple[int, bool | Duration | None] = (signal.SIGTERM, True)
        self._writes_closed = False

    def __enter__(self) -> SerialSsh:
        """``with SerialSsh(...).start() as console:`` closes it at the end."""
        return self

    async def __aenter__(self) -> SerialSsh:
        return self

    # ---------------------------------------------------------- presentation
    def _remote_command(self) -> str:
        return wrap_command(self.remote_script)

    def _args_repr(self) -> list[str]:
        args = [repr(self.host), repr(self.device), repr(self.speed)]
        defaults = {"bytesize": 8, "parity": "N", "stopbits": 1, "bridge": "auto"}
        for key, default in defaults.items():
            if getattr(self, key) != default:
                args.append(f"{key}={getattr(self, key)!r}")
        args += [f"{flag}=True" for flag in ("rtscts", "xonxoff") if getattr(self, flag)]
        args += self._kwargs_repr()
        if self.connection_params:
            args.append(f"connection_params={self.connection_params!r}")
        return args

    # -------------------------------------------------------------- the end
    def _set_ended(
        self,
        exit_code: int | None = None,
        exit_signal: int | None = None,
        error_reason: str | None = None,
    ) -> None:
        if error_reason is None and exit_code == _OPEN_FAILED:
            reason = self._open_failure()
            if reason is not None:
                error_reason, exit_code = reason, None
        super()._set_ended(exit_code, exit_signal, error_reason)

    def _open_failure(self) -> str | None:
        said = self._stderr_tail.decode("utf-8", "replace")
        found = [line for line in said.splitlines() if line.startswith(_OPEN_FAILED_MARK)]
        if not found:
            return None
        message = found[-1][len(_OPEN_FAILED_MARK) :].strip()
        # "stty: /dev/ttyX: No such file or directory": the device is named already.
        for prefix in (f"stty: {self.device}: ", f"stty: '{self.device}': "):
            message = message.removeprefix(prefix)
        return f"cannot open serial device {self.device} on {self.host.address}: {message}"

    # ---------------------------------------------------------------- kill
    def kill(
        self, sig: int = signal.SIGTERM, auto_sigkill: bool | Duration = True, **kwargs: Any
    ) -> SerialSsh:
        """Close the console: ssh's stdin is closed, the remote bridge ends
        and the console ends with exit code 0, ok (after writes still queued
        are sent). Returns at once; :meth:`wait` for the end.

        If it has not ended :data:`CLOSE_GRACE` seconds later (counted from
        the start of the remote bridge when ssh was still connecting, for at
        most :data:`CONNECT_GRACE` seconds), or when
        called again, or for a signal other than SIGTERM, SIGINT or SIGHUP,
        ``sig`` goes to the remote process group (or to ssh while it still
        connects) as for :meth:`SshProcess.kill`; then the console is not
        ok: it did not close cleanly.
        """
        super().kill(sig, auto_sigkill, **kwargs)
        return self

    def _kill_on_conductor(self, sig: int, auto_sigkill: bool | Duration | None) -> None:
        child = self._child
        if child is None or self.ended:
            return
        graceful = sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        # Not connected yet: the remote bridge will still see end of file as
        # soon as it starts (or the grace timer signals a connection that hangs).
        if self._closing or not graceful:
            super()._kill_on_conductor(sig, auto_sigkill)
            return
        self._closing = True
        self.killed = True
        log.debug("%s: closing the console (stdin of ssh)", self.name)
        get_conductor().close_stdin(child)
        self._close_signal = (sig, auto_sigkill)
        self._arm_close_timer(CLOSE_GRACE if self.connected else CONNECT_GRACE)

    def _arm_close_timer(self, delay: float) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._close_timer = get_conductor().call_later(delay, self._close_timed_out, delay)
        self._timers.append(self._close_timer)

    def _close_timed_out(self, delay: float) -> None:
        if not self.ended:
            log.debug("%s: still open %ss after closing; signalling it", self.name, delay)
            super()._kill_on_conductor(*self._close_signal)

    def _emit_output(self, stream: Stream, data: bytes, eof: bool, error: bool = False) -> None:
        was_connected = self.connected
        super()._emit_output(stream, data, eof, error)
        if self._closing and not was_connected and self.connected:
            # Closed before the bridge started: from now on it has CLOSE_GRACE.
            self._arm_close_timer(CLOSE_GRACE)

    # -------------------------------------------------------------- writing
    def _write_on_conductor(self, payload: bytes) -> None:
        if self._writes_closed and not self.ended:
            self._note_write_error(BrokenPipeError("close_stdin() was called"))
            return
        super()._write_on_conductor(payload)

    def close_stdin(self) -> SerialSsh:
        """Refuse further writes; reading goes on (as :meth:`Serial.close_stdin`:
        to end the console, use :meth:`kill`)."""
        if self.started and not self.ended:
            get_conductor().call(setattr, self, "_writes_closed", True)
        return self
