"""A local stand-in for the Grid'5000 REST API, for tests and offline work.

:class:`G5kApiServer` serves the Grid'5000 reference data (shipped here:
three sites, see ``data/README.md``) with the real API's paths, JSON fields,
pagination and ``links``; each site's ``/status`` and ``/jobs`` come from a
real OAR server's REST API, and ``/deployments`` from an in-memory stand-in
of kadeploy. ``python -m procession.testbed.g5kapi`` runs it in the
foreground.

Layer 5: standard library only.
"""

from __future__ import annotations

from ._reference import Reference
from ._server import DATA_DIR, G5kApiServer

__all__ = ["DATA_DIR", "G5kApiServer", "Reference"]
