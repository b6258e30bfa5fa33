"""procession: asynchronous control of local and remote Unix processes at scale.

Execo's public names, semantics fixed where Execo is wrong. Port an Execo
script by changing ``from execo import *`` to ``from procession import *``.
"""

from __future__ import annotations

from ._config import CHAINPUT, SCP, SSH, TAKTUK, configuration, default_connection_params
from ._config import load_config_file as _load_config_file
from ._errors import ActionsFailed, ProcessesFailed
from ._log import logger
from ._time import Timer, format_date, format_duration, get_seconds, get_unixts, sleep

__version__ = "0.1.0"

_load_config_file()
logger.setLevel(configuration["log_level"])

__all__ = [
    "CHAINPUT",
    "SCP",
    "SSH",
    "TAKTUK",
    "ActionsFailed",
    "ProcessesFailed",
    "Timer",
    "configuration",
    "default_connection_params",
    "format_date",
    "format_duration",
    "get_seconds",
    "get_unixts",
    "logger",
    "sleep",
]
