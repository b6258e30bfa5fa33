"""Local and Remote: one command on many hosts (or here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._process import Process, name_from_cmdline
from .._remote import Host, HostLike, SerialSsh, SshProcess, expand_hosts
from .._remote._asyncssh import AsyncSshProcess
from ._action import Action
from ._substitute import Context, caller_context, check_expressions, substitute

__all__ = ["AsyncSshRemote", "Local", "Remote", "RemoteSerial", "substituted_process_args"]


def substituted_process_args(
    process_args: Mapping[str, Any] | None, addresses: Sequence[str], index: int, context: Context
) -> dict[str, Any]:
    """``process_args`` for host ``index``: filename handlers substituted."""
    args = dict(process_args or {})
    for kind in ("stdout_handlers", "stderr_handlers"):
        if args.get(kind):
            args[kind] = [
                substitute(h, addresses, index, context) if isinstance(h, str) else h
                for h in args[kind]
            ]
    return args


class Remote(Action):
    """Run one command on many hosts through ssh, one process per host.

    >>> Remote("hostname", "node-[1-4]").run()       # doctest: +SKIP

    Args:
        cmd: the command; ``{{{host}}}`` and ``{{expr}}`` substitutions are
            applied per host (see :func:`procession.quote` for values from
            outside).
        hosts: hosts or addresses, or a node set (``"node-[1-100,205]"``).
        connection_params: overrides of ``default_connection_params``.
        process_args: keyword arguments of each process (timeout, handlers,
            ``ignore_*``, ...); filename handlers are substituted too.
        **kwargs: the options of :class:`Action` (name, lifecycle_handlers).

    Raises:
        SubstitutionError: a ``{{expr}}`` does not evaluate (at construction).
    """

    def __init__(
        self,
        cmd: str,
        hosts: Iterable[HostLike] | str | Host,
        connection_params: Mapping[str, Any] | None = None,
        process_args: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", name_from_cmdline(cmd))
        super().__init__(**kwargs)
        self.cmd = cmd
        self.hosts = expand_hosts(hosts)
        self.connection_params = dict(connection_params) if connection_params else None
        self.process_args = dict(process_args or {})
        context = caller_context()
        check_expressions(cmd, context)
        addresses = [h.address for h in self.hosts]
        self._adopt(
            [
                self._process_class(
                    substitute(cmd, addresses, i, context),
                    host,
                    self.connection_params,
                    **substituted_process_args(self.process_args, addresses, i, context),
                )
                for i, host in enumerate(self.hosts)
            ]
        )

    _process_class: Any = SshProcess

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cmd!r}, <{len(self.hosts)} hosts>, name={self.name!r})"


class AsyncSshRemote(Remote):
    """:class:`Remote` over the in-process ssh engine (asyncssh): one
    connection per host kept open, no ssh child process per command.

    Selected by ``configuration['remote_tool'] = ASYNCSSH``; needs the
    ``asyncssh`` extra. Same arguments as :class:`Remote`.
    """

    _process_class = AsyncSshProcess


class Local(Action):
    """One local process treated as an action.

    Args:
        cmd: the command (see :class:`Process`).
        process_args: keyword arguments of the process.
        **kwargs: the options of :class:`Action`.
    """

    def __init__(
        self, cmd: str, process_args: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("name", name_from_cmdline(cmd))
        super().__init__(**kwargs)
        self.cmd = cmd
        self.process_args = dict(process_args or {})
        self._adopt([Process(cmd, **self.process_args)])

    def __repr__(self) -> str:
        return f"Local({self.cmd!r}, name={self.name!r})"


class RemoteSerial(Action):
    """Serial consoles of many hosts, one :class:`SerialSsh` per host.

    ``expect``, ``write`` (and ``print(..., file=action)``) and ``kill`` act
    on every console at once; each console keeps its own state.

    Args:
        hosts: hosts, addresses or a node set.
        device: the serial device on each host (``{{{host}}}`` and
            ``{{expr}}`` substitutions apply).
        speed: the line speed in bauds.
        connection_params: overrides of ``default_connection_params``.
        process_args: keyword arguments of each :class:`SerialSsh`.
        **kwargs: the options of :class:`Action`.
    """

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        device: str,
        speed: int = 115200,
        connection_params: Mapping[str, Any] | None = None,
        process_args: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.hosts = expand_hosts(hosts)
        kwargs.setdefault("name", f"RemoteSerial {device}@{speed} on {len(self.hosts)} hosts")
        super().__init__(**kwargs)
        self.device = device
        self.speed = speed
        self.connection_params = dict(connection_params) if connection_params else None
        context = caller_context()
        check_expressions(device, context)
        addresses = [h.address for h in self.hosts]
        self._adopt(
            [
                SerialSsh(
                    host,
                    substitute(device, addresses, i, context),
                    speed,
                    self.connection_params,
                    **substituted_process_args(process_args, addresses, i, context),
                )
                for i, host in enumerate(self.hosts)
            ]
        )
