"""OAR jobs: submit, inspect, wait for and delete them, on one or many frontends.

Execo's ``execo_g5k.oar`` names and semantics. Every command runs on a
frontend (see :mod:`procession.g5k.utils`): through ``SshProcess``, or
locally when the frontend is the local machine. Job information comes from
OAR's JSON output (``oarstat -J``), not from scraped text. With
``g5k_configuration['oar_backend'] = 'api'``, jobs go through the Grid'5000
REST API instead (:mod:`procession.g5k.api_jobs`; a frontend names a site).

Calls on many frontends run their commands in parallel. Timeouts are in
seconds; ``timeout=False`` (the default of most calls) means
``g5k_configuration['default_timeout']`` and None means no timeout.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from procession import Host, Process, Timer, format_date, format_duration, get_seconds, get_unixts

from .api_jobs import (
    api_get_current_oar_jobs,
    api_get_oar_job_info,
    api_oardel,
    api_oarsub,
    use_api,
)
from .config import g5k_configuration
from .utils import (
    FINAL_STATES,
    Frontend,
    OarError,
    OarJobTimeout,
    frontend_process,
    job_filter,
    process_message,
    resolve_timeout,
)

__all__ = [
    "OarSubmission",
    "format_oar_date",
    "format_oar_duration",
    "get_current_oar_jobs",
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

logger = logging.getLogger("procession.g5k.oar")

FrontendParams = Mapping[str, Any] | None
Timeout = float | bool | None

_JOB_ID_RE = re.compile(r"^OAR_JOB_ID\s*=\s*(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True, repr=False)
class OarSubmission:
    """What to ask OAR for: the options of one ``oarsub``.

    A frozen value: make a changed copy with ``dataclasses.replace(sub,
    walltime=...)``.

    Attributes:
        resources: ``oarsub -l`` without the walltime, a string such as
            ``"nodes=2"`` or ``"{cluster='dahu'}/nodes=2"``, or several of
            them (joined with ``+``).
        walltime: the job's walltime: seconds or any duration that
            :func:`~procession.get_seconds` accepts (``"1:30:00"``).
        job_type: ``oarsub -t``: one type (``"deploy"``) or several.
        sql_properties: ``oarsub -p``: SQL constraints on resource
            properties (single quotes for strings).
        queue: ``oarsub -q``.
        reservation_date: ``oarsub -r``: any date
            :func:`~procession.get_unixts` accepts.
        directory: ``oarsub -d``.
        project: ``oarsub --project``.
        name: ``oarsub -n``.
        additional_options: a string put as it is on the command line.
        command: the job's command (default: sleep a year, so that the job
            lasts its walltime).

    Differences from Execo: immutable (Execo's is a mutable object); build
    variants with ``dataclasses.replace``.

    .. versionadded:: 0.1
    """

    resources: str | Sequence[str] | None = None
    walltime: Any = None
    job_type: str | Sequence[str] | None = None
    sql_properties: str | None = None
    queue: str | None = None
    reservation_date: Any = None
    directory: str | None = None
    project: str | None = None
    name: str | None = None
    additional_options: str | None = None
    command: str | None = None

    def __repr__(self) -> str:
        shown = []
        for field in self.__dataclass_fields__:
            value = getattr(self, field)
            if value is None:
                continue
            if field == "walltime":
                value = format_duration(value)
            elif field == "reservation_date":
                value = format_date(value)
            shown.append(f"{field}={value!r}")
        return f"OarSubmission({', '.join(shown)})"


# ---------------------------------------------------------------- formatting


def format_oar_duration(duration: Any) -> str:
    """A duration (see :func:`~procession.get_seconds`) as OAR's ``H:MM:SS``."""
    seconds = round(get_seconds(duration) or 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_oar_date(date: Any) -> str:
    """A date (see :func:`~procession.get_unixts`) as OAR's local
    ``YYYY-MM-DD HH:MM:SS``."""
    ts = get_unixts(date)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def get_oarsub_commandline(job_spec: OarSubmission) -> str:
    """The ``oarsub`` shell command line of a submission.

    Adds ``-k -i <key>`` when ``g5k_configuration['oar_job_key_file']`` or
    ``$OAR_JOB_KEY_FILE`` names a job key, as Execo does.
    """
    words = ["oarsub"]
    if job_spec.additional_options:
        words.append(job_spec.additional_options)
    resources = "+".join(_as_list(job_spec.resources))
    if job_spec.walltime is not None:
        walltime = "walltime=" + format_oar_duration(job_spec.walltime)
        resources = f"{resources},{walltime}" if resources else walltime
    if resources:
        words += ["-l", shlex.quote(resources)]
    key = g5k_configuration.get("oar_job_key_file") or os.environ.get("OAR_JOB_KEY_FILE")
    if key:
        words += ["-k", "-i", shlex.quote(key)]
    for job_type in _as_list(job_spec.job_type):
        words += ["-t", shlex.quote(job_type)]
    options = [
        ("-p", job_spec.sql_properties),
        ("-q", job_spec.queue),
        (
            "-r",
            None
            if job_spec.reservation_date is None
            else format_oar_date(job_spec.reservation_date),
        ),
        ("-d", job_spec.directory),
        ("--project", job_spec.project),
        ("-n", job_spec.name),
    ]
    for option, value in options:
        if value is not None:
            words += [option, shlex.quote(str(value))]
    words.append(shlex.quote(job_spec.command if job_spec.command else "sleep 31536000"))
    return " ".join(words)


# ---------------------------------------------------------------- submit, delete


def _run_all(processes: Sequence[Process]) -> None:
    """Start every process, then wait for all (each has its own timeout)."""
    for p in processes:
        p.start()
    for p in processes:
        p.wait()


def oarsub(
    job_specs: Iterable[tuple[OarSubmission, Frontend]],
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
    abort_on_error: bool = False,
) -> list[tuple[int | None, Frontend]]:
    """Submit jobs, all in parallel.

    Args:
        job_specs: ``(submission, frontend)`` pairs; frontend None for the
            default frontend.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        timeout: seconds for each submission (see the module).
        abort_on_error: raise :class:`OarError` if any submission failed.

    Returns:
        ``(job_id, frontend)`` pairs in the order of ``job_specs``; job_id is
        None for a failed submission, whose cause (OAR's message, such as
        "There are not enough resources for your request") is logged as a
        warning.

    Raises:
        OarError: with ``abort_on_error``, naming every failure.
    """
    if use_api():
        return api_oarsub(job_specs, timeout, abort_on_error)
    specs = list(job_specs)
    processes = [
        frontend_process(
            get_oarsub_commandline(spec),
            frontend,
            frontend_connection_params,
            timeout,
            nolog_exit_code=True,
            nolog_error=True,
            nolog_timeout=True,
        )
        for spec, frontend in specs
    ]
    _run_all(processes)
    results: list[tuple[int | None, Frontend]] = []
    failures = []
    for (spec, frontend), p in zip(specs, processes, strict=True):
        match = _JOB_ID_RE.search(p.stdout) if p.ok else None
        job_id = int(match.group(1)) if match else None
        if job_id is None:
            failures.append(p)
            logger.warning("oarsub of %r on %s failed: %s", spec, frontend, process_message(p))
        else:
            logger.debug("oarsub on %s: job %s", frontend, job_id)
        results.append((job_id, frontend))
    if failures and abort_on_error:
        raise OarError(
            "oarsub failed: " + " | ".join(process_message(p) for p in failures), failures
        )
    return results


def oarsubgrid(
    job_specs: Iterable[tuple[OarSubmission, Frontend]],
    reservation_date: Any = None,
    walltime: Any = None,
    job_type: str | Sequence[str] | None = None,
    queue: str | None = None,
    directory: str | None = None,
    additional_options: str | None = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> list[tuple[int, Frontend]]:
    """Submit one job per site, in parallel, all or nothing.

    ``reservation_date``, ``walltime``, ``job_type``, ``queue``,
    ``directory`` and ``additional_options`` replace those of every
    submission, so that the jobs start together. If one submission fails,
    the jobs already submitted are deleted and the result is empty.

    Returns:
        ``(job_id, frontend)`` pairs in the order of ``job_specs``, or ``[]``.

    Differences from Execo: the submissions are not modified in place (they
    are immutable; copies are submitted).
    """
    common = {
        "reservation_date": reservation_date,
        "walltime": walltime,
        "job_type": job_type,
        "queue": queue,
        "directory": directory,
        "additional_options": additional_options,
    }
    specs = [(dataclasses.replace(spec, **common), frontend) for spec, frontend in job_specs]
    jobs, taken = submit_all_or_nothing(specs, frontend_connection_params, timeout, "oarsubgrid")
    return [(job_id, frontend) for job_id, frontend in jobs if job_id is not None] if taken else []


def submit_all_or_nothing(
    job_specs: Sequence[tuple[OarSubmission, Frontend]],
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
    what: str = "oarsub",
) -> tuple[list[tuple[int | None, Frontend]], bool]:
    """Submit jobs in parallel (:func:`oarsub`); if one is refused, delete
    the others (grid jobs, ``oarsubgrid``, ``funk``).

    Returns:
        ``(jobs, taken)``: oarsub's ``(job_id, frontend)`` pairs (the ids
        of the deleted jobs kept, refused ones None), and whether every job
        was taken (False for no job at all); when not, the jobs taken were
        deleted and the result's ids are only for reporting.
    """
    jobs = oarsub(job_specs, frontend_connection_params, timeout)
    submitted = [(job_id, frontend) for job_id, frontend in jobs if job_id is not None]
    if len(submitted) < len(jobs):
        logger.warning(
            "%s: %d of %d submissions failed", what, len(jobs) - len(submitted), len(jobs)
        )
        oardel(submitted, frontend_connection_params, timeout)
        return jobs, False
    return jobs, bool(jobs)


def oardel(
    job_specs: Iterable[tuple[int, Frontend]],
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> None:
    """Delete jobs, all in parallel, ignoring errors (as Execo does).

    Deleting a job that does not exist, has already ended or is not yours
    does nothing; OAR's message is logged at debug level.
    """
    if use_api():
        api_oardel(job_specs, timeout)
        return
    specs = list(job_specs)
    processes = [
        frontend_process(
            f"oardel {int(job_id)}",
            frontend,
            frontend_connection_params,
            timeout,
            nolog_exit_code=True,
            nolog_error=True,
            nolog_timeout=True,
        )
        for job_id, frontend in specs
    ]
    _run_all(processes)
    for (job_id, frontend), p in zip(specs, processes, strict=True):
        logger.debug("oardel %s on %s: %s", job_id, frontend, process_message(p))


# ---------------------------------------------------------------- information


def _job_id(oar_job_id: int | str | None) -> int:
    if oar_job_id is None:
        if "OAR_JOB_ID" not in os.environ:
            raise ValueError("no OAR job id given and no OAR_JOB_ID environment variable")
        oar_job_id = os.environ["OAR_JOB_ID"]
    return int(oar_job_id)


def _oarstat_json(
    cmd: str, frontend: Frontend, params: FrontendParams, timeout: Timeout
) -> dict[str, Any]:
    """Run an ``oarstat -J`` command on a frontend and parse its output."""
    p = frontend_process(
        cmd, frontend, params, timeout, nolog_exit_code=True, nolog_error=True, nolog_timeout=True
    )
    p.run()
    if not p.ok:
        raise OarError(f"{cmd!r} on {frontend or 'localhost'} failed: {process_message(p)}", [p])
    text = p.stdout.strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise OarError(
            f"{cmd!r} on {frontend or 'localhost'}: not JSON: {text[:300]}", [p]
        ) from exc
    return data if isinstance(data, dict) else {}


def _walltime(job: Mapping[str, Any]) -> int | None:
    if job.get("walltime"):
        return int(job["walltime"])
    match = re.search(r"W=(\d+):(\d+):(\d+)", str(job.get("message") or ""))
    if match:
        h, m, s = (int(x) for x in match.groups())
        return h * 3600 + m * 60 + s
    return None


def job_info_from_oarstat(job: Mapping[str, Any]) -> dict[str, Any]:
    """Execo's job information dict from one job of ``oarstat -J`` (pure)."""
    info: dict[str, Any] = {}
    if job.get("startTime"):
        info["start_date"] = int(job["startTime"])
    walltime = _walltime(job)
    if walltime is not None:
        info["walltime"] = walltime
    if job.get("scheduledStart"):
        info["scheduled_start"] = int(job["scheduledStart"])
    if job.get("state"):
        info["state"] = str(job["state"])
    if "name" in job:
        info["name"] = job["name"]
    if job.get("stopTime"):
        info["stop_date"] = int(job["stopTime"])
    if job.get("submissionTime"):
        info["submission_date"] = int(job["submissionTime"])
    for key, ours in (
        ("owner", "owner"),
        ("queue", "queue"),
        ("types", "types"),
        ("message", "message"),
        ("command", "command"),
        ("exit_code", "exit_code"),
        ("properties", "properties"),
    ):
        if key in job:
            info[ours] = job[key]
    info["nodes"] = sorted(set(job.get("assigned_network_address") or []))
    return info


def get_oar_job_info(
    oar_job_id: int | str | None = None,
    frontend: Frontend = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> dict[str, Any]:
    """Information about a job, from ``oarstat -fJj``.

    Args:
        oar_job_id: the job id; None for ``$OAR_JOB_ID``.
        frontend: the job's frontend.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        timeout: seconds (see the module).

    Returns:
        A dict with Execo's keys, each present only when OAR knows it:
        ``start_date`` (unix timestamp), ``walltime`` (seconds),
        ``scheduled_start`` (unix timestamp of the predicted start),
        ``state`` (``Waiting``, ``Launching``, ``Running``, ``Terminated``,
        ``Error``, ...), ``name``; and beyond Execo ``stop_date``,
        ``submission_date``, ``owner``, ``queue``, ``types``, ``message``,
        ``command``, ``exit_code``, ``properties``, ``nodes`` (host names).

    Raises:
        OarError: the frontend or oarstat failed, or OAR knows no such job.
    """
    job_id = _job_id(oar_job_id)
    if use_api():
        return api_get_oar_job_info(job_id, frontend, timeout)
    data = _oarstat_json(f"oarstat -fJj {job_id}", frontend, frontend_connection_params, timeout)
    job = data.get(str(job_id))
    if not isinstance(job, dict):
        raise OarError(f"OAR job {job_id} is unknown on {frontend or 'localhost'}")
    return job_info_from_oarstat(job)


def get_current_oar_jobs(
    frontends: Iterable[Frontend] | None = None,
    start_between: tuple[Any, Any] | None = None,
    end_between: tuple[Any, Any] | None = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
    abort_on_error: bool = False,
) -> list[tuple[int, Frontend]]:
    """The current user's jobs that have not ended, on each frontend.

    Args:
        frontends: frontends to ask, in parallel (None: the default one).
        start_between: ``(low, high)`` dates: keep jobs whose start date (or
            predicted start) is in between.
        end_between: ``(low, high)`` dates: keep jobs whose end date (start
            plus walltime) is in between.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        timeout: seconds (see the module).
        abort_on_error: raise if a frontend fails, instead of returning
            the jobs of the others (the failure is logged).

    Returns:
        ``(job_id, frontend)`` pairs.
    """
    if use_api():
        return api_get_current_oar_jobs(
            frontends, start_between, end_between, timeout, abort_on_error
        )
    frontend_list = list(frontends) if frontends is not None else [None]
    processes = [
        frontend_process(
            "oarstat -J -u",
            f,
            frontend_connection_params,
            timeout,
            nolog_exit_code=True,
            nolog_error=True,
            nolog_timeout=True,
        )
        for f in frontend_list
    ]
    _run_all(processes)
    keep = job_filter(start_between, end_between)
    jobs: list[tuple[int, Frontend]] = []
    failures = []
    for frontend, p in zip(frontend_list, processes, strict=True):
        try:
            data = json.loads(p.stdout) if p.ok and p.stdout.strip() else {}
        except ValueError:
            data = None
        if not p.ok or data is None:
            failures.append(p)
            logger.warning("oarstat on %s failed: %s", frontend, process_message(p))
            continue
        for job_id, job in sorted(data.items(), key=lambda kv: int(kv[0])):
            if keep(job_info_from_oarstat(job)):
                jobs.append((int(job_id), frontend))
    if failures and abort_on_error:
        raise OarError(
            "oarstat failed: " + " | ".join(process_message(p) for p in failures), failures
        )
    return jobs


# ---------------------------------------------------------------- waiting


def _poll_delay(remaining: float | None, wanted: float) -> float:
    return max(0.0, min(wanted, remaining)) if remaining is not None else wanted


def wait_oar_job_start(
    oar_job_id: int | str | None = None,
    frontend: Frontend = None,
    frontend_connection_params: FrontendParams = None,
    timeout: float | None = None,
    prediction_callback: Callable[[int], object] | None = None,
) -> bool:
    """Wait until a job runs.

    Polls ``oarstat`` every ``g5k_configuration['polling_interval']``
    seconds; sleeps until the predicted start when it is sooner, then polls
    every ``tiny_polling_interval`` seconds once that date has passed.

    Args:
        oar_job_id: the job id; None for ``$OAR_JOB_ID``.
        frontend: the job's frontend.
        frontend_connection_params: overrides of
            ``default_frontend_connection_params``.
        timeout: seconds; None (the default) waits without limit.
        prediction_callback: ``fn(unix_timestamp)`` called (on the calling
            thread) each time OAR's start prediction changes.

    Returns:
        True when the job is running; False when it ended without running
        (``Terminated``, ``Error``) or the timeout passed.

    Raises:
        OarError: the frontend or oarstat failed, or OAR knows no such job.
    """
    countdown = Timer(timeout)
    prediction: int | None = None
    while True:
        remaining = countdown.remaining()
        info = get_oar_job_info(oar_job_id, frontend, frontend_connection_params, timeout=False)
        state = info.get("state")
        new_prediction = info.get("start_date") or info.get("scheduled_start")
        if new_prediction is not None and new_prediction != prediction:
            prediction = new_prediction
            if prediction_callback is not None:
                prediction_callback(prediction)
        if state == "Running":
            return True
        if state in FINAL_STATES:
            return False
        remaining = countdown.remaining()
        if remaining is not None and remaining <= 0:
            return False
        interval = float(g5k_configuration["polling_interval"])
        now = time.time()
        if prediction is not None and now >= prediction:
            interval = float(g5k_configuration["tiny_polling_interval"])
        elif prediction is not None and prediction - now < interval:
            interval = prediction - now
        time.sleep(_poll_delay(remaining, interval))


def get_oar_job_nodes(
    oar_job_id: int | str | None = None,
    frontend: Frontend = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> list[Host]:
    """The hosts of a job, sorted, once it has started (this waits for it).

    Raises:
        OarError: the job ended without running, or the frontend failed.
        OarJobTimeout: the job did not start within ``timeout``.
    """
    job_id = _job_id(oar_job_id)
    countdown = Timer(resolve_timeout(timeout))
    if not wait_oar_job_start(job_id, frontend, frontend_connection_params, countdown.remaining()):
        info = get_oar_job_info(job_id, frontend, frontend_connection_params)
        if info.get("state") not in FINAL_STATES:
            raise OarJobTimeout(f"OAR job {job_id} did not start in time: {info.get('state')}")
        if not info["nodes"]:
            raise OarError(f"OAR job {job_id} ended without nodes ({info.get('state')})")
        return [Host(n) for n in info["nodes"]]
    info = get_oar_job_info(job_id, frontend, frontend_connection_params)
    return [Host(n) for n in info["nodes"]]


def _g5k_tool(
    cmd: str, job_id: int, frontend: Frontend, params: FrontendParams, timeout: Timeout
) -> Process:
    countdown = Timer(resolve_timeout(timeout))
    if not wait_oar_job_start(job_id, frontend, params, countdown.remaining()):
        raise OarError(f"OAR job {job_id} is not running")
    p = frontend_process(cmd, frontend, params, countdown.remaining(), nolog_exit_code=True)
    p.run()
    if not p.ok:
        raise OarError(f"{cmd!r} on {frontend or 'localhost'} failed: {process_message(p)}", [p])
    return p


def get_oar_job_subnets(
    oar_job_id: int | str | None = None,
    frontend: Frontend = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The subnets of a job: ``([(ip, mac), ...], network_params)``.

    Asks Grid'5000's ``g5k-subnets`` on the frontend (waiting for the job
    to start first); ``network_params`` has the keys ``ip_prefix``,
    ``broadcast``, ``netmask``, ``gateway``, ``network``, ``dns_hostname``,
    ``dns_ip`` when the job reserved a subnet.

    Raises:
        OarError: the job did not run, or ``g5k-subnets`` failed or does not
            exist (a plain OAR server has no subnets).
    """
    job_id = _job_id(oar_job_id)
    ips = _g5k_tool(
        f"g5k-subnets -i -m -j {job_id}", job_id, frontend, frontend_connection_params, timeout
    )
    net = _g5k_tool(
        f"g5k-subnets -a -j {job_id}", job_id, frontend, frontend_connection_params, timeout
    )
    addresses = re.findall(r"(\S+)\s+(\S+)", ips.stdout)
    fields = net.stdout.rstrip().split("\t")
    keys = ("ip_prefix", "broadcast", "netmask", "gateway", "network", "dns_hostname", "dns_ip")
    params = dict(zip(keys, fields, strict=True)) if len(fields) == len(keys) else {}
    return addresses, params


def get_oar_job_kavlan(
    oar_job_id: int | str | None = None,
    frontend: Frontend = None,
    frontend_connection_params: FrontendParams = None,
    timeout: Timeout = False,
) -> list[int]:
    """The KaVLAN ids of a job (empty when it reserved none).

    Asks Grid'5000's ``kavlan -V -j`` on the frontend, once the job runs.

    Raises:
        OarError: the job did not run, or ``kavlan`` failed or does not
            exist (a plain OAR server has no KaVLAN).
    """
    job_id = _job_id(oar_job_id)
    p = _g5k_tool(f"kavlan -V -j {job_id}", job_id, frontend, frontend_connection_params, timeout)
    return [int(x) for x in re.findall(r"^\s*(\d+)\s*$", p.stdout, re.MULTILINE)]
