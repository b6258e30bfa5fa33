"""Put and Get: copy files to and from many hosts with scp (or rsync)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from .._config import SCP, configuration
from .._process import Process
from .._remote import Host, HostLike, expand_hosts, make_connection_params
from .._remote._params import rewritten_address
from .._remote._ssh import _CONNECT_FAILURES, login_options, mux_options, scp_argv
from ._action import Action
from ._substitute import caller_context, check_expressions, substitute

__all__ = ["RSYNC", "Get", "Put", "TransferProcess"]

RSYNC: Final = 4
"""File transfer tool: rsync over ssh (``fileput_tool``/``fileget_tool``);
faster than scp when the files are already partly there."""


class TransferProcess(Process):
    """An scp or rsync process for one host; a failure to connect is an error.

    Attributes:
        host: the remote host of the transfer.
    """

    def __init__(self, argv: list[str], host: Host, **kwargs: Any) -> None:
        self.host = host
        super().__init__(argv, **kwargs)

    def _set_ended(
        self,
        exit_code: int | None = None,
        exit_signal: int | None = None,
        error_reason: str | None = None,
    ) -> None:
        if error_reason is None and exit_code not in (0, None):
            found = _CONNECT_FAILURES.findall(self.stderr)
            if found:
                error_reason = f"could not connect: {found[-1].strip()}"
                exit_code = None
        super()._set_ended(exit_code, exit_signal, error_reason)


def _rsync_argv(
    host: Host, sources: Sequence[str], target: str, params: Mapping[str, Any]
) -> list[str]:
    ssh = str(params["ssh"]).split()
    ssh += login_options(host, params)
    ssh += list(params.get("ssh_options") or ())
    ssh += mux_options(params)
    return ["rsync", "-a", "-e", shlex.join(ssh), *sources, target]


def _tool(explicit: int | None, key: str) -> int:
    tool = configuration.get(key, SCP) if explicit is None else explicit
    if tool not in (SCP, RSYNC):
        raise ValueError(f"Put/Get use scp (SCP) or rsync (RSYNC), not tool {tool!r}")
    return int(tool)


class _Transfer(Action):
    """What Put and Get share: hosts, options, one transfer process per host."""

    _direction = ""
    _tool_key = ""

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        files: Sequence[str] | str,
        location: str,
        connection_params: Mapping[str, Any] | None,
        process_args: Mapping[str, Any] | None,
        tool: int | None,
        kwargs: dict[str, Any],
    ) -> None:
        self.hosts = expand_hosts(hosts)
        kwargs.setdefault(
            "name", f"{type(self).__name__} {self._direction} {len(self.hosts)} hosts"
        )
        super().__init__(**kwargs)
        self.connection_params = dict(connection_params) if connection_params else None
        self.process_args = dict(process_args or {})
        self.tool = _tool(tool, self._tool_key)
        self._params = make_connection_params(connection_params)
        file_list = [files] if isinstance(files, str) else list(files)
        context = caller_context()
        for text in [*file_list, location]:
            check_expressions(text, context)
        addresses = [h.address for h in self.hosts]
        self._targets: list[str] = []
        processes = []
        for i, host in enumerate(self.hosts if file_list else []):
            paths = [substitute(f, addresses, i, context) for f in file_list]
            sources, target = self._endpoints(
                rewritten_address(host, self._params),
                paths,
                substitute(location, addresses, i, context),
            )
            argv = (
                _rsync_argv(host, sources, target, self._params)
                if self.tool == RSYNC
                else scp_argv(host, sources, target, self._params)
            )
            processes.append(TransferProcess(argv, host, **self.process_args))
        self._adopt(processes)

    def _endpoints(self, address: str, paths: list[str], location: str) -> tuple[list[str], str]:
        raise NotImplementedError


class Put(_Transfer):
    """Copy local files (directories recursively) to every host.

    Args:
        hosts: hosts, addresses or a node set.
        local_files: local paths; substitutions apply per host.
        remote_location: the remote directory (default the home directory);
            substitutions apply per host.
        connection_params: overrides of ``default_connection_params``.
        process_args: keyword arguments of each transfer process.
        tool: :data:`SCP` (default: ``configuration['fileput_tool']``) or
            :data:`RSYNC`.
    """

    _direction = "to"
    _tool_key = "fileput_tool"

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        local_files: Sequence[str] | str,
        remote_location: str = ".",
        connection_params: Mapping[str, Any] | None = None,
        process_args: Mapping[str, Any] | None = None,
        tool: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.local_files = [local_files] if isinstance(local_files, str) else list(local_files)
        self.remote_location = remote_location
        super().__init__(
            hosts, local_files, remote_location, connection_params, process_args, tool, kwargs
        )

    def _endpoints(self, address: str, paths: list[str], location: str) -> tuple[list[str], str]:
        return paths, f"{address}:{location}"


class Get(_Transfer):
    """Copy remote files (directories recursively) from every host.

    Args:
        hosts: hosts, addresses or a node set.
        remote_files: remote paths; substitutions apply per host.
        local_location: the local directory, created if missing; substitute
            ``{{{host}}}`` in it to keep the files of each host apart.
        connection_params: overrides of ``default_connection_params``.
        process_args: keyword arguments of each transfer process.
        tool: :data:`SCP` (default: ``configuration['fileget_tool']``) or
            :data:`RSYNC`.
    """

    _direction = "from"
    _tool_key = "fileget_tool"

    def __init__(
        self,
        hosts: Iterable[HostLike] | str | Host,
        remote_files: Sequence[str] | str,
        local_location: str = ".",
        connection_params: Mapping[str, Any] | None = None,
        process_args: Mapping[str, Any] | None = None,
        tool: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.remote_files = [remote_files] if isinstance(remote_files, str) else list(remote_files)
        self.local_location = local_location
        super().__init__(
            hosts, remote_files, local_location, connection_params, process_args, tool, kwargs
        )

    def _endpoints(self, address: str, paths: list[str], location: str) -> tuple[list[str], str]:
        self._targets.append(location)
        return [f"{address}:{p}" for p in paths], location

    def _start_processes(self) -> None:
        # Per-host local directories ("results/{{{host}}}") are made here.
        for target in self._targets:
            os.makedirs(target, exist_ok=True)
        super()._start_processes()
