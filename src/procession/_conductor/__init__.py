"""Layer 1, the conductor: the only code that touches child pids, descriptors
and signals. Imports only the leaves (``_errors``, ``_config``, ``_log``).
"""

from __future__ import annotations

from ._completion import Completion, forbid_blocking, on_conductor_thread
from ._loop import EOF_GRACE, STDERR, STDOUT, Child, ChildObserver, Conductor, get_conductor
from ._spawn import Spawned, SpawnError, SpawnSpec, spawn

__all__ = [
    "EOF_GRACE",
    "STDERR",
    "STDOUT",
    "Child",
    "ChildObserver",
    "Completion",
    "Conductor",
    "SpawnError",
    "SpawnSpec",
    "Spawned",
    "forbid_blocking",
    "get_conductor",
    "on_conductor_thread",
    "spawn",
]
