"""Slurm clusters: allocations as :class:`~procession.reservation.Reservation`, job queries.

::

    from procession import Remote
    from procession.slurm import SlurmAllocation

    with SlurmAllocation(nodes=2, walltime="0:30:00", frontend="login.cluster") as alloc:
        if alloc.wait_start(timeout=600):
            Remote("hostname", alloc.hosts).run()

Every Slurm command (``sbatch``, ``squeue``, ``sinfo``, ``scancel``,
``srun``) runs on the frontend over ssh, or here when the frontend is None.
Outputs are read with ``squeue --format`` and ``SLURM_TIME_FORMAT=%s``
rather than ``squeue --json``: Slurm 22.05's JSON output (Debian 12)
ignores every filter (``--jobs``, ``--me``, ``--states``) and so dumps the
whole cluster's queue on each poll, and its schema changed in 23.02; the
format codes are stable across versions and dates come as unix times, free
of the frontend's time zone.

Layer 5: imports only the public package ``procession``,
``procession.reservation``, ClusterShell (node lists) and the standard library.

.. versionadded:: 0.1
"""

from __future__ import annotations

from ._allocation import SlurmAllocation, get_current_jobs, get_job
from ._commands import SlurmError
from ._parse import SlurmJob, expand_nodelist, format_walltime

__all__ = [
    "SlurmAllocation",
    "SlurmError",
    "SlurmJob",
    "expand_nodelist",
    "format_walltime",
    "get_current_jobs",
    "get_job",
]


def _fixup_module_metadata() -> None:
    # Reprs and docs say procession.slurm.SlurmAllocation, not ..._allocation.
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, type) and obj.__module__.startswith("procession.slurm."):
            obj.__module__ = "procession.slurm"


_fixup_module_metadata()
