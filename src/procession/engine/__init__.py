"""procession.engine: experiment engines and crash-proof parameter sweeps.

Execo's ``execo_engine`` names and semantics (``Engine``, ``sweep``,
``ParamSweeper``, ...), plus a progress display, a results file, a cluster
engine for bag-of-tasks runs and ``python -m procession.engine status DIR``.
Port an Execo engine by changing ``execo_engine`` to ``procession.engine``.
The user guide is docs/engine.md.

Layer 5: imports only the public ``procession`` API.
"""

from __future__ import annotations

import logging as _logging

from ._cluster import BagStats, ClusterEngine, run_on_clusters
from ._engine import Engine
from ._journal import StateCorrupted
from ._progress import Progress, format_progress
from ._results import Results
from ._sweep import HashableDict, geom, igeom, sweep, sweep_stats
from ._sweeper import ParamSweeper, SweepCounts
from ._utils import copy_outputs, redirect_outputs, slugify

logger = _logging.getLogger("procession.engine")
"""The engine's logger (Execo's ``execo_engine.logger``)."""

__all__ = [
    "BagStats",
    "ClusterEngine",
    "Engine",
    "HashableDict",
    "ParamSweeper",
    "Progress",
    "Results",
    "StateCorrupted",
    "SweepCounts",
    "copy_outputs",
    "format_progress",
    "geom",
    "igeom",
    "logger",
    "redirect_outputs",
    "run_on_clusters",
    "slugify",
    "sweep",
    "sweep_stats",
]


def _fixup_module_names() -> None:
    # Reprs, docs and pickles say procession.engine.X, not the private module:
    # a journal written today must load after the private layout changes.
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith(__name__ + "._"):
            obj.__module__ = __name__


_fixup_module_names()
