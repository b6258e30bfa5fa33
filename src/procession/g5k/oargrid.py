"""The oargrid calls, kept as grid jobs made of one OAR job per site.

Grid'5000 retired oargrid (``oargridsub``, ``oargridstat``, ``oargriddel``);
Execo's ``execo_g5k.oargrid`` functions stay here so that old scripts run. A
*grid job* is a set of OAR jobs, one per site, submitted together by
:func:`oarsubgrid` (all or nothing). Its id and its OAR jobs are recorded in
a small local registry, a JSON file (``g5k_configuration['oargrid_registry']``,
by default ``$XDG_STATE_HOME/procession/oargrid.json``, that is
``~/.local/state/procession/oargrid.json``): grid job ids are known to the
machine and user that submitted them only. Every other answer comes from
OAR itself, through the OAR calls of :mod:`procession.g5k.oar`.

The "cluster alias" of Execo's job specs is the OAR job's frontend here: a
site name (``"lyon"``), an address, a :class:`~procession.Host` or None.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from procession import Host, Timer

from .config import g5k_configuration
from .oar import (
    FrontendParams,
    OarSubmission,
    Timeout,
    get_current_oar_jobs,
    get_oar_job_info,
    get_oar_job_nodes,
    oardel,
    submit_all_or_nothing,
    wait_oar_job_start,
)
from .utils import FINAL_STATES, Frontend, resolve_timeout

__all__ = [
    "get_current_oargrid_jobs",
    "get_oargrid_job_info",
    "get_oargrid_job_nodes",
    "get_oargrid_job_oar_jobs",
    "oargriddel",
    "oargridsub",
    "registry_path",
    "wait_oargrid_job_start",
]

logger = logging.getLogger("procession.g5k.oar")

RETENTION = 30 * 24 * 3600
"""Seconds after which a grid job is dropped from the registry (at the next
submission)."""


# ---------------------------------------------------------------- the registry


def registry_path() -> Path:
    """The grid job registry file (see the module)."""
    configured = g5k_configuration.get("oargrid_registry")
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "procession" / "oargrid.json"


def _frontend_to_json(frontend: Frontend) -> Any:
    if isinstance(frontend, Host):
        return {
            "address": frontend.address,
            "user": frontend.user,
            "keyfile": frontend.keyfile,
            "port": frontend.port,
        }
    return frontend


def _frontend_from_json(value: Any) -> Frontend:
    if isinstance(value, dict):
        return Host(value["address"], value.get("user"), value.get("keyfile"), value.get("port"))
    return None if value is None else str(value)


@contextlib.contextmanager
def _registry(write: bool = False) -> Iterator[dict[str, Any]]:
    """The registry's content, under an exclusive lock; written back
    atomically when ``write`` (concurrent scripts may submit grid jobs)."""
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data: dict[str, Any] = {"next_id": 1, "jobs": {}}
            if path.exists() and path.stat().st_size:
                data = json.loads(path.read_text())
            yield data
            if write:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
                with os.fdopen(fd, "w") as f:
                    json.dump(data, f, indent=1)
                os.replace(tmp, path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _register(jobs: Sequence[tuple[int, Frontend]], ssh_key: str | None) -> int:
    now = time.time()
    with _registry(write=True) as data:
        data["jobs"] = {
            k: v for k, v in data["jobs"].items() if now - v.get("submitted", now) < RETENTION
        }
        grid_id = int(data["next_id"])
        data["next_id"] = grid_id + 1
        data["jobs"][str(grid_id)] = {
            "submitted": now,
            "ssh_key": ssh_key,
            "oar_jobs": [[job_id, _frontend_to_json(f)] for job_id, f in jobs],
        }
    return grid_id


def _grid_id(oargrid_job_id: int | str | None) -> int:
    if oargrid_job_id is None:
        raise ValueError("no oargrid job id given")
    return int(oargrid_job_id)


# ---------------------------------------------------------------- submit, delete


def _merged_types(common: str | Sequence[str] | None, own: str | Sequence[str] | None) -> Any:
    types = [common] if isinstance(common, str) else list(common or [])
    types += [own] if isinstance(own, str) else list(own or [])
    return list(dict.fromkeys(types)) or None


def oargridsub(
    job_specs: Iterable[tuple[OarSubmission, Frontend]],
    reservation_date: Any = None,
    walltime: Any = None,
    job_type: str | Sequence[str] | None = None,
    queue: str | None = None,
    directory: str | None = None,
    additional_options: str | None = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> tuple[int | None, str | None]:
    """Submit a grid job: one OAR job per ``(submission, site)``, all or nothing.

    Args:
        job_specs: ``(submission, frontend)`` pairs (Execo's "cluster
            alias" is the frontend: a site name). The submissions' own
            reservation date, walltime, queue, directory and additional
            options are replaced by the common ones; their job types are
            kept, with ``job_type`` added.
        reservation_date: when the jobs start (any date
            :func:`~procession.get_unixts` takes); None: as soon as possible.
        walltime: the jobs' walltime (seconds or a duration string).
        job_type: job type(s) of every job (``"deploy"``, ...).
        queue: the OAR queue of every job.
        directory: the jobs' working directory.
        additional_options: put as they are on every ``oarsub`` line.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        timeout: seconds for each submission (False:
            ``g5k_configuration['default_timeout']``).

    Returns:
        ``(oargrid_job_id, ssh_key)``; ``ssh_key`` is the job key given to
        ``oarsub`` (``g5k_configuration['oar_job_key_file']`` or
        ``$OAR_JOB_KEY_FILE``), or None. ``(None, None)`` when a submission
        was refused: the others are deleted, and OAR's message is logged.

    .. versionadded:: 0.1
    """
    specs = [
        (
            dataclasses.replace(
                spec,
                reservation_date=reservation_date,
                walltime=walltime,
                job_type=_merged_types(job_type, spec.job_type),
                queue=queue,
                directory=directory,
                additional_options=additional_options,
            ),
            frontend,
        )
        for spec, frontend in job_specs
    ]
    jobs, taken = submit_all_or_nothing(specs, frontend_connection_params, timeout, "oargridsub")
    if not taken:
        return None, None
    submitted = [(job_id, frontend) for job_id, frontend in jobs if job_id is not None]
    key = g5k_configuration.get("oar_job_key_file") or os.environ.get("OAR_JOB_KEY_FILE")
    grid_id = _register(submitted, key)
    logger.debug("oargridsub: grid job %d = %s", grid_id, submitted)
    return grid_id, key


def oargriddel(
    job_ids: Iterable[int],
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> None:
    """Delete grid jobs (all their OAR jobs, in parallel), ignoring errors.

    Unknown, ended or already deleted grid jobs are ignored, as in Execo.
    The registry keeps them (their information stays available).
    """
    jobs: list[tuple[int, Frontend]] = []
    for grid_id in job_ids:
        try:
            jobs += get_oargrid_job_oar_jobs(grid_id)
        except ValueError as exc:
            logger.debug("oargriddel: %s", exc)
    oardel(jobs, frontend_connection_params, timeout)


# ---------------------------------------------------------------- information


def get_oargrid_job_oar_jobs(
    oargrid_job_id: int | str | None = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> list[tuple[int, Frontend]]:
    """The OAR jobs of a grid job: ``[(oar_job_id, frontend), ...]``.

    Read from the registry; asks no frontend (the last two arguments are
    Execo's and unused).

    Raises:
        ValueError: no such grid job in the registry.
    """
    grid_id = _grid_id(oargrid_job_id)
    with _registry() as data:
        entry = data["jobs"].get(str(grid_id))
    if entry is None:
        raise ValueError(f"unknown oargrid job {grid_id} (registry {registry_path()})")
    return [(int(job_id), _frontend_from_json(f)) for job_id, f in entry["oar_jobs"]]


def _grid_state(states: Sequence[str | None]) -> str | None:
    if states and all(s == "Running" for s in states):
        return "Running"
    if states and all(s in FINAL_STATES for s in states):
        return "Terminated" if all(s == "Terminated" for s in states) else "Error"
    if any(s in FINAL_STATES for s in states):
        return "Error"  # part of the grid job is gone: it will never run whole
    return "Waiting"


def get_oargrid_job_info(
    oargrid_job_id: int | str | None = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> dict[str, Any]:
    """Information about a grid job, from its OAR jobs.

    Returns:
        A dict with Execo's keys ``start_date`` (unix time when every OAR
        job has started, or is predicted to; absent when OAR predicts none),
        ``walltime`` (seconds, the shortest) and ``user``; and beyond Execo
        ``state`` (``Running`` when all jobs run, ``Waiting``, or
        ``Terminated``/``Error`` when one has ended), ``oar_jobs`` (as
        :func:`get_oargrid_job_oar_jobs`) and ``jobs_info`` (each OAR job's
        :func:`~procession.g5k.get_oar_job_info`, in the same order).

    Raises:
        ValueError: no such grid job in the registry.
        OarError: a frontend failed.
    """
    jobs = get_oargrid_job_oar_jobs(oargrid_job_id)
    infos = [get_oar_job_info(j, f, frontend_connection_params, timeout) for j, f in jobs]
    info: dict[str, Any] = {"oar_jobs": jobs, "jobs_info": infos}
    starts = [i.get("start_date") or i.get("scheduled_start") for i in infos]
    if starts and all(s is not None for s in starts):
        info["start_date"] = max(s for s in starts if s is not None)
    walltimes = [i["walltime"] for i in infos if "walltime" in i]
    if walltimes:
        info["walltime"] = min(walltimes)
    owners = [i["owner"] for i in infos if i.get("owner")]
    if owners:
        info["user"] = owners[0]
    info["state"] = _grid_state([i.get("state") for i in infos])
    return info


def get_current_oargrid_jobs(
    start_between: tuple[Any, Any] | None = None,
    end_between: tuple[Any, Any] | None = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> list[int]:
    """The registry's grid jobs that have not ended, sorted.

    A grid job is current while one of its OAR jobs is (see
    :func:`~procession.g5k.get_current_oar_jobs`, which also applies
    ``start_between`` and ``end_between`` to each OAR job). The frontends of
    the registry are asked in parallel; one that fails is logged and its
    jobs count as ended.
    """
    with _registry() as data:
        entries = {
            int(k): [(int(j), _frontend_from_json(f)) for j, f in v["oar_jobs"]]
            for k, v in data["jobs"].items()
        }
    frontends = list(dict.fromkeys(f for jobs in entries.values() for _, f in jobs))
    if not frontends:
        return []
    current = set(
        get_current_oar_jobs(
            frontends, start_between, end_between, frontend_connection_params, timeout
        )
    )
    return sorted(k for k, jobs in entries.items() if any(j in current for j in jobs))


def wait_oargrid_job_start(
    oargrid_job_id: int | str | None = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = None,
) -> bool:
    """Wait until every OAR job of a grid job runs.

    Args:
        oargrid_job_id: the grid job.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        timeout: seconds to wait at most; None or False: no limit.

    Returns:
        True when all run; False when one ended without running, or the
        timeout passed.

    Differences from Execo: waits for the jobs to run (Execo slept until
    the predicted start date) and says whether they do.
    """
    countdown = Timer(None if timeout is False else resolve_timeout(timeout))
    for job_id, frontend in get_oargrid_job_oar_jobs(oargrid_job_id):
        if not wait_oar_job_start(
            job_id, frontend, frontend_connection_params, countdown.remaining()
        ):
            return False
    return True


def get_oargrid_job_nodes(
    oargrid_job_id: int | str | None = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> list[Host]:
    """The hosts of every OAR job of a grid job, sorted (waits for the starts).

    Raises:
        OarError: a job ended without running, or a frontend failed.
        OarJobTimeout: a job did not start within ``timeout`` (for all).
    """
    countdown = Timer(resolve_timeout(timeout))
    hosts: set[Host] = set()
    for job_id, frontend in get_oargrid_job_oar_jobs(oargrid_job_id):
        hosts.update(
            get_oar_job_nodes(job_id, frontend, frontend_connection_params, countdown.remaining())
        )
    return sorted(hosts, key=lambda h: h.address)
