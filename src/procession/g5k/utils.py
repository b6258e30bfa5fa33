"""Frontends: which host runs the OAR and kadeploy commands, and how.

Execo's ``execo_g5k.utils`` names (:func:`get_default_frontend`,
:func:`get_frontend_host`), plus the helper that builds the process running
a command on a frontend: an ``SshProcess`` to the frontend, or a local
``Process`` when the frontend is the local machine.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from procession import Host, Process, ProcessBase, ProcessesFailed, SshProcess, get_unixts

from .config import default_frontend_connection_params, g5k_configuration

__all__ = [
    "FINAL_STATES",
    "Frontend",
    "OarError",
    "OarJobTimeout",
    "frontend_process",
    "get_default_frontend",
    "get_frontend_host",
    "get_kavlan_host_name",
    "job_filter",
    "process_message",
    "resolve_timeout",
]

Frontend: TypeAlias = "str | Host | None"
"""A frontend: a site name, an address, a :class:`~procession.Host`, or None
for the default frontend (``g5k_configuration['default_frontend']``, else the
local machine). ``"localhost"`` is the local machine."""

LOCAL_FRONTENDS = ("localhost",)

FINAL_STATES = frozenset({"Terminated", "Error"})
"""OAR job states after which a job never runs again."""


def job_filter(
    start_between: tuple[Any, Any] | None, end_between: tuple[Any, Any] | None
) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a job (its info dict, see ``get_oar_job_info``) is current
    and starts / ends within the given windows (dates as ``get_unixts``
    takes them; a None bound is open): ``get_current_oar_jobs``' selection,
    through ssh and through the API alike."""
    low_s, high_s = (get_unixts(d) for d in start_between) if start_between else (None, None)
    low_e, high_e = (get_unixts(d) for d in end_between) if end_between else (None, None)

    def between(value: float | None, low: float | None, high: float | None) -> bool:
        if value is None:
            return False
        return (low is None or value >= low) and (high is None or value <= high)

    def keep(info: Mapping[str, Any]) -> bool:
        if info.get("state") in FINAL_STATES:
            return False
        start = info.get("start_date") or info.get("scheduled_start")
        if start_between and not between(start, low_s, high_s):
            return False
        end = start + info["walltime"] if start and "walltime" in info else None
        return not end_between or between(end, low_e, high_e)

    return keep


class OarError(ProcessesFailed):
    """An OAR (or kadeploy) command failed: the message is OAR's own.

    Attributes:
        processes: the failed frontend processes (may be empty).
        message: what failed, with the frontend's and OAR's messages.

    A subclass of :class:`~procession.ProcessesFailed`, which is what Execo
    raises for these failures.
    """

    def __init__(self, message: str, processes: Sequence[Any] = ()) -> None:
        super().__init__(processes)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OarJobTimeout(OarError, TimeoutError):
    """A wait on an OAR job ran out of time (the job is left as it is)."""


def get_default_frontend() -> str | None:
    """The default frontend's name, or None for the local machine.

    ``g5k_configuration['default_frontend']`` when set; else, on a
    Grid'5000 machine (``<host>.<site>.grid5000.fr``), its site; else None.
    """
    configured = g5k_configuration.get("default_frontend")
    if configured:
        return str(configured)
    match = re.match(r"^[^.]+\.([^.]+)\.grid5000\.fr$", socket.getfqdn())
    return match.group(1) if match else None


def get_frontend_host(frontend: Frontend = None) -> Host | None:
    """The host to ssh to for ``frontend``, or None to run locally.

    None means the default frontend (:func:`get_default_frontend`); the
    local machine (None after that, or ``"localhost"``) gives None, and so
    does the default frontend when
    ``g5k_configuration['no_ssh_for_local_frontend']`` is true.
    """
    default = get_default_frontend()
    if frontend is None:
        frontend = default
    if frontend is None or (isinstance(frontend, str) and frontend in LOCAL_FRONTENDS):
        return None
    if g5k_configuration.get("no_ssh_for_local_frontend") and frontend == default:
        return None
    return Host(frontend)


def resolve_timeout(timeout: float | bool | None) -> float | None:
    """Execo's convention: False means ``g5k_configuration['default_timeout']``."""
    if timeout is False:
        value = g5k_configuration.get("default_timeout")
        return None if value is None else float(value)
    if timeout is None or timeout is True:
        return None
    return float(timeout)


def frontend_process(
    cmd: str,
    frontend: Frontend = None,
    frontend_connection_params: Mapping[str, Any] | None = None,
    timeout: float | bool | None = False,
    **kwargs: Any,
) -> Process:
    """A process (not started) running the shell command ``cmd`` on a frontend.

    Args:
        cmd: a shell command line.
        frontend: see :data:`Frontend`.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        timeout: seconds; False for ``g5k_configuration['default_timeout']``,
            None for none.
        **kwargs: more options of :class:`~procession.Process` (``nolog_*``,
            handlers, ...).
    """
    host = get_frontend_host(frontend)
    seconds = resolve_timeout(timeout)
    if host is None:
        return Process(cmd, shell=True, timeout=seconds, close_stdin=True, **kwargs)
    params = {**default_frontend_connection_params, **(frontend_connection_params or {})}
    return SshProcess(cmd, host, connection_params=params, timeout=seconds, **kwargs)


def process_message(process: ProcessBase) -> str:
    """What a frontend process said on failure: ssh's reason or the output."""
    parts = []
    if not process.ok:
        parts.append(process.failure_reason())
    output = "\n".join(s.strip() for s in (process.stderr, process.stdout) if s.strip())
    if output:
        parts.append(output)
    return "; ".join(parts) if parts else "no output"


def get_kavlan_host_name(host: str | Host, vlan: int | str) -> str:
    """A node's name inside a KaVLAN: ``dahu-1.grenoble.grid5000.fr`` in vlan 4
    is ``dahu-1-kavlan-4.grenoble.grid5000.fr`` (Execo's name and rule)."""
    address = host.address if isinstance(host, Host) else str(host)
    short, dot, rest = address.partition(".")
    return f"{short}-kavlan-{vlan}{dot}{rest}"
