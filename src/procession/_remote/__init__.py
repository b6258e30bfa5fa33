"""Layer 3, remote: hosts, connection parameters, ssh command lines, remote
processes. Imports the processes layer, the conductor and the leaves.
"""

from __future__ import annotations

from ._asyncssh import AsyncSshProcess
from ._host import (
    Host,
    HostLike,
    expand_hosts,
    get_hosts_list,
    get_hosts_set,
    get_unique_hosts_list,
)
from ._params import make_connection_params
from ._serialssh import SerialSsh
from ._ssh import scp_argv, ssh_argv, stop_masters
from ._sshprocess import PortForwarder, SshProcess, get_process

__all__ = [
    "AsyncSshProcess",
    "Host",
    "HostLike",
    "PortForwarder",
    "SerialSsh",
    "SshProcess",
    "expand_hosts",
    "get_hosts_list",
    "get_hosts_set",
    "get_process",
    "get_unique_hosts_list",
    "make_connection_params",
    "scp_argv",
    "ssh_argv",
    "stop_masters",
]
