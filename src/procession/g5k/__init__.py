"""procession.g5k: Grid'5000 batch jobs (OAR), grid jobs and kadeploy.

Execo's ``execo_g5k`` names and semantics: port a script by changing
``from execo_g5k import *`` to ``from procession.g5k import *``. Execo's
submodule paths stay importable (``procession.g5k.oar``, ``.config``,
``.utils``, ...).

Layer 5: imports only the public package ``procession`` and the standard
library, never ``procession._*``.
"""

from __future__ import annotations

from .config import (
    default_frontend_connection_params,
    default_oarsh_oarcp_params,
    g5k_configuration,
)
from .oar import (
    OarSubmission,
    format_oar_date,
    format_oar_duration,
    get_current_oar_jobs,
    get_oar_job_info,
    get_oar_job_kavlan,
    get_oar_job_nodes,
    get_oar_job_subnets,
    get_oarsub_commandline,
    oardel,
    oarsub,
    oarsubgrid,
    wait_oar_job_start,
)
from .oarjob import OarJob
from .utils import OarError, OarJobTimeout, get_default_frontend, get_frontend_host

__all__ = [
    "OarError",
    "OarJob",
    "OarJobTimeout",
    "OarSubmission",
    "default_frontend_connection_params",
    "default_oarsh_oarcp_params",
    "format_oar_date",
    "format_oar_duration",
    "g5k_configuration",
    "get_current_oar_jobs",
    "get_default_frontend",
    "get_frontend_host",
    "get_oar_job_info",
    "get_oar_job_kavlan",
    "get_oar_job_nodes",
    "get_oar_job_subnets",
    "get_oarsub_commandline",
    "oardel",
    "oarsub",
    "oarsubgrid",
    "wait_oar_job_start",
]
