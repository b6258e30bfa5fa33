"""Pure helpers: Slurm command lines in, Slurm outputs parsed (no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from ClusterShell.NodeSet import NodeSet, NodeSetException

from procession.reservation import ReservationState

__all__ = [
    "SQUEUE_FIELDS",
    "SQUEUE_FORMAT",
    "SlurmJob",
    "expand_nodelist",
    "format_walltime",
    "parse_sbatch_job_id",
    "parse_squeue",
    "reservation_state",
]

SEPARATOR: Final = "|"
SQUEUE_FIELDS: Final = (
    ("%i", "job_id"),
    ("%T", "state"),
    ("%N", "nodelist"),
    ("%D", "node_count"),
    ("%V", "submit"),
    ("%S", "start"),
    ("%e", "end"),
    ("%r", "reason"),
    ("%P", "partition"),
    ("%u", "user"),
    # Last: the only free-text field, so a "|" in a job name cannot shift the others.
    ("%j", "name"),
)
SQUEUE_FORMAT: Final = SEPARATOR.join(code for code, _ in SQUEUE_FIELDS)
"""``squeue -o`` format of :func:`parse_squeue`; run squeue with ``SLURM_TIME_FORMAT=%s``."""

# Slurm's job states (squeue %T), grouped by what they mean for a reservation.
# CONFIGURING: nodes allocated but booting, not usable yet.
_WAITING: Final = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
    }
)
# SUSPENDED / STOPPED jobs keep their nodes: still a running reservation.
_HOLDING: Final = frozenset(
    {"RUNNING", "SUSPENDED", "STOPPED", "SIGNALING", "RESIZING", "STAGE_OUT", "UPDATE_DB"}
)
ACTIVE_STATES: Final = _WAITING | _HOLDING | {"COMPLETING"}
"""States in which the job still holds or waits for resources (COMPLETING: releasing them)."""


@dataclass(frozen=True, slots=True)
class SlurmJob:
    """One job as squeue shows it.

    Attributes:
        job_id: the job id.
        state: Slurm's state, e.g. ``"PENDING"``, ``"RUNNING"``, ``"CANCELLED"``.
        nodes: node names, expanded from Slurm's compressed form
            (``node-[1-2]`` gives ``["node-1", "node-2"]``); empty while pending.
        node_count: nodes allocated, or requested while pending.
        submit_date: unix time of the submission.
        start_date: unix time of the start; for a pending job, the start the
            scheduler predicts when it has computed one (else None).
        end_date: unix time of the end; for a running job, the planned end
            (start plus time limit).
        reason: why it pends or ended (``"Resources"``, ``"Priority"``, ...),
            None for Slurm's ``None``.
        partition: the partition.
        user: the owner's login.
        name: the job name.
    """

    job_id: int
    state: str
    nodes: list[str]
    node_count: int
    submit_date: float | None
    start_date: float | None
    end_date: float | None
    reason: str | None
    partition: str
    user: str
    name: str


def format_walltime(seconds: float) -> str:
    """Slurm's ``--time`` value ``D-HH:MM:SS`` for a duration, rounded up to a second.

    >>> format_walltime(90061)
    '1-01:01:01'

    Slurm itself rounds time limits up to whole minutes.

    Raises:
        ValueError: not positive.
    """
    if not seconds > 0:
        raise ValueError(f"a walltime must be positive, not {seconds!r}")
    total = math.ceil(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"


def parse_sbatch_job_id(output: str) -> int:
    """Job id from ``sbatch --parsable`` output (``"42"`` or ``"42;cluster"``).

    Raises:
        ValueError: no job id in the output.
    """
    line = output.strip().splitlines()[-1] if output.strip() else ""
    head = line.split(";", 1)[0].strip()
    if not head.isdigit():
        raise ValueError(f"no job id in sbatch output {output!r}")
    return int(head)


def expand_nodelist(nodelist: str) -> list[str]:
    """Node names from Slurm's compressed list: ``"node-[1-3,7],gpu1"`` → 4 names.

    Raises:
        ValueError: not a valid node list.
    """
    text = nodelist.strip()
    if not text or text in ("(null)", "N/A"):
        return []
    try:
        return list(NodeSet(text))
    except NodeSetException as exc:
        raise ValueError(f"invalid Slurm node list {nodelist!r}: {exc}") from exc


def _date(text: str) -> float | None:
    # With SLURM_TIME_FORMAT=%s, dates are unix times; "N/A", "Unknown", "0" mean none.
    text = text.strip()
    return float(text) if text.isdigit() and text != "0" else None


def parse_squeue(output: str) -> list[SlurmJob]:
    """Jobs from ``squeue --noheader -o SQUEUE_FORMAT`` run with ``SLURM_TIME_FORMAT=%s``.

    Raises:
        ValueError: a line that does not have the expected fields (the line is
            in the message).
    """
    jobs = []
    n = len(SQUEUE_FIELDS)
    for line in output.splitlines():
        if not line.strip():
            continue
        fields = line.split(SEPARATOR, n - 1)
        if len(fields) != n or not fields[0].strip().isdigit():
            raise ValueError(f"unexpected squeue line {line!r}")
        f = dict(zip((key for _, key in SQUEUE_FIELDS), fields, strict=True))
        state = f["state"].strip()
        jobs.append(
            SlurmJob(
                job_id=int(f["job_id"]),
                state=state,
                nodes=expand_nodelist(f["nodelist"]),
                node_count=int(f["node_count"]) if f["node_count"].strip().isdigit() else 0,
                submit_date=_date(f["submit"]),
                start_date=_date(f["start"]),
                end_date=_date(f["end"]) if state not in _WAITING else None,
                reason=None if f["reason"].strip() in ("None", "") else f["reason"].strip(),
                partition=f["partition"].strip(),
                user=f["user"].strip(),
                name=f["name"],
            )
        )
    return jobs


def reservation_state(slurm_state: str, started: bool) -> ReservationState:
    """The :class:`ReservationState` of a Slurm state.

    Args:
        slurm_state: squeue's ``%T`` (``"RUNNING"``, ...).
        started: whether the job was ever seen running or has a start date
            in the past: a job that ends after having run is ``ENDED``,
            one that ends without having run is ``FAILED``.
    """
    if slurm_state in _WAITING:
        return ReservationState.PENDING
    if slurm_state in _HOLDING:
        return ReservationState.RUNNING
    return ReservationState.ENDED if started else ReservationState.FAILED
