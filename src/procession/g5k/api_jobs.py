"""OAR jobs through the Grid'5000 REST API (``/sites/{site}/jobs``).

The backend of :mod:`procession.g5k.oar` when
``g5k_configuration['oar_backend'] == 'api'``: ``oarsub``, ``oardel``,
``get_oar_job_info``, ``get_current_oar_jobs`` (and so
``wait_oar_job_start``, ``get_oar_job_nodes``, :class:`OarJob`) then talk
to the API instead of running OAR commands on a frontend through ssh, so
that a script runs from a laptop outside Grid'5000. The *frontend* of those
calls names the site (``"lyon"``, or a Host or name such as
``lyon.grid5000.fr``); None means ``g5k_configuration['default_frontend']``.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from procession import Host, get_seconds, get_unixts

from .api_utils import APIConnection, APIException
from .config import g5k_configuration
from .utils import OarError, job_filter, resolve_timeout

if TYPE_CHECKING:
    from .oar import OarSubmission
    from .utils import Frontend

__all__ = [
    "api_get_current_oar_jobs",
    "api_get_oar_job_info",
    "api_job_body",
    "api_oardel",
    "api_oarsub",
    "api_site",
    "use_api",
]

logger = logging.getLogger("procession.g5k.oar")


# The API gives OAR's states in lower case; Execo's callers compare with OAR's.
_OAR_STATES = {
    s.lower(): s
    for s in (
        "Waiting",
        "Hold",
        "toLaunch",
        "toError",
        "toAckReservation",
        "Launching",
        "Running",
        "Suspended",
        "Resuming",
        "Finishing",
        "Terminated",
        "Error",
    )
}
_FRONTEND_PREFIXES = ("frontend", "access", "f")


def use_api() -> bool:
    """Whether OAR calls go through the REST API (``oar_backend == 'api'``)."""
    backend = g5k_configuration.get("oar_backend", "ssh")
    if backend not in ("ssh", "api"):
        raise ValueError(f"g5k_configuration['oar_backend'] must be 'ssh' or 'api': {backend!r}")
    return bool(backend == "api")


def api_site(frontend: Frontend) -> str:
    """The site named by *frontend* (a site, a Host or a Grid'5000 name)."""
    if frontend is None:
        frontend = g5k_configuration.get("default_frontend")
        if frontend is None:
            raise OarError("no site given and no g5k_configuration['default_frontend']")
    name = frontend.address if isinstance(frontend, Host) else str(frontend)
    labels = name.split(".")
    if len(labels) > 1 and labels[0] in _FRONTEND_PREFIXES:
        return labels[1]
    return labels[0]


def _connection(timeout: float | bool | None) -> APIConnection:
    return APIConnection(timeout=resolve_timeout(timeout))


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def api_job_body(spec: OarSubmission) -> dict[str, Any]:
    """The API's job document of an :class:`~procession.g5k.OarSubmission`."""
    resources = "+".join(_as_list(spec.resources))
    if spec.walltime is not None:
        seconds = round(get_seconds(spec.walltime) or 0)
        walltime = f"walltime={seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        resources = f"{resources},{walltime}" if resources else walltime
    body: dict[str, Any] = {"resources": resources or "nodes=1"}
    body["command"] = spec.command or "sleep 31536000"
    if spec.job_type:
        body["types"] = _as_list(spec.job_type)
    if spec.reservation_date is not None:
        ts = get_unixts(spec.reservation_date)
        assert ts is not None
        # A UNIX timestamp: the API reads a date string in the site's time
        # zone (Europe/Paris), which a laptop elsewhere would get wrong.
        body["reservation"] = int(ts)
    for key, value in (
        ("properties", spec.sql_properties),
        ("queue", spec.queue),
        ("directory", spec.directory),
        ("project", spec.project),
        ("name", spec.name),
    ):
        if value is not None:
            body[key] = value
    if spec.additional_options:
        logger.warning(
            "additional_options are ignored by the API backend: %r", spec.additional_options
        )
    return body


def api_oarsub(
    job_specs: Iterable[tuple[OarSubmission, Frontend]],
    timeout: float | bool | None = False,
    abort_on_error: bool = False,
) -> list[tuple[int | None, Frontend]]:
    """``oarsub`` through the API: POST ``/sites/{site}/jobs``."""
    api = _connection(timeout)
    results: list[tuple[int | None, Frontend]] = []
    failures: list[str] = []
    for spec, frontend in job_specs:
        try:
            site = api_site(frontend)
            job = api.post(f"sites/{site}/jobs", api_job_body(spec)).json()
            results.append((int(job["uid"]), frontend))
            logger.debug("job %s submitted to %s through the API", job["uid"], site)
        except (APIException, OarError, KeyError, ValueError) as exc:
            failures.append(str(exc))
            logger.warning("API submission of %r on %s failed: %s", spec, frontend, exc)
            results.append((None, frontend))
    if failures and abort_on_error:
        raise OarError("API job submission failed: " + " | ".join(failures))
    return results


def api_oardel(
    job_specs: Iterable[tuple[int, Frontend]], timeout: float | bool | None = False
) -> None:
    """``oardel`` through the API: DELETE ``/sites/{site}/jobs/{id}``; errors
    are logged at debug level and ignored, as Execo does."""
    api = _connection(timeout)
    for job_id, frontend in job_specs:
        try:
            api.delete(f"sites/{api_site(frontend)}/jobs/{int(job_id)}")
        except (APIException, OarError) as exc:
            logger.debug("API delete of job %s on %s: %s", job_id, frontend, exc)


def job_info_from_api(job: Mapping[str, Any]) -> dict[str, Any]:
    """Execo's job information dict from an API job document (pure)."""
    info: dict[str, Any] = {}
    if job.get("started_at"):
        info["start_date"] = int(job["started_at"])
    if job.get("walltime") is not None:
        info["walltime"] = int(job["walltime"])
    if job.get("scheduled_at"):
        info["scheduled_start"] = int(job["scheduled_at"])
    if job.get("state"):
        info["state"] = _OAR_STATES.get(str(job["state"]), str(job["state"]).capitalize())
    if "name" in job:
        info["name"] = job["name"]
    if job.get("stopped_at"):
        info["stop_date"] = int(job["stopped_at"])
    if job.get("submitted_at"):
        info["submission_date"] = int(job["submitted_at"])
    info["owner"] = job.get("user_uid") or job.get("user")
    for key in ("queue", "types", "message", "command", "exit_code", "properties"):
        if key in job:
            info[key] = job[key]
    info["nodes"] = sorted(set(job.get("assigned_nodes") or []))
    return info


def api_get_oar_job_info(
    job_id: int, frontend: Frontend, timeout: float | bool | None = False
) -> dict[str, Any]:
    """``get_oar_job_info`` through the API: GET ``/sites/{site}/jobs/{id}``."""
    site = api_site(frontend)
    try:
        job = _connection(timeout).get(f"sites/{site}/jobs/{int(job_id)}").json()
    except APIException as exc:
        raise OarError(f"OAR job {job_id} of {site}: {exc}") from exc
    return job_info_from_api(job)


def _user(api: APIConnection) -> str | None:
    """The API's "current user": the authenticated one, else the configured
    ``api_username``, else the local login (inside Grid'5000, the same);
    None (every user's jobs) only when ``api_username`` is False (no
    authentication at all, as with a private test server)."""
    auth = api._auth()
    if auth:
        return auth[0]
    configured = g5k_configuration.get("api_username")
    if configured is False:
        return None
    return configured if isinstance(configured, str) and configured else getpass.getuser()


def _all_items(api: APIConnection, path: str) -> list[Any]:
    """Every item of a paginated collection (the API pages job lists)."""
    items: list[Any] = []
    while True:
        page = api.get(f"{path}&offset={len(items)}&limit=500").json()
        items.extend(page["items"])
        if not page["items"] or len(items) >= int(page.get("total", len(items))):
            return items


def api_get_current_oar_jobs(
    frontends: Iterable[Frontend] | None,
    start_between: tuple[Any, Any] | None = None,
    end_between: tuple[Any, Any] | None = None,
    timeout: float | bool | None = False,
    abort_on_error: bool = False,
) -> list[tuple[int, Frontend]]:
    """``get_current_oar_jobs`` through the API: GET ``/sites/{site}/jobs``
    of the user's current jobs."""
    api = _connection(timeout)
    user = _user(api)
    keep = job_filter(start_between, end_between)
    jobs: list[tuple[int, Frontend]] = []
    failures: list[str] = []
    for frontend in list(frontends) if frontends is not None else [None]:
        query = "state=waiting,launching,running,hold,tolaunch,toackreservation,finishing"
        if user:
            query += f"&user={user}"
        try:
            items = _all_items(api, f"sites/{api_site(frontend)}/jobs?{query}")
        except (APIException, OarError, KeyError) as exc:
            failures.append(str(exc))
            logger.warning("API job list of %s failed: %s", frontend, exc)
            continue
        for job in sorted(items, key=lambda j: int(j["uid"])):
            if keep(job_info_from_api(job)):
                jobs.append((int(job["uid"]), frontend))
    if failures and abort_on_error:
        raise OarError("API job list failed: " + " | ".join(failures))
    return jobs
