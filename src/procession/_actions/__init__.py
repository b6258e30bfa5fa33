"""Layer 4, actions: sets of processes treated as one object, substitutions,
transfers, workflows and the tool factories. Imports the remote and process
layers, the conductor and the leaves.
"""

from __future__ import annotations

from ._action import (
    Action,
    ActionLifecycleHandler,
    filter_bad_hosts,
    wait_all_actions,
    wait_any_actions,
)
from ._chainput import ChainPut
from ._factory import (
    ActionFactory,
    default_action_factory,
    get_fileget,
    get_fileput,
    get_remote,
    register_tool,
)
from ._remote import AsyncSshRemote, Local, Remote, RemoteSerial
from ._substitute import quote
from ._taktuk import TaktukGet, TaktukPut, TaktukRemote
from ._transfer import RSYNC, Get, Put, TransferProcess
from ._workflow import ParallelActions, SequentialActions

__all__ = [
    "RSYNC",
    "Action",
    "ActionFactory",
    "ActionLifecycleHandler",
    "AsyncSshRemote",
    "ChainPut",
    "Get",
    "Local",
    "ParallelActions",
    "Put",
    "Remote",
    "RemoteSerial",
    "SequentialActions",
    "TaktukGet",
    "TaktukPut",
    "TaktukRemote",
    "TransferProcess",
    "default_action_factory",
    "filter_bad_hosts",
    "get_fileget",
    "get_fileput",
    "get_remote",
    "quote",
    "register_tool",
    "wait_all_actions",
    "wait_any_actions",
]
