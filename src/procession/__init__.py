"""procession: asynchronous control of local and remote Unix processes at scale.

Execo's public names, semantics fixed where Execo is wrong. Port an Execo
script by changing ``from execo import *`` to ``from procession import *``.
"""

from __future__ import annotations

from ._config import CHAINPUT, SCP, SSH, TAKTUK, configuration, default_connection_params
from ._config import load_config_file as _load_config_file
from ._errors import (
    ActionsFailed,
    ConductorBlockingCall,
    ConfigurationError,
    ProcessesFailed,
    ProcessionError,
    ProcessTimeout,
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
)
from ._remote import Host, PortForwarder, SshProcess, get_process
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
    "CHAINPUT",
    "SCP",
    "SSH",
    "STDERR",
    "STDOUT",
    "TAKTUK",
    "ActionsFailed",
    "ConductorBlockingCall",
    "ConfigurationError",
    "ExpectOutputHandler",
    "Host",
    "PortForwarder",
    "Process",
    "ProcessBase",
    "ProcessLifecycleHandler",
    "ProcessOutputHandler",
    "ProcessTimeout",
    "ProcessesFailed",
    "ProcessionError",
    "SshProcess",
    "Timer",
    "configuration",
    "default_connection_params",
    "format_date",
    "format_duration",
    "get_process",
    "get_seconds",
    "get_unixts",
    "logger",
    "sleep",
]

_fixup_module_metadata()
