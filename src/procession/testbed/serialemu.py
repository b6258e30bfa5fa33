"""Emulated devices on serial consoles: pseudo-terminal pairs and a device console.

A real device console (a switch, a board, a BMC) is a login prompt, a
password prompt and a shell on a serial line. This module gives tests,
examples and demos as many of them as they need, on this machine:

- :class:`PtyPair`: a pair of connected pseudo-terminals made by ``socat``
  (``socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B``). What is
  written on one side is read on the other, like the two ends of a null-modem
  cable. The user side :attr:`PtyPair.path` is what you give to
  ``procession.Serial``; the device side :attr:`PtyPair.device_path` is
  where the emulator sits.
- :class:`DeviceEmulator`: a thread that behaves like a device console on a
  terminal: ``<hostname> login:``, ``Password:``, ``Login incorrect``, a
  ``<hostname># `` prompt and a few commands (``uname -a``, ``version``,
  ``reboot``, ``upgrade STEP``, ...). See its docstring for the protocol.
- :class:`EmulatedDevice`: both at once, the usual way to get a device;
  :func:`emulated_devices` makes several.
- ``python -m procession.testbed.serialemu [N]``: N devices that stay up
  until Ctrl-C, to try by hand (``picocom``, ``screen``) or from a script.

>>> from procession import Serial
>>> with EmulatedDevice("sw1") as dev, Serial(dev.path).start() as console:
...     _ = console.write("\\r").expect("login: $", timeout=10)
...     _ = console.write(dev.user + "\\r").expect("Password: $", timeout=10)
...     _ = console.write(dev.password + "\\r").expect("sw1# $", timeout=10)
...     _ = console.write("version\\r").expect(r"firmware (\\S+)", timeout=10)

Test infrastructure of layer 5: imports only the standard library (the
doctest above uses the public ``procession``). Linux only; needs ``socat``
(Debian package ``socat``). Everything it starts is stopped by ``stop()`` or
by leaving the ``with`` block: the socat process is reaped, the thread
joined, the descriptors closed and the temporary directory removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "DeviceEmulator",
    "EmulatedDevice",
    "PtyPair",
    "SerialEmulatorError",
    "emulated_devices",
]

DEFAULT_USER: Final = "root"
"""The user name a :class:`DeviceEmulator` accepts by default."""
DEFAULT_PASSWORD: Final = "procession"
"""The password of :data:`DEFAULT_USER` by default."""

_READY_MARK: Final = b"starting data transfer loop"
_POLL_INTERVAL: Final = 0.01
_CTRL_C: Final = 0x03
_CTRL_D: Final = 0x04
_ERASE: Final = (0x08, 0x7F)


class SerialEmulatorError(RuntimeError):
    """socat could not be started, or a device did not come up or stop in time."""


# ---------------------------------------------------------------- pty pairs
class PtyPair:
    """Two connected pseudo-terminals, made and relayed by one ``socat`` process.

    Args:
        name: base name of the two links (``NAME`` and ``NAME.device``).
        directory: where to put the links; default: a new temporary directory,
            removed by :meth:`stop`.
        timeout: seconds to wait for socat to be ready, and to exit on stop.

    :meth:`start` returns once both links exist and socat relays data
    (readiness is checked, never assumed after a sleep). The pair survives
    any number of opens and closes of either side; it ends with :meth:`stop`.
    Any thread may call :meth:`start` and :meth:`stop` (not concurrently).
    """

    def __init__(
        self,
        name: str = "ttyEMU",
        directory: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if "/" in name or not name:
            raise ValueError(f"name must be a non-empty file name, not {name!r}")
        self.name = name
        self.timeout = timeout
        self._given_dir = Path(directory) if directory is not None else None
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def path(self) -> Path:
        """The user side: give it to ``procession.Serial`` (a symlink to ``/dev/pts/N``)."""
        return self._directory() / self.name

    @property
    def device_path(self) -> Path:
        """The device side, where a :class:`DeviceEmulator` sits."""
        return self._directory() / f"{self.name}.device"

    @property
    def pid(self) -> int | None:
        """The socat process id while started."""
        return self._proc.pid if self._proc is not None else None

    def _directory(self) -> Path:
        if self._dir is None:
            raise SerialEmulatorError("the pty pair is not started")
        return self._dir

    def start(self) -> PtyPair:
        """Start socat and wait until it relays between the two links.

        Raises:
            SerialEmulatorError: socat is missing, exited, or was not ready
                within ``timeout`` seconds (its log is in the message).
        """
        if self._proc is not None:
            return self
        if self._given_dir is not None:
            self._given_dir.mkdir(parents=True, exist_ok=True)
            self._dir = self._given_dir
        else:
            self._dir = Path(tempfile.mkdtemp(prefix="procession-serialemu-"))
        try:
            self._spawn()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        log_path = self._directory() / f"{self.name}.socat.log"
        argv = [
            "socat",
            "-d",
            "-d",  # notices: the PTY names and the readiness line we wait for
            f"pty,raw,echo=0,link={self.path}",
            f"pty,raw,echo=0,link={self.device_path}",
        ]
        with open(log_path, "wb") as log:
            try:
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # a Ctrl-C in the terminal is for us, not socat
                )
            except FileNotFoundError as exc:
                raise SerialEmulatorError(
                    "socat is not installed (Debian package 'socat'); it makes the pty pairs"
                ) from exc

    def _log_text(self) -> str:
        try:
            return (self._directory() / f"{self.name}.socat.log").read_text(errors="replace")
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        assert self._proc is not None
        log_path = self._directory() / f"{self.name}.socat.log"
        deadline = time.monotonic() + self.timeout
        while True:
            if self._proc.poll() is not None:
                raise SerialEmulatorError(
                    f"socat exited with {self._proc.returncode}:\n{self._log_text()}"
                )
            # The links exist before socat applies the terminal options; the
            # log line says it is relaying, so both sides are configured.
            if (
                self.path.exists()
                and self.device_path.exists()
                and _READY_MARK in log_path.read_bytes()
            ):
                return
            if time.monotonic() > deadline:
                raise SerialEmulatorError(
                    f"socat not ready after {self.timeout}s:\n{self._log_text()}"
                )
            time.sleep(_POLL_INTERVAL)

    def stop(self) -> None:
        """Stop socat (SIGTERM, then SIGKILL), reap it and remove the links.

        Whoever still has a side open then reads end of file (EIO). Idempotent.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(self.timeout)
        if self._dir is not None:
            if self._given_dir is None:
                shutil.rmtree(self._dir, ignore_errors=True)
            else:
                for leftover in (
                    self.path,
                    self.device_path,
                    self._dir / f"{self.name}.socat.log",
                ):
                    leftover.unlink(missing_ok=True)
            self._dir = None

    def __enter__(self) -> PtyPair:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = str(self._dir / self.name) if self._dir is not None else "not started"
        return f"PtyPair({self.name!r}, {where})"


# ---------------------------------------------------------- the emulator
class _Stopped(Exception):
    """The emulator was asked to stop (or its terminal hung up)."""


class DeviceEmulator:
    """A device console on a terminal: login, password, shell prompt, commands.

    Args:
        path: the terminal to sit on (:attr:`PtyPair.device_path`).
        hostname: shown in the prompts (``<hostname> login: ``, ``<hostname># ``).
        users: user name to password; default ``{DEFAULT_USER: DEFAULT_PASSWORD}``.
        version: the firmware version that ``version`` shows.
        upgrade_version: the version after ``upgrade commit`` and a reboot.
        fail_steps: ``upgrade STEP`` fails for these steps (exit status 5).
        echo: echo typed characters (not the password), as a terminal in
            canonical mode does; the echo of a line ends with ``\\r\\n``.
        boot_delay: seconds ``reboot`` keeps the device silent, discarding
            input, before the login prompt comes back.
        login_fail_delay: seconds before ``Login incorrect``.

    The protocol, on ``\\r\\n``-terminated lines (a line typed ends with
    ``\\r``, ``\\n`` or ``\\r\\n``; backspace erases, ^C cancels the line):

    - at start and after each empty line: ``<hostname> login: ``;
    - after a user name: ``Password: `` (no echo); a wrong user or password
      gives ``Login incorrect`` and a new login prompt;
    - logged in: ``<hostname># ``, then the commands ``uname -a``,
      ``uname``, ``hostname``, ``version`` (``<hostname> firmware X.Y.Z``),
      ``echo TEXT``, ``echo $?`` (the last status), ``upgrade STEP``
      (``upgrade STEP: ok`` or ``upgrade STEP: FAILED (error 5)``; the step
      ``commit`` also makes ``upgrade_version`` the next version),
      ``reboot`` (``Rebooting...``, silence, a boot banner and the login
      prompt), ``exit``/``logout``/^D on an empty line (``logout``, login
      prompt); anything else: ``-sh: CMD: not found``, status 127.

    Threads: :meth:`start` starts one thread that owns the terminal
    descriptor; :meth:`stop` (any thread) wakes it and joins it. The
    recorded :attr:`events` and :attr:`received` bytes may be read from any
    thread; :meth:`wait_event` waits for an event.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        hostname: str = "device",
        users: Mapping[str, str] | None = None,
        version: str = "1.0.0",
        upgrade_version: str = "1.1.0",
        fail_steps: Collection[str] = (),
        echo: bool = True,
        boot_delay: float = 0.2,
        login_fail_delay: float = 0.0,
    ) -> None:
        self.path = Path(path)
        self.hostname = hostname
        self.users = dict(users) if users is not None else {DEFAULT_USER: DEFAULT_PASSWORD}
        self.version = version
        self.upgrade_version = upgrade_version
        self.fail_steps = frozenset(fail_steps)
        self.echo = echo
        self.boot_delay = boot_delay
        self.login_fail_delay = login_fail_delay
        self._cond = threading.Condition()
        self._events: list[str] = []
        self._received = bytearray()
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._fd = -1
        # Console state (emulator thread only).
        self._state = "login"  # login | password | shell
        self._line = bytearray()
        self._last_cr = False
        self._user = ""
        self._status = 0
        self._pending_version: str | None = None

    # ----------------------------------------------------------- any thread
    @property
    def events(self) -> list[str]:
        """What happened so far, oldest first: ``"login root"``,
        ``"login-failed root"``, ``"command uname -a"``, ``"logout"``,
        ``"reboot"``, ``"hangup"`` (the terminal was closed), ``"stopped"``."""
        with self._cond:
            return list(self._events)

    @property
    def received(self) -> bytes:
        """Every byte received on the terminal so far."""
        with self._cond:
            return bytes(self._received)

    @property
    def running(self) -> bool:
        """The emulator thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def wait_event(self, match: str | Callable[[str], bool], timeout: float) -> str:
        """Wait for an event equal to ``match`` (or for which ``match(event)``
        is true), at most ``timeout`` seconds; returns it. Past events count.

        Raises:
            TimeoutError: no such event within ``timeout``.
        """
        pred = match if callable(match) else match.__eq__
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for event in self._events[seen:]:
                    if pred(event):
                        return event
                seen = len(self._events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self.hostname}: no event {match!r} within {timeout}s; "
                        f"events: {self._events}"
                    )
                self._cond.wait(remaining)

    def wait_received(self, data: bytes, timeout: float) -> None:
        """Wait until ``data`` is among the bytes received, at most ``timeout`` seconds.

        Raises:
            TimeoutError: not received within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while data not in self._received:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.hostname}: {data!r} not received in {timeout}s")
                self._cond.wait(remaining)

    def start(self) -> DeviceEmulator:
        """Open the terminal (raw mode) and start the emulator thread.

        The login banner and prompt are printed at once; output nobody reads
        is lost as on a real line (``Serial`` flushes its input on open).

        Raises:
            OSError: the terminal cannot be opened.
        """
        if self._thread is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(fd)
            wake = os.pipe()
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._wake = fd, wake
        self._thread = threading.Thread(
            target=self._run, name=f"serialemu-{self.hostname}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and close the terminal (idempotent).

        Raises:
            SerialEmulatorError: the thread did not stop within ``timeout``.
        """
        thread, wake = self._thread, self._wake
        if thread is None or wake is None:
            return
        try:
            os.write(wake[1], b"x")
        except OSError:
            pass
        thread.join(timeout)
        if thread.is_alive():
            raise SerialEmulatorError(f"emulator {self.hostname} did not stop in {timeout}s")
        self._thread = None
        self._wake = None
        os.close(wake[0])
        os.close(wake[1])

    def __enter__(self) -> DeviceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DeviceEmulator({str(self.path)!r}, hostname={self.hostname!r})"

    # ------------------------------------------------------ emulator thread
    def _record(self, event: str) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def _run(self) -> None:
        assert self._wake is not None
        try:
            self._boot_banner()
            while True:
                readable, _, _ = select.select([self._fd, self._wake[0]], [], [])
                if self._wake[0] in readable:
                    raise _Stopped("stopped")
                try:
                    data = os.read(self._fd, 4096)
                except BlockingIOError:
                    continue
                except OSError as exc:  # EIO: socat (the other end) is gone
                    raise _Stopped("hangup") from exc
                if not data:
                    raise _Stopped("hangup")
                with self._cond:
                    self._received += data
                    self._cond.notify_all()
                for byte in data:
                    self._on_byte(byte)
        except _Stopped as stop:
            self._record(str(stop))
        finally:
            os.close(self._fd)
            self._fd = -1

    def _send(self, text: str) -> None:
        """Write all of ``text``, waiting for room but never past a stop."""
        assert self._wake is not None
        view = memoryview(text.encode())
        while view:
            readable, _, _ = select.select([self._wake[0]], [self._fd], [])
            if readable:
                raise _Stopped("stopped")
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:
                    raise _Stopped("hangup") from exc
                raise
            view = view[n:]

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once on :meth:`stop`."""
        assert self._wake is not None
        if seconds > 0 and select.select([self._wake[0]], [], [], seconds)[0]:
            raise _Stopped("stopped")

    def _boot_banner(self) -> None:
        self._send(
            f"\r\nProcEmu Linux {self.version} ({self.hostname}) ttyS0\r\n\r\n"
            f"{self.hostname} login: "
        )
        self._state = "login"

    def _prompt(self) -> None:
        self._send(
            {"login": f"{self.hostname} login: ", "shell": f"{self.hostname}# "}[self._state]
        )

    def _on_byte(self, byte: int) -> None:
        if byte == ord("\n") and self._last_cr:  # \r\n is one end of line
            self._last_cr = False
            return
        self._last_cr = byte == ord("\r")
        if byte in (ord("\r"), ord("\n")):
            line = self._line.decode(errors="replace")
            self._line.clear()
            if self.echo and self._state != "password":
                self._send("\r\n")
            self._on_line(line)
        elif byte == _CTRL_C:
            self._line.clear()
            self._send("^C\r\n")
            if self._state == "password":
                self._state = "login"
            self._prompt()
        elif byte == _CTRL_D:
            if self._state == "shell" and not self._line:
                self._logout()
        elif byte in _ERASE:
            if self._line:
                del self._line[-1]
                if self.echo and self._state != "password":
                    self._send("\b \b")
        else:
            self._line.append(byte)
            if self.echo and self._state != "password":
                self._send(chr(byte) if 32 <= byte < 127 else "?")

    def _on_line(self, line: str) -> None:
        if self._state == "login":
            if line.strip():
                self._user = line.strip()
                self._state = "password"
                self._send("Password: ")
            else:
                self._prompt()
        elif self._state == "password":
            self._send("\r\n")  # no echo, but the Enter still moves to the next line
            if self.users.get(self._user) == line:
                self._record(f"login {self._user}")
                self._state = "shell"
                self._prompt()
            else:
                self._record(f"login-failed {self._user}")
                self._pause(self.login_fail_delay)
                self._send("Login incorrect\r\n")
                self._state = "login"
                self._prompt()
        else:
            self._on_command(line.strip())

    def _logout(self) -> None:
        self._record("logout")
        self._send("logout\r\n\r\n")
        self._state = "login"
        self._prompt()

    def _on_command(self, command: str) -> None:
        if command:
            self._record(f"command {command}")
        words = command.split()
        if not words:
            self._prompt()
            return
        if words[0] in ("exit", "logout"):
            self._logout()
            return
        if words[0] == "reboot":
            self._reboot()
            return
        output, self._status = self._answer(words, command)
        self._send(output)
        self._prompt()

    def _answer(self, words: list[str], command: str) -> tuple[str, int]:
        name, args = words[0], words[1:]
        if command == "uname -a":
            return f"Linux {self.hostname} 5.10.0-procemu #1 SMP PREEMPT armv7l GNU/Linux\r\n", 0
        if name == "uname":
            return "Linux\r\n", 0
        if name == "hostname":
            return f"{self.hostname}\r\n", 0
        if name == "version":
            return f"{self.hostname} firmware {self.version}\r\n", 0
        if name == "echo":
            text = " ".join(str(self._status) if a == "$?" else a for a in args)
            return f"{text}\r\n", 0
        if name == "upgrade":
            if len(args) != 1:
                return "usage: upgrade STEP\r\n", 2
            step = args[0]
            if step in self.fail_steps:
                self._record(f"upgrade-failed {step}")
                return f"upgrade {step}: FAILED (error 5)\r\n", 5
            if step == "commit":
                self._pending_version = self.upgrade_version
            self._record(f"upgrade {step}")
            return f"upgrade {step}: ok\r\n", 0
        return f"-sh: {name}: not found\r\n", 127

    def _reboot(self) -> None:
        self._record("reboot")
        self._send("Rebooting...\r\n")
        self._pause(self.boot_delay)
        # What was typed while the device was down is lost, as on real hardware.
        termios.tcflush(self._fd, termios.TCIFLUSH)
        self._line.clear()
        self._last_cr = False
        if self._pending_version is not None:
            self.version, self._pending_version = self._pending_version, None
        self._status = 0
        self._boot_banner()


# ---------------------------------------------------- pair + emulator
class EmulatedDevice:
    """A :class:`PtyPair` with a :class:`DeviceEmulator` on its device side.

    Args:
        hostname: the device's name (its prompts, and the pty link's name).
        directory: where the links go (see :class:`PtyPair`).
        **emulator_options: passed to :class:`DeviceEmulator` (``users``,
            ``version``, ``fail_steps``, ``echo``, ``boot_delay``, ...).

    >>> with EmulatedDevice("sw1", fail_steps={"flash"}) as dev:
    ...     print(dev.path)   # doctest: +SKIP
    /tmp/procession-serialemu-k2x1/ttyEMU-sw1
    """

    def __init__(
        self,
        hostname: str = "device",
        directory: str | os.PathLike[str] | None = None,
        **emulator_options: object,
    ) -> None:
        self.hostname = hostname
        self.pair = PtyPair(f"ttyEMU-{hostname}", directory)
        self._options = emulator_options
        self.emulator: DeviceEmulator | None = None

    @property
    def path(self) -> Path:
        """The serial device to open (the user side of the pair)."""
        return self.pair.path

    @property
    def user(self) -> str:
        """A user name the device accepts."""
        return next(iter(self._emu().users))

    @property
    def password(self) -> str:
        """The password of :attr:`user`."""
        emu = self._emu()
        return emu.users[self.user]

    def _emu(self) -> DeviceEmulator:
        if self.emulator is None:
            raise SerialEmulatorError(f"device {self.hostname} is not started")
        return self.emulator

    def start(self) -> EmulatedDevice:
        """Start socat, then the emulator; returns self."""
        if self.emulator is not None:
            return self
        self.pair.start()
        try:
            emulator = DeviceEmulator(
                self.pair.device_path,
                self.hostname,
                **self._options,  # type: ignore[arg-type]
            )
            self.emulator = emulator.start()
        except BaseException:
            self.pair.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the emulator, then socat (idempotent)."""
        emulator, self.emulator = self.emulator, None
        try:
            if emulator is not None:
                emulator.stop()
        finally:
            self.pair.stop()

    def __enter__(self) -> EmulatedDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmulatedDevice({self.hostname!r}, {self.pair!r})"


@contextlib.contextmanager
def emulated_devices(
    count: int, prefix: str = "dev", **emulator_options: object
) -> Iterator[list[EmulatedDevice]]:
    """``count`` started devices named ``PREFIX1``, ``PREFIX2``, ...; all are
    stopped when the block exits (even if one failed to start).

    ``emulator_options`` go to every :class:`DeviceEmulator`; a callable
    ``fail_steps`` is called with the host name to give per-device steps.
    """
    with contextlib.ExitStack() as stack:
        devices = []
        for i in range(1, count + 1):
            options: dict[str, Any] = dict(emulator_options)
            fail = options.get("fail_steps")
            hostname = f"{prefix}{i}"
            if callable(fail):
                options["fail_steps"] = fail(hostname)
            devices.append(stack.enter_context(EmulatedDevice(hostname, **options)))
        yield devices


def main(argv: list[str] | None = None) -> int:
    """``python -m procession.testbed.serialemu [N]``: N devices until Ctrl-C
    or SIGTERM (both stop every socat and emulator before exiting)."""
    args = sys.argv[1:] if argv is None else argv
    count = int(args[0]) if args else 1

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    try:
        with emulated_devices(count) as devices:
            for dev in devices:
                print(f"{dev.hostname}: {dev.path}  (user {dev.user!r}, password {dev.password!r})")
            print("Ctrl-C to stop", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        pass  # the with block has stopped every device
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
