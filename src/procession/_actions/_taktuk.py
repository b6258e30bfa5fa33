"""TaktukRemote, TaktukPut and TaktukGet: many hosts, one taktuk process.

A single ``taktuk`` process (the *driver*) connects to every host, itself
spreading the connections through a tree of taktuk instances (``-s``:
self-propagation, so taktuk needs no installation on the hosts, only Perl).
Each host still has its own process object, a :class:`TaktukProcess`, whose
state (started, ended, exit code, error, output) is set on the conductor
thread from the driver's parsed output (see ``procession._remote._taktuk``
for the protocol). They behave as the processes of a ``Remote``: ``Report``,
``filter_bad_hosts``, expect and handlers work on them unchanged.

Commands go to taktuk's stdin while it runs: ``RANK kill SIG`` ends one
host's command (timeouts, ``kill()``), ``RANK put/get`` starts transfers,
``quit`` ends the driver once every host is done. The action ends when its
processes have ended *and* the driver has exited, so no child is left.
"""

from __future__ import annotations

import os
import shlex
import signal
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Self

from .._conductor import get_conductor
from .._config import TAKTUK
from .._log import get_logger
from .._process import (
    Process,
    ProcessBase,
    ProcessLifecycleHandler,
    ProcessOutputHandler,
    Stream,
    name_from_cmdline,
)
from .._process._instruments import emit
from .._process._process import _sigkill_delay
from .._remote import Host, HostLike, SshProcess, expand_hosts, make_connection_params
from .._remote._ssh import _CONNECT_FAILURES
from .._remote._taktuk import (
    STATE_COMMAND_FAILED,
    STATE_COMMAND_STARTED,
    STATE_CONNECTION_FAILED,
    STATE_CONNECTION_LOST,
    STATE_FILE_RECEPTION_FAILED,
    STATE_FILE_RECEPTION_STARTED,
    STATE_FILE_RECEPTION_TERMINATED,
    STATE_FILE_SEND_FAILED,
    STATE_NUMBERED,
    TaktukConnector,
    TaktukDiagnostic,
    TaktukEvent,
    TaktukOutput,
    TaktukOutputParser,
    TaktukState,
    TaktukStatus,
    TaktukUnparsed,
    escape_taktuk,
    host_index,
    taktuk_argv,
    taktuk_exec,
    taktuk_set,
)
from .._time import Duration
from ._action import Action
from ._factory import register_tool
from ._remote import substituted_process_args
from ._substitute import caller_context, check_expressions, substitute

__all__ = ["TaktukGet", "TaktukProcess", "TaktukPut", "TaktukRemote"]

log: Final = get_logger("remote")

QUIT_GRACE: Final = 10.0
"""Seconds taktuk has to exit after ``quit`` before it is killed."""

_TAIL: Final = 20
_RECEPTION_STATES: Final = (
    STATE_FILE_RECEPTION_STARTED,
    STATE_FILE_RECEPTION_FAILED,
    STATE_FILE_RECEPTION_TERMINATED,
)
_TRANSFER_STATES: Final = (*_RECEPTION_STATES, STATE_FILE_SEND_FAILED)


class TaktukProcess(ProcessBase):
    """One host's command (or transfer) inside a Taktuk action.

    Not backed by a local child: its state is set on the conductor thread
    from the output of the action's taktuk process. It is started by its
    action, never on its own.

    Attributes:
        host: the host.
        connected: the command was seen starting on the host.
        rank: taktuk's logical number of the host (once known).

    A connection failure (refused, timeout, authentication) or a lost
    connection ends it in ``error`` with the connector's message in
    ``error_reason``; that message is in ``stderr`` too. ``kill()`` and
    timeouts signal the remote command's process group through taktuk
    (``RANK kill SIG``); before the command has started on the host, the
    process ends at once with ``exit_signal`` set.

    Differences from Execo: ``started`` is true once the action has started
    (Execo waited for the remote start); timeouts, ``kill()`` and ``write()``
    work per host; ``exit_code`` is the exit code, not taktuk's raw wait
    status.
    """

    def __init__(
        self, cmd: str, host: HostLike, action: _TaktukAction | None = None, **kwargs: Any
    ) -> None:
        self.host = Host(host)
        kwargs.setdefault("name", name_from_cmdline(cmd))
        super().__init__(cmd, **kwargs)
        self.remote_cmd = cmd
        self._action = action

    def _init_state(self) -> None:
        super()._init_state()
        self.connected = False
        self.rank: int | None = None
        self._said: list[str] = []  # connector and taktuk messages about this host
        self._pending_input: list[str] = []
        self._expected = 0  # transfers
        self._done = 0
        self._failed = 0

    def _args_repr(self) -> list[str]:
        return [repr(self.remote_cmd), repr(self.host), *self._kwargs_repr()]

    def _infos(self) -> list[str]:
        return [*super()._infos(), f"connected={self.connected}", f"rank={self.rank}"]

    # ------------------------------------------------ conductor thread only
    def _note(self, line: str, to_stderr: bool) -> None:
        self._said = [*self._said[-_TAIL:], line]
        if to_stderr and not self.ended:
            self._emit_output(Stream.STDERR, line.encode() + b"\n", eof=False)

    def _begin(self) -> None:
        """The action's taktuk was spawned: this process is started."""
        self._set_started()
        if self.timeout is not None:
            self._timers.append(get_conductor().call_later(self.timeout, self._on_timeout))
        self._call_lifecycle("start")

    def _on_command_started(self, rank: int) -> None:
        self.rank = rank
        if self.ended:
            # Killed or timed out before it could start: end it over there too.
            self._send(f"{rank} kill {int(signal.SIGKILL)}")
            return
        self.connected = True
        for command in self._pending_input:
            self._send(f"{rank} {command}")
        self._pending_input.clear()

    def _fail(self, reason: str) -> None:
        if not self.ended:
            self._set_ended(error_reason=reason)

    def _send(self, line: str) -> None:
        if self._action is not None:
            self._action._send(line)

    def _on_timeout(self) -> None:
        if not self.ended:
            self.timeouted = True
            log.debug("timeout after %ss: %s on %s", self.timeout, self.name, self.host)
            emit("timeouted", self)
            self._kill_on_conductor(signal.SIGTERM, True)

    def _kill_on_conductor(self, sig: int, auto_sigkill: bool | Duration | None) -> None:
        if self.ended:
            return
        self.killed = True
        emit("killed", self)
        if not self.connected or self.rank is None:
            log.debug("%s on %s: killed before it started there", self.name, self.host)
            self._set_ended(exit_signal=sig)
            return
        self._send(f"{self.rank} kill {int(sig)}")
        delay = _sigkill_delay(sig, auto_sigkill)
        if delay is not None:
            self._timers.append(get_conductor().call_later(delay, self._force_kill))

    def _force_kill(self) -> None:
        if not self.ended and self.rank is not None:
            self.forced_kill = True
            self._send(f"{self.rank} kill {int(signal.SIGKILL)}")

    # ------------------------------------------------------- public methods
    def start(self) -> Self:
        """Not for direct use: a TaktukProcess is started by its action.

        Raises:
            ValueError: always, unless already started.
        """
        if self.started:
            return self
        raise ValueError(f"{self!r} is started by its Taktuk action, not on its own")

    def kill(
        self, sig: int = signal.SIGTERM, auto_sigkill: bool | Duration = True, **kwargs: Any
    ) -> TaktukProcess:
        """Send ``sig`` to the remote command's process group (through taktuk).

        SIGKILL follows ``auto_sigkill`` seconds later, as for a Process.
        Does nothing when not running; returns at once.
        """
        if "auto_force_kill_timeout" in kwargs:
            auto_sigkill = kwargs.pop("auto_force_kill_timeout")
        if kwargs:
            raise TypeError(f"kill() got unexpected arguments {sorted(kwargs)}")
        if self.started and not self.ended:
            get_conductor().call(self._kill_on_conductor, sig, auto_sigkill)
        return self

    def write(self, data: str | bytes) -> TaktukProcess:
        """Send text to the remote command's stdin (``taktuk input``).

        Queued until the command has started on the host. Taktuk reads the
        data as a command argument: text only, and blanks at both ends of
        one write may be trimmed.

        Raises:
            ValueError: the process was not started.
        """
        if not self.started:
            raise ValueError(f"write() before start() on {self!r}")
        text = data.decode() if isinstance(data, bytes) else data
        get_conductor().call(self._queue_input, f"input data [ {escape_taktuk(text)} ]")
        return self

    def flush(self) -> None:
        """Nothing to do (writes are queued at once); for ``print(file=p)``."""

    def close_stdin(self) -> TaktukProcess:
        """Close the remote command's stdin (``taktuk input close``)."""
        if self.started and not self.ended:
            get_conductor().call(self._queue_input, "input close")
        return self

    def _queue_input(self, command: str) -> None:
        if self.ended:
            return
        if self.connected and self.rank is not None:
            self._send(f"{self.rank} {command}")
        else:
            self._pending_input.append(command)

    def reset(self) -> TaktukProcess:
        """Make the process startable again with its action (kept options)."""

        def do_reset() -> None:
            self._call_lifecycle("reset")
            self._init_state()
            emit("reset", self)

        get_conductor().call(do_reset)
        return self


class _DriverOutput(ProcessOutputHandler):
    """Feeds the driver's stdout and stderr to the action (conductor thread)."""

    def __init__(self, action: _TaktukAction) -> None:
        super().__init__()
        self.action = action
        self.parsers = {1: TaktukOutputParser(), 2: TaktukOutputParser()}

    def read(self, process: ProcessBase, stream: int, string: str, eof: bool, error: bool) -> None:
        parser = self.parsers[int(stream)]
        events = parser.feed(string)
        if eof or error:
            events += parser.flush()
        for event in events:
            self.action._dispatch(event)


class _DriverEnd(ProcessLifecycleHandler):
    def __init__(self, action: _TaktukAction) -> None:
        self.action = action

    def end(self, process: ProcessBase) -> None:
        self.action._driver_ended()


class _TaktukAction(Action):
    """The driver machinery shared by TaktukRemote, TaktukPut and TaktukGet."""

    processes: list[TaktukProcess]  # type: ignore[assignment]

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        connection_params: Mapping[str, Any] | None,
        frontend: HostLike | None,
        kwargs: dict[str, Any],
    ) -> None:
        self.hosts = expand_hosts(hosts)
        self.connection_params = dict(connection_params) if connection_params else None
        self.frontend = Host(frontend) if frontend is not None else None
        self._params = make_connection_params(connection_params)
        super().__init__(**kwargs)

    def _reset_state(self) -> None:
        super()._reset_state()
        self._driver: Process | None = None
        self._end_pending = False
        self._quitting = False
        self._quit_timer: Any = None
        self._unparsed: list[str] = []

    # ------------------------------------------------------------ building
    def _deploy_args(self) -> list[list[str]] | None:
        return None

    def taktuk_argv(self) -> list[str]:
        """The taktuk command line (run locally, or on the frontend)."""
        return taktuk_argv(self.hosts, self._params, self._deploy_args())

    def _make_driver(self) -> Process:
        argv = self.taktuk_argv()
        options: dict[str, Any] = {
            "name": f"taktuk for {self.name}",
            "default_stdout_handler": False,
            "nolog_exit_code": True,
            "nolog_error": True,
            "nolog_timeout": True,
            "nolog_write_error": True,
            "ignore_write_error": True,
        }
        output = _DriverOutput(self)
        driver: Process
        if self.frontend is not None:
            driver = SshProcess(shlex.join(argv), self.frontend, self.connection_params, **options)
        else:
            driver = Process(argv, **options)
        driver.stdout_handlers.append(output)
        driver.stderr_handlers.append(output)
        driver.lifecycle_handlers.append(_DriverEnd(self))
        return driver

    # ------------------------------------------------- conductor thread only
    def _start_processes(self) -> None:
        driver = self._make_driver()
        for p in self.processes:
            p._begin()
        self._check_before_start()
        if all(p.ended for p in self.processes):
            return
        self._driver = driver
        log.debug("taktuk command line: %s", _LazyJoin(driver.cmd))
        driver.start()
        if not driver.ended:
            self._driver_started()

    def _check_before_start(self) -> None:
        """Hook: fail hosts that cannot succeed, before taktuk starts."""

    def _driver_started(self) -> None:
        """Hook: the driver runs (subclasses send commands)."""

    def _send(self, line: str) -> None:
        driver = self._driver
        if driver is not None and not driver.ended and not self._quitting:
            driver.write(line + "\n")

    def _process_at(self, position: str | None) -> TaktukProcess | None:
        index = host_index(position) if position is not None else None
        if index is None or index >= len(self.processes):
            return None
        return self.processes[index]

    def _dispatch(self, event: TaktukEvent) -> None:
        if isinstance(event, TaktukOutput):
            p = self._process_at(event.position)
            if p is not None and not p.ended:
                p._emit_output(Stream(event.stream), event.data, eof=False)
        elif isinstance(event, TaktukStatus):
            p = self._process_at(event.position)
            if p is not None and not p.ended:
                p._set_ended(exit_code=event.exit_code, exit_signal=event.exit_signal)
        elif isinstance(event, TaktukState):
            self._on_state(event)
        elif isinstance(event, TaktukConnector):
            p = self._process_at(event.peer_position)
            if p is not None and event.line:
                p._note(event.line, to_stderr=True)
        elif isinstance(event, TaktukDiagnostic):
            log.debug("taktuk %s at position %s: %s", event.level, event.position, event.line)
            p = self._process_at(event.position)
            if p is not None:
                p._note(f"taktuk: {event.line}", to_stderr=False)
            else:
                self._unparsed = [*self._unparsed[-_TAIL:], f"taktuk: {event.line}"]
        elif isinstance(event, TaktukUnparsed):
            log.debug("taktuk said: %s", event.line)
            self._unparsed = [*self._unparsed[-_TAIL:], event.line]

    def _on_state(self, event: TaktukState) -> None:
        code = event.code
        if code in (STATE_CONNECTION_FAILED, STATE_CONNECTION_LOST):
            p = self._process_at(event.peer_position)
            if p is not None:
                p._fail(_connection_reason(p, code))
            if code == STATE_CONNECTION_LOST:
                for host, position in event.peers_given:
                    lost = self._process_at(position)
                    if lost is not None:
                        lost._fail(f"taktuk connection lost (through {host})")
            return
        p = self._process_at(event.position)
        if p is None:
            if code == STATE_FILE_SEND_FAILED:
                self._on_root_send_failed()
            return
        if code == STATE_NUMBERED:
            p.rank = event.rank
            self._on_numbered()
        elif code == STATE_COMMAND_STARTED:
            p._on_command_started(event.rank)
        elif code == STATE_COMMAND_FAILED:
            p._fail("taktuk could not execute the command")
        elif code in _TRANSFER_STATES:
            self._on_transfer_state(code, p)

    def _on_numbered(self) -> None:
        """Hook: a host got its rank."""

    def _on_transfer_state(self, code: int, p: TaktukProcess) -> None:
        """Hook: file transfer events at host ``p`` (TaktukPut, TaktukGet)."""

    def _on_root_send_failed(self) -> None:
        """Hook: the root could not send a file."""

    def _quit(self) -> None:
        driver = self._driver
        if driver is None or driver.ended or self._quitting:
            return
        driver.write("quit\n")
        driver.close_stdin()
        self._quitting = True
        self._quit_timer = get_conductor().call_later(QUIT_GRACE, self._kill_driver)

    def _kill_driver(self) -> None:
        driver = self._driver
        if driver is not None and not driver.ended:
            log.debug("taktuk did not quit in %ss: killing it", QUIT_GRACE)
            driver.kill()

    def _set_ended(self) -> None:
        # Every host is done: the action ends once taktuk itself has exited.
        driver = self._driver
        if driver is not None and not driver.ended:
            self._end_pending = True
            self._quit()
            return
        super()._set_ended()

    def _driver_ended(self) -> None:
        driver = self._driver
        assert driver is not None
        if self._quit_timer is not None:
            self._quit_timer.cancel()
        reason = self._driver_failure(driver)
        for p in self.processes:
            p._fail(reason)
        if self._end_pending or all(p.ended for p in self.processes):
            Action._set_ended(self)

    def _driver_failure(self, driver: Process) -> str:
        if driver.error:
            return f"taktuk could not start: {driver.error_reason}"
        said = "; ".join(self._unparsed[-3:]) or driver.stderr.strip()[-300:]
        detail = f": {said}" if said else ""
        return f"taktuk ended ({driver.failure_reason()}) before this host was done{detail}"


class _LazyJoin:
    __slots__ = ("argv",)

    def __init__(self, argv: Any) -> None:
        self.argv = argv

    def __str__(self) -> str:
        return self.argv if isinstance(self.argv, str) else shlex.join(self.argv)


def _connection_reason(p: TaktukProcess, code: int) -> str:
    said = "\n".join(p._said)
    found = _CONNECT_FAILURES.findall(said)
    last = found[-1].strip() if found else (p._said[-1] if p._said else "")
    if code == STATE_CONNECTION_LOST:
        return f"taktuk connection lost{': ' + last if last else ''}"
    return f"taktuk could not connect: {last or 'no message from the connector'}"


class TaktukRemote(_TaktukAction):
    """Run one command on many hosts with a single taktuk process.

    Same interface as :class:`Remote`, one :class:`TaktukProcess` per host,
    but one local process in all: taktuk spreads the connections through a
    tree of its own instances, so thousands of hosts cost a handful of
    local descriptors and the connections are made in parallel from many
    hosts.

    >>> TaktukRemote("uptime", "node-[1-500]").run()      # doctest: +SKIP

    Args:
        cmd: the command; ``{{{host}}}`` and ``{{expr}}`` substitutions are
            applied per host. Any character is passed intact (taktuk's
            brackets and escape character are escaped).
        hosts: hosts or addresses, or a node set.
        connection_params: overrides of ``default_connection_params``:
            ``taktuk`` (the command), ``taktuk_options`` (``-s``:
            self-propagation), ``taktuk_connector`` and
            ``taktuk_connector_options`` (how taktuk reaches a host; the
            host's user, key file and port are added). With a frontend,
            ``ssh`` and ``ssh_options`` reach the frontend.
        process_args: keyword arguments of each :class:`TaktukProcess`
            (timeout, handlers, ``ignore_*``, ...).
        frontend: run taktuk on this host (through ssh) rather than here,
            e.g. a cluster's frontend; taktuk must be installed there and
            the connector options must make sense there.
        **kwargs: the options of :class:`Action` (name, lifecycle_handlers).

    Threads: the processes' state changes on the conductor thread, from
    taktuk's output; handlers run there.

    Differences from Execo: per-host user, port and key file are supported
    (one connector per distinct login); commands containing ``!`` are passed
    intact; timeouts and ``kill()`` work per host; the action ends only
    once taktuk has exited.
    """

    def __init__(
        self,
        cmd: str,
        hosts: Iterable[HostLike] | str | Host,
        connection_params: Mapping[str, Any] | None = None,
        process_args: Mapping[str, Any] | None = None,
        frontend: HostLike | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", name_from_cmdline(cmd))
        super().__init__(hosts, connection_params, frontend, kwargs)
        self.cmd = cmd
        self.process_args = dict(process_args or {})
        context = caller_context()
        check_expressions(cmd, context)
        addresses = [h.address for h in self.hosts]
        self._adopt(
            [
                TaktukProcess(
                    substitute(cmd, addresses, i, context),
                    host,
                    self,
                    **substituted_process_args(self.process_args, addresses, i, context),
                )
                for i, host in enumerate(self.hosts)
            ]
        )
        self.taktuk_argv()  # an unusable host list raises here, not at start

    def _deploy_args(self) -> list[list[str]]:
        return [taktuk_exec(p.remote_cmd) for p in self.processes]

    def __repr__(self) -> str:
        return f"TaktukRemote({self.cmd!r}, <{len(self.hosts)} hosts>, name={self.name!r})"


class _TaktukTransfer(_TaktukAction):
    """Sends per-host ``put``/``get`` commands once every host has a rank."""

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        connection_params: Mapping[str, Any] | None,
        process_args: Mapping[str, Any] | None,
        frontend: HostLike | None,
        kwargs: dict[str, Any],
    ) -> None:
        direction = "to" if isinstance(self, TaktukPut) else "from"
        hosts_list = expand_hosts(hosts)
        kwargs.setdefault("name", f"{type(self).__name__} {direction} {len(hosts_list)} hosts")
        super().__init__(hosts_list, connection_params, frontend, kwargs)
        self.process_args = dict(process_args or {})
        # Per host: (sources, destination directory), substituted.
        self._plans: list[tuple[list[str], str]] = []

    def _reset_state(self) -> None:
        super()._reset_state()
        self._sent = False

    def _adopt_plans(self, what: str) -> None:
        self._adopt(
            [
                TaktukProcess(
                    f"{what} {' '.join(srcs)} {dest}", host, self, **dict(self.process_args)
                )
                for host, (srcs, dest) in zip(self.hosts, self._plans, strict=True)
            ]
        )
        self.taktuk_argv()

    def _command(self, ranks: str, source: str, dest: str) -> str:
        raise NotImplementedError

    def _driver_started(self) -> None:
        self._on_numbered()  # no host at all could be reachable

    def _on_numbered(self) -> None:
        if self._sent or not all(p.ended or p.rank is not None for p in self.processes):
            return
        self._sent = True
        groups: dict[tuple[tuple[str, ...], str], list[TaktukProcess]] = {}
        for p, (srcs, dst) in zip(self.processes, self._plans, strict=True):
            if not p.ended:
                groups.setdefault((tuple(srcs), dst), []).append(p)
        for (sources, dest), members in groups.items():
            ranks = taktuk_set(p.rank for p in members if p.rank is not None)
            for p in members:
                p._expected = len(sources)
            for source in sources:
                target = f"{dest.rstrip('/') or '/'}/{os.path.basename(source.rstrip('/'))}"
                self._send(self._command(ranks, source, target))
        for p in self.processes:
            if not p.ended and p._expected == 0:
                p._set_ended(exit_code=0)

    def _on_transfer_state(self, code: int, p: TaktukProcess) -> None:
        if code == STATE_FILE_RECEPTION_STARTED:
            p.connected = True
        elif code in (STATE_FILE_RECEPTION_FAILED, STATE_FILE_SEND_FAILED):
            p._failed += 1
        elif code == STATE_FILE_RECEPTION_TERMINATED:
            p._done += 1
        self._check_done(p)

    def _check_done(self, p: TaktukProcess) -> None:
        if p.ended or p._done + p._failed < p._expected:
            return
        if p._failed:
            said = [s for s in p._said if s.startswith("taktuk: ")]
            detail = f": {said[-1].removeprefix('taktuk: ')}" if said else ""
            what = "put" if isinstance(self, TaktukPut) else "get"
            p._set_ended(
                error_reason=f"taktuk {what} failed ({p._failed} of {p._expected}){detail}"
            )
        else:
            p._set_ended(exit_code=0)

    def _on_root_send_failed(self) -> None:
        # Taktuk does not say which command failed: every waiting host fails.
        for p in self.processes:
            if not p.ended and p._expected:
                p._failed = p._expected - p._done
                p._note(f"taktuk: {self._unparsed[-1] if self._unparsed else 'send failed'}", False)
                self._check_done(p)


class TaktukPut(_TaktukTransfer):
    """Copy local files (directories recursively) to many hosts with taktuk.

    Same interface as :class:`Put`; one :class:`TaktukProcess` per host,
    ended ok when every file was received there. Files go into
    ``remote_location`` (which must exist), keeping their names.

    Args:
        hosts: hosts, addresses or a node set.
        local_files: local paths; substitutions apply per host.
        remote_location: the remote directory; substitutions apply per host.
            Taktuk also expands ``$VARIABLES`` of the remote environment in
            it.
        connection_params: as for :class:`TaktukRemote`.
        process_args: keyword arguments of each :class:`TaktukProcess`.
        frontend: run taktuk there (then ``local_files`` are paths on the
            frontend).
        **kwargs: the options of :class:`Action`.

    Differences from Execo: substitutions apply (hosts with different
    values get separate taktuk commands); a missing local file fails the
    hosts with a clear reason.
    """

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        local_files: Sequence[str] | str,
        remote_location: str = ".",
        connection_params: Mapping[str, Any] | None = None,
        process_args: Mapping[str, Any] | None = None,
        frontend: HostLike | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(hosts, connection_params, process_args, frontend, kwargs)
        self.local_files = [local_files] if isinstance(local_files, str) else list(local_files)
        self.remote_location = remote_location
        context = caller_context()
        for text in [*self.local_files, remote_location]:
            check_expressions(text, context)
        addresses = [h.address for h in self.hosts]
        self._plans = [
            (
                [substitute(f, addresses, i, context) for f in self.local_files],
                substitute(remote_location, addresses, i, context),
            )
            for i in range(len(self.hosts))
        ]
        self._adopt_plans("put")

    def _command(self, ranks: str, source: str, dest: str) -> str:
        return f"{ranks} put [ {escape_taktuk(source)} ] [ {escape_taktuk(dest)} ]"

    def _check_before_start(self) -> None:
        if self.frontend is not None:
            return  # the files are on the frontend
        for p, (sources, _dest) in zip(self.processes, self._plans, strict=True):
            missing = [s for s in sources if not os.path.exists(s)]
            if missing:
                p._fail(f"local file not found: {missing[0]}")


class TaktukGet(_TaktukTransfer):
    """Copy remote files (directories recursively) from many hosts with taktuk.

    Same interface as :class:`Get`; one :class:`TaktukProcess` per host.
    Files land in ``local_location`` (created if needed), keeping their
    names: substitute ``{{{host}}}`` in it to keep hosts apart.

    Args:
        hosts: hosts, addresses or a node set.
        remote_files: remote paths; substitutions apply per host.
        local_location: the local directory; substitutions apply per host.
        connection_params: as for :class:`TaktukRemote`.
        process_args: keyword arguments of each :class:`TaktukProcess`.
        frontend: run taktuk there (then ``local_location`` is on the
            frontend).
        **kwargs: the options of :class:`Action`.
    """

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        remote_files: Sequence[str] | str,
        local_location: str = ".",
        connection_params: Mapping[str, Any] | None = None,
        process_args: Mapping[str, Any] | None = None,
        frontend: HostLike | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(hosts, connection_params, process_args, frontend, kwargs)
        self.remote_files = [remote_files] if isinstance(remote_files, str) else list(remote_files)
        self.local_location = local_location
        context = caller_context()
        for text in [*self.remote_files, local_location]:
            check_expressions(text, context)
        addresses = [h.address for h in self.hosts]
        self._plans = [
            (
                [substitute(f, addresses, i, context) for f in self.remote_files],
                substitute(local_location, addresses, i, context),
            )
            for i in range(len(self.hosts))
        ]
        self._adopt_plans("get")

    def _command(self, ranks: str, source: str, dest: str) -> str:
        return f"{ranks} get [ {escape_taktuk(source)} ] [ {escape_taktuk(dest)} ]"

    def _on_state(self, event: TaktukState) -> None:
        # Receptions happen at the root and name the sending host as peer; a
        # failed send is reported by the host itself (handled by the base).
        if event.code in _RECEPTION_STATES:
            p = self._process_at(event.peer_position)
            if p is not None:
                self._on_transfer_state(event.code, p)
            return
        super()._on_state(event)

    def _start_processes(self) -> None:
        if self.frontend is None:
            for _sources, dest in self._plans:
                os.makedirs(dest, exist_ok=True)
        super()._start_processes()


register_tool("remote", TAKTUK, TaktukRemote)
register_tool("fileput", TAKTUK, TaktukPut)
register_tool("fileget", TAKTUK, TaktukGet)
