"""Serial: a serial console (a device's ``/dev/ttyS0``, ``/dev/ttyUSB0``) as a process.

The port is opened and configured with pyserial (the ``serial`` extra:
``pip install 'procession[serial]'``), then its descriptor is handed to the
conductor, which reads it (as stdout) and writes it (queued, like a child's
stdin) on its own thread, along with every other descriptor.

Descriptor ownership: pyserial's object is never handed over. ``start()``
opens the port with pyserial, configures it, takes ``os.dup()`` of its
descriptor and closes pyserial's object at once. The terminal settings belong
to the device, not to a descriptor, so they stay; the duplicate belongs to
the conductor alone, which closes it when the console ends. Nothing else can
close it behind the conductor's back (pyserial's ``close()`` or ``__del__``
would otherwise close a number the conductor still watches, or that the
kernel has meanwhile given to another file), and pyserial's two internal
cancel pipes are not kept open for the life of the console. On its way to
the conductor the descriptor travels in a ``_Handover`` that exactly one
party claims on the conductor thread, even if the caller stops waiting.
"""

from __future__ import annotations

import asyncio
import errno as errno_mod
import os
import signal
import termios
from typing import Any, Final, Self

from .._conductor import Child, get_conductor
from .._log import get_logger
from .._time import Duration
from ._handlers import STDOUT, Stream
from ._process import ProcessBase, _conductor_call

__all__ = ["SERIAL_PARITIES", "Serial", "check_serial_options", "serial_cmd", "serial_name"]

log: Final = get_logger("process")

SERIAL_PARITIES: Final = {"N": "none", "E": "even", "O": "odd", "M": "mark", "S": "space"}
"""Parity letters, as pyserial's ``PARITY_*`` constants."""
_BYTESIZES: Final = (5, 6, 7, 8)
_STOPBITS: Final = (1, 1.5, 2)


def check_serial_options(speed: int, bytesize: int, parity: str, stopbits: float) -> None:
    """Raise ValueError for line settings no serial port accepts (caller's thread)."""
    if isinstance(speed, bool) or not isinstance(speed, int) or speed <= 0:
        raise ValueError(f"speed must be a positive integer (bauds), not {speed!r}")
    if bytesize not in _BYTESIZES:
        raise ValueError(f"bytesize must be one of {_BYTESIZES}, not {bytesize!r}")
    if parity not in SERIAL_PARITIES:
        raise ValueError(f"parity must be one of {sorted(SERIAL_PARITIES)}, not {parity!r}")
    if stopbits not in _STOPBITS:
        raise ValueError(f"stopbits must be one of {_STOPBITS}, not {stopbits!r}")


def serial_cmd(device: str, speed: int, host: object = None) -> str:
    """The pseudo command line of a console: ``serial:[HOST:]DEVICE@SPEED``."""
    where = f"{host}:" if host is not None else ""
    return f"serial:{where}{device}@{speed}"


def serial_name(device: str, speed: int, host: object = None) -> str:
    """A short name for logs (at most 39 characters, as process names): the
    end of a long device path says more than its beginning."""
    full = serial_cmd(device, speed, host)
    if len(full) <= 39:
        return full
    return "serial:..." + full[-29:]


def _import_pyserial() -> Any:
    try:
        import serial  # type: ignore[import-untyped]  # noqa: PLC0415 (optional dependency)
    except ImportError as exc:
        raise ImportError(
            "procession.Serial needs pyserial: pip install 'procession[serial]'"
        ) from exc
    return serial


def _open_reason(device: str, exc: BaseException) -> str:
    # pyserial says "[Errno 2] could not open port X: [Errno 2] No such file or
    # directory: 'X'"; the errno alone says it better.
    code = getattr(exc, "errno", None)
    if code in (errno_mod.EAGAIN, errno_mod.EWOULDBLOCK) and "lock" in str(exc):
        return f"cannot open serial device {device}: locked by another exclusive user"
    if isinstance(code, int) and code in errno_mod.errorcode:
        return f"cannot open serial device {device}: {os.strerror(code)}"
    cause = exc.__context__  # pyserial wraps termios.error without chaining it
    if isinstance(cause, termios.error) and cause.args and cause.args[0] == errno_mod.ENOTTY:
        return f"cannot open serial device {device}: not a terminal"
    text = str(exc)
    return f"cannot open serial device {device}: {text[:1].lower()}{text[1:]}"


class Serial(ProcessBase):
    """A serial console, with the face of a process.

    Its input is :attr:`stdout` (and the stdout handlers and ``expect``);
    ``write()`` and ``print(..., file=serial)`` send to the device. It runs
    until ``kill()``, its ``timeout``, or a hang-up of the device.

    >>> with Serial("/dev/ttyUSB0", 115200).start() as console:  # doctest: +SKIP
    ...     console.write("\\r").expect("login: $", timeout=10)
    ...     console.write("root\\r").expect("Password: $", timeout=10)

    Args:
        device: the serial device (``/dev/ttyUSB0``, a pty, ...).
        speed: bauds.
        bytesize: data bits, 5 to 8.
        parity: ``"N"``, ``"E"``, ``"O"``, ``"M"`` or ``"S"``.
        stopbits: 1, 1.5 or 2.
        rtscts: hardware (RTS/CTS) flow control.
        xonxoff: software (XON/XOFF) flow control.
        exclusive: take an exclusive ``flock`` on the device, so that a
            second console opening it ends in error; held until the end.
        **kwargs: the state, handler and logging options of
            :class:`ProcessBase` (``timeout``, ``stdout_handlers``,
            ``default_expect_timeout``, ``name``, ...).

    Raises:
        ValueError: an impossible line setting (``bytesize=9``, ...).
        ImportError: pyserial is not installed.

    The line is raw 8N1 without flow control by default: no echo, no
    translation of line ends, every byte as is. Devices usually want
    ``"\\r"`` as the Enter key.

    Threads: the port is opened in the calling thread (``start_async``: in
    the loop's default executor), then read, written and closed on the
    conductor thread only. ``write()``, ``kill()`` and ``close_stdin()``
    hand their work to the conductor and may be called from any thread,
    handlers included; ``wait()`` and ``expect()`` block, so handlers must
    not call them (they raise ``ConductorBlockingCall``; use the
    ``*_async`` twins from a coroutine instead).

    The constructor's arguments are kept as attributes of the same names
    (``device``, ``speed``, ``bytesize``, ...).

    Differences from Execo: Execo's Serial is the shell command ``stty ...;
    cat DEV & cat > DEV``, a process killed at the end. This one opens the
    port itself (no ``stty`` or ``cat``, no child process). A device that
    cannot be opened ends in ``error`` with an ``error_reason`` naming it
    (Execo: a non-zero exit of ``stty``). The end is not an exit: a console
    ended by ``kill()`` or by a hang-up of the device has ``exit_code`` 0 and
    is ok (Execo counted a killed process ok too, while
    :class:`procession.Process` does not); only a timeout, an expect failure
    or a write error makes it not ok.
    """

    def __init__(
        self,
        device: str | os.PathLike[str],
        speed: int = 115200,
        *,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        rtscts: bool = False,
        xonxoff: bool = False,
        exclusive: bool = False,
        **kwargs: Any,
    ) -> None:
        check_serial_options(speed, bytesize, parity, stopbits)
        self.device = os.fspath(device)
        self.speed = speed
        self.bytesize = bytesize
        self.parity = parity
        self.stopbits = stopbits
        self.rtscts = rtscts
        self.xonxoff = xonxoff
        self.exclusive = exclusive
        _import_pyserial()  # a missing extra is an error of the caller, said at once
        kwargs.setdefault("name", serial_name(self.device, speed))
        super().__init__(serial_cmd(self.device, speed), **kwargs)

    def _init_state(self) -> None:
        super()._init_state()
        self._stream: Child | None = None
        self._writes_closed = False

    # ---------------------------------------------------------- presentation
    def _line_repr(self) -> list[str]:
        out = []
        defaults = {"bytesize": 8, "parity": "N", "stopbits": 1}
        for key, default in defaults.items():
            if getattr(self, key) != default:
                out.append(f"{key}={getattr(self, key)!r}")
        for flag in ("rtscts", "xonxoff", "exclusive"):
            if getattr(self, flag):
                out.append(f"{flag}=True")
        return out

    def _args_repr(self) -> list[str]:
        return [repr(self.device), repr(self.speed), *self._line_repr(), *self._kwargs_repr()]

    # --------------------------------------------------------------- starting
    def _open_port(self) -> tuple[int | None, str | None]:
        """Open and configure the port; return ``(fd, None)`` or ``(None, reason)``.

        Runs in the caller's thread (opening may block briefly). The fd is a
        duplicate that only the conductor will close (module docstring).
        """
        serial = _import_pyserial()
        try:
            port = serial.Serial(
                port=self.device,
                baudrate=self.speed,
                bytesize=self.bytesize,
                parity=self.parity,
                stopbits=self.stopbits,
                rtscts=self.rtscts,
                xonxoff=self.xonxoff,
                exclusive=self.exclusive or None,
                timeout=0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            return None, _open_reason(self.device, exc)
        try:
            return os.dup(port.fileno()), None  # non-inheritable, as every fd Python makes
        except OSError as exc:
            return None, _open_reason(self.device, exc)
        finally:
            port.close()

    def start(self) -> Self:
        """Open the port and start reading it; returns self at once.

        When ``start()`` returns, ``started`` is True, or the console has
        already ended with ``error`` and an ``error_reason`` naming the device
        (missing, permission denied, not a terminal, locked by another
        ``exclusive`` console). It never raises for a device problem. A
        second call does nothing. Called from a handler, it opens the port
        on the conductor thread (quick for a local device).
        """
        if self.started:
            return self
        handover = _Handover(*self._open_port())
        try:
            _conductor_call(self._start_on_conductor, handover)
        except BaseException:  # Ctrl-C while waiting: the queued start still runs
            get_conductor().call_soon(handover.discard)
            raise
        return self

    async def start_async(self) -> Self:
        """:meth:`start`, awaited from any asyncio loop (the port is opened
        in the loop's default executor, so the loop never blocks)."""
        if self.started:
            return self
        opened = await asyncio.get_running_loop().run_in_executor(None, self._open_port)
        handover = _Handover(*opened)
        try:
            await get_conductor().call_async(self._start_on_conductor, handover)
        except BaseException:  # cancelled: the queued start still runs
            get_conductor().call_soon(handover.discard)
            raise
        return self

    def _start_on_conductor(self, handover: _Handover) -> None:
        fd, reason = handover.claim()
        if self.started:  # a concurrent start() won
            if fd is not None:
                os.close(fd)
            return
        self._set_started()
        conductor = get_conductor()
        if fd is not None:
            try:
                self._stream = conductor.add_stream(fd, _SerialObserver(self))
            except OSError as exc:
                os.close(fd)
                fd, reason = None, _open_reason(self.device, exc)
        if fd is None:
            self._call_lifecycle("start")
            self._set_ended(error_reason=reason)
            return
        log.debug("opened %s at %d bauds", self.device, self.speed)
        if self.timeout is not None:
            self._timers.append(conductor.call_later(self.timeout, self._on_timeout))
        self._call_lifecycle("start")

    def _on_timeout(self) -> None:
        if not self.ended:
            self.timeouted = True
            log.debug("timeout after %ss: %s", self.timeout, self.name)
            self._close_on_conductor()

    # ---------------------------------------------------------------- killing
    def kill(
        self, sig: int = signal.SIGTERM, auto_sigkill: bool | Duration = True, **kwargs: Any
    ) -> Serial:
        """Close the port: the console ends, ok, with exit code 0.

        The end is synchronous: when ``kill()`` returns, ``ended`` and
        ``killed`` are True and end handlers have run. Writes still queued
        (only under flow control) are dropped. Does nothing when not
        running. ``sig`` and ``auto_sigkill`` are accepted for the face of
        :meth:`procession.Process.kill` and ignored: there is no process.
        """
        kwargs.pop("auto_force_kill_timeout", None)
        if kwargs:
            raise TypeError(f"kill() got unexpected arguments {sorted(kwargs)}")
        if self.started and not self.ended:
            _conductor_call(self._close_on_conductor)
        return self

    def _close_on_conductor(self) -> None:
        if self._stream is None or self.ended:
            return
        self.killed = True
        log.debug("closing %s", self.device)
        get_conductor().close_stream(self._stream)  # on_eof, then on_exited: ended now

    # ---------------------------------------------------------------- writing
    def write(self, data: str | bytes) -> Serial:
        """Send to the device (queued on the conductor; never blocks).

        Strings are encoded as UTF-8; ``print(..., file=serial)`` works. A
        failure (the console ended, or :meth:`close_stdin` was called) sets
        :attr:`write_error`.

        Raises:
            ValueError: the console was not started.
        """
        if not self.started:
            raise ValueError(f"write() before start() on {self!r}")
        payload = data.encode() if isinstance(data, str) else bytes(data)
        _conductor_call(self._write_on_conductor, payload)
        return self

    def _write_on_conductor(self, payload: bytes) -> None:
        if self._stream is None or self.ended:
            self._note_write_error(BrokenPipeError("the serial console has ended"))
        elif self._writes_closed:
            self._note_write_error(BrokenPipeError("close_stdin() was called"))
        else:
            get_conductor().write(self._stream, payload)

    def flush(self) -> None:
        """Nothing to do (writes are queued at once); for ``print(file=serial)``."""

    def close_stdin(self) -> Serial:
        """Refuse further writes; reading goes on. Nothing is sent to the
        device (no ^D: a serial line has no end of file)."""
        if self.started and not self.ended:
            _conductor_call(setattr, self, "_writes_closed", True)
        return self

    # ------------------------------------------------------------------ reset
    def reset(self) -> Serial:
        """Make the console startable again: close it if open, then clear its
        state (handlers and options are kept)."""
        if self.running:
            self.kill()
            self.wait()

        def do_reset() -> None:
            self._call_lifecycle("reset")
            self._init_state()

        _conductor_call(do_reset)
        return self


class _Handover:
    """The descriptor on its way from the opening thread to the conductor.

    Whoever runs first on the conductor thread takes it: the start (which
    gives it to the conductor, or closes it) or, when the caller gave up
    waiting (Ctrl-C, a cancelled task), :meth:`discard`, queued after it.
    """

    __slots__ = ("fd", "reason")

    def __init__(self, fd: int | None, reason: str | None) -> None:
        self.fd = fd
        self.reason = reason

    def claim(self) -> tuple[int | None, str | None]:
        fd, self.fd = self.fd, None
        return fd, self.reason

    def discard(self) -> None:
        fd, _ = self.claim()
        if fd is not None:
            os.close(fd)


class _SerialObserver:
    """Adapts the conductor's stream events to a :class:`Serial` (conductor thread)."""

    __slots__ = ("console",)

    def __init__(self, console: Serial) -> None:
        self.console = console

    def on_output(self, stream: int, data: bytes) -> None:
        self.console._emit_output(STDOUT, data, eof=False)

    def on_eof(self, stream: int) -> None:
        self.console._emit_output(Stream(stream), b"", eof=True)

    def on_exited(self, status: int) -> None:
        console = self.console
        if not console.killed:
            log.debug("%s hung up (end of file)", console.device)
        console._stream = None
        console._set_ended(exit_code=0)

    def on_write_error(self, exc: OSError) -> None:
        self.console._note_write_error(exc)
