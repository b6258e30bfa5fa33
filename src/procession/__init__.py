"""procession: asynchronous control of local and remote Unix processes at scale.

Execo's public names, semantics fixed where Execo is wrong. Port an Execo
script by changing ``from execo import *`` to ``from procession import *``.
"""

from __future__ import annotations

from ._actions import (
    RSYNC,
    Action,
    ActionFactory,
    ActionLifecycleHandler,
    AsyncSshRemote,
    ChainPut,
    Get,
    Local,
    ParallelActions,
    Put,
    Remote,
    RemoteSerial,
    SequentialActions,
    TaktukGet,
    TaktukPut,
    TaktukRemote,
    default_action_factory,
    filter_bad_hosts,
    get_fileget,
    get_fileput,
    get_remote,
    quote,
    wait_all_actions,
    wait_any_actions,
)
from ._config import ASYNCSSH, CHAINPUT, SCP, SSH, TAKTUK, configuration, default_connection_params
from ._config import load_config_file as _load_config_file
from ._errors import (
    ActionsFailed,
    ConductorBlockingCall,
    ConfigurationError,
    ProcessesFailed,
    ProcessionError,
    ProcessTimeout,
    SubstitutionError,
)
from ._log import logger
from ._process import (
    STDERR,
    STDOUT,
    ExpectOutputHandler,
    Process,
    ProcessBase,
    ProcessLifecycleHandler,
    ProcessOutputHandler,
    Serial,
)
from ._remote import (
    AsyncSshProcess,
    Host,
    PortForwarder,
    SerialSsh,
    SshProcess,
    expand_hosts,
    get_process,
)
from ._report import (
    EventLog,
    GroupedOutput,
    Progress,
    Report,
    enable_event_log_from_configuration,
    group_outputs,
    plot_timeline,
    read_event_log,
)
from ._time import Timer, format_date, format_duration, get_seconds, get_unixts, sleep

__version__ = "0.1.0"

_load_config_file()
logger.setLevel(configuration["log_level"])


def _fixup_module_metadata() -> None:
    # Reprs and docs say procession.Process, not procession._process._process.
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, type) and obj.__module__.startswith("procession."):
            obj.__module__ = "procession"


__all__ = [
    "ASYNCSSH",
    "CHAINPUT",
    "RSYNC",
    "SCP",
    "SSH",
    "STDERR",
    "STDOUT",
    "TAKTUK",
    "Action",
    "ActionFactory",
    "ActionLifecycleHandler",
    "ActionsFailed",
    "AsyncSshProcess",
    "AsyncSshRemote",
    "ChainPut",
    "ConductorBlockingCall",
    "ConfigurationError",
    "EventLog",
    "ExpectOutputHandler",
    "Get",
    "GroupedOutput",
    "Host",
    "Local",
    "ParallelActions",
    "PortForwarder",
    "Process",
    "ProcessBase",
    "ProcessLifecycleHandler",
    "ProcessOutputHandler",
    "ProcessTimeout",
    "ProcessesFailed",
    "ProcessionError",
    "Progress",
    "Put",
    "Remote",
    "RemoteSerial",
    "Report",
    "SequentialActions",
    "Serial",
    "SerialSsh",
    "SshProcess",
    "SubstitutionError",
    "TaktukGet",
    "TaktukPut",
    "TaktukRemote",
    "Timer",
    "configuration",
    "default_action_factory",
    "default_connection_params",
    "enable_event_log_from_configuration",
    "expand_hosts",
    "filter_bad_hosts",
    "format_date",
    "format_duration",
    "get_fileget",
    "get_fileput",
    "get_process",
    "get_remote",
    "get_seconds",
    "get_unixts",
    "group_outputs",
    "logger",
    "plot_timeline",
    "quote",
    "read_event_log",
    "sleep",
    "wait_all_actions",
    "wait_any_actions",
]

_fixup_module_metadata()
