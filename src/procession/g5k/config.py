"""Grid'5000 configuration: ``g5k_configuration`` and connection params.

Execo's ``execo_g5k.config`` names and keys. The dicts are plain and
mutable, as in Execo: change them at the start of a script.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "default_frontend_connection_params",
    "default_oarsh_oarcp_params",
    "g5k_configuration",
    "make_default_frontend_connection_params",
    "make_default_oarsh_oarcp_params",
]

g5k_configuration: dict[str, Any] = {
    "kadeploy3": "kadeploy3",
    "kadeploy3_options": "-k -d",
    "default_env_name": None,
    "default_env_file": None,
    "default_timeout": 900,
    "check_deployed_command": "! (mount | grep -E '^/dev/[[:alpha:]]+2 on / ')",
    "no_ssh_for_local_frontend": False,
    "polling_interval": 20,
    "tiny_polling_interval": 10,
    "default_frontend": None,
    "api_uri": "https://api.grid5000.fr/3.0/",
    "api_username": None,
    "api_additional_args": {},
    "api_timeout": 30,
    "api_verify_ssl_cert": True,
    "api_cache_dir": None,
    "oar_backend": "ssh",
    "kadeploy_backend": "ssh",
    "oar_job_key_file": None,
    "oargrid_registry": None,
}
"""Global Grid'5000 settings, with Execo's keys.

- ``kadeploy3``, ``kadeploy3_options``: the kadeploy3 command and options
  (a string) added to every deployment.
- ``default_env_name``, ``default_env_file``: environment of deployments
  that name none.
- ``default_timeout``: seconds, for every call to a frontend except
  deployments (the ``timeout=False`` default of the functions).
- ``check_deployed_command``: the shell command that exits 0 on a node that
  is already deployed (see :func:`procession.g5k.deploy`).
- ``no_ssh_for_local_frontend``: run the commands of the default frontend
  locally instead of through ssh.
- ``polling_interval``, ``tiny_polling_interval``: seconds between polls of
  job states (the tiny one once a job's start date has passed).
- ``default_frontend``: the frontend used when a call names none; None
  means the local machine (or the site found in the local host's name on
  Grid'5000).
- ``api_*``: Grid'5000 REST API settings: ``api_uri`` (base URI),
  ``api_username`` (None: from the environment or python-grid5000's file; see
  :mod:`procession.g5k.api_utils`), ``api_additional_args`` (query parameters
  of every request), ``api_timeout`` (seconds), ``api_verify_ssl_cert`` (a
  bool or a CA bundle path), ``api_cache_dir`` (the reference-data cache;
  None: ``$XDG_CACHE_HOME/procession/g5k_api``). Passwords never go here.
- ``oar_backend``: ``"ssh"`` (OAR commands on a frontend) or ``"api"``
  (jobs through the REST API, from outside Grid'5000; the frontend argument
  of the OAR calls then names the site).
- ``kadeploy_backend``: ``"ssh"`` (kadeploy3 on each site's frontend) or
  ``"api"`` (one deployment per site through the REST API, polled every
  ``polling_interval`` seconds; see :class:`procession.g5k.Kadeployer`).
- ``oar_job_key_file``: ssh key given to ``oarsub -k -i``; takes precedence
  over the ``OAR_JOB_KEY_FILE`` environment variable.
- ``oargrid_registry``: the file recording the grid jobs of
  :func:`procession.g5k.oargridsub` (their OAR jobs); None for
  ``$XDG_STATE_HOME/procession/oargrid.json`` (``~/.local/state/...``).
"""


def _frontend_rewrite(host: str) -> str:
    # Execo appends ".grid5000.fr" unconditionally; a frontend given as an
    # address or a full name ("127.0.0.1", "frontend.lyon.grid5000.fr") is
    # left alone here, so that "lyon" still means "lyon.grid5000.fr".
    if "." in host or ":" in host or host == "localhost":
        return host
    return host + ".grid5000.fr"


def make_default_frontend_connection_params() -> dict[str, Any]:
    """A fresh copy of the default frontend connection params."""
    return {"host_rewrite_func": _frontend_rewrite}


default_frontend_connection_params: dict[str, Any] = make_default_frontend_connection_params()
"""Connection params used to reach frontends (a site name becomes
``<site>.grid5000.fr``); a call's ``frontend_connection_params`` override them.

Differences from Execo: no ``pty`` (procession ends remote commands without
one), and names with a dot are not rewritten.
"""


def _node_rewrite(host: str) -> str:
    # Execo's host names may end in ".g5k" (the short alias of the VPN).
    return re.sub(r"\.g5k$", ".grid5000.fr", host)


def make_default_oarsh_oarcp_params() -> dict[str, Any]:
    """A fresh copy of the oarsh / oarcp connection params."""
    return {
        "ssh": "oarsh",
        "scp": "oarcp",
        "taktuk_connector": "oarsh",
        "host_rewrite_func": _node_rewrite,
    }


default_oarsh_oarcp_params: dict[str, Any] = make_default_oarsh_oarcp_params()
"""Connection params reaching the nodes of a job with ``oarsh``/``oarcp``.

Where oarsh is not available, connect directly to OAR's sshd instead: user
``oar``, port 6667 and the job key (``{"user": "oar", "port": 6667,
"keyfile": key}``), which is what oarsh does.

Differences from Execo: no ``pty``.
"""
