"""Plan an experiment on Grid'5000: when are the resources free?

Execo's ``execo_g5k.planning``. A *planning* is a dict::

    {site: {cluster: {host: {"busy": [(start, end), ...],
                             "free": [(start, end), ...]}},
            "vlans": {"kavlan-4": {"busy": [...], "free": [...]}},   # vlan=True
            "subnets": {"10.158.0.0/22": {...}},                     # subnet=True
            "storage": {}}}                                          # storage=True

with integer unix timestamps, sorted, merged, and cut at the planning's
start and end. :func:`get_planning` builds it from the Grid'5000 API
(each site's ``/status`` and its jobs); :func:`compute_slots` cuts it into
*slots* ``[start, start + walltime, {element: free hosts}]``, one per date
where some resource changes state, and three searches pick one, after
Execo's and funk's three modes:

- ``date``: :func:`find_first_slot`, the first slot where any of the wanted
  elements has a free host;
- ``free``: :func:`find_free_slot`, the first slot with enough free hosts
  for every wanted element;
- ``max``: :func:`find_max_slot`, the slot with the most free hosts.

:func:`distribute_hosts` then turns a slot's free hosts into a request,
and :func:`get_jobs_specs` into ``(OarSubmission, site)`` pairs for
:func:`~procession.g5k.oarsub`. :func:`draw_gantt` and :func:`draw_slots`
draw pictures of a planning and its slots (extra ``plot``).

The slot computation and searches are pure: they read nothing but their
arguments. The functions that must know which site a cluster belongs to
(:func:`find_free_slot`, :func:`distribute_hosts`, :func:`get_jobs_specs`,
:func:`show_resources`) ask :mod:`procession.g5k.api_utils`, whose cache
answers offline.

Differences from Execo: :func:`compute_slots` does not modify the planning
given to it (Execo removed the excluded elements from it); wanted hosts on
a site and on its clusters add up in :func:`find_free_slot` for
``grid5000`` too (Execo forgot them there); an unknown element raises
``ValueError`` instead of logging and returning None; jobs are read from
each site's ``/status`` (no direct OAR database access).
"""

from __future__ import annotations

import importlib
import itertools
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from procession import format_date, get_seconds, get_unixts, logger

from .charter import g5k_charter_time, get_charter_el_planning, get_next_charter_period
from .oar import OarSubmission

__all__ = [
    "compute_slots",
    "distribute_hosts",
    "draw_gantt",
    "draw_slots",
    "find_first_slot",
    "find_free_slot",
    "find_max_slot",
    "g5k_charter_time",
    "get_charter_el_planning",
    "get_jobs_specs",
    "get_next_charter_period",
    "get_planning",
    "resources_table",
    "show_resources",
]

Interval = tuple[int, int]
ElementPlanning = dict[str, list[Interval]]
Planning = dict[str, dict[str, dict[str, ElementPlanning]]]
Slot = list[Any]
"""``[start, end, {element: free hosts}]``."""

NON_CLUSTER_KEYS: Final = frozenset({"vlans", "subnets", "storage"})
"""Keys of a site's planning that are not clusters."""

JOB_END_MARGIN: Final = 65
"""Seconds a host stays busy after its job's end: OAR keeps its
``SCHEDULER_JOB_SECURITY_TIME`` (60 s by default) between two jobs, plus
a little slack (Execo's value)."""

DEFAULT_PLANNING_LENGTH: Final = 4 * 7 * 24 * 3600 + 60
"""Seconds from a planning's start to its default end: four weeks and a
minute (Execo's)."""


def _api() -> Any:
    # Imported on first use: ``import procession.g5k.planning`` stays cheap
    # and the pure functions work without the API module's dependencies.
    return importlib.import_module("procession.g5k.api_utils")


def _host_cluster(host: str) -> str:
    # Grid'5000 host names are <cluster>-<n>[.<site>.grid5000.fr].
    return host.split(".", 1)[0].rsplit("-", 1)[0]


def _host_key(host: str) -> tuple[str, int, str]:
    short = host.split(".", 1)[0]
    cluster, _, number = short.rpartition("-")
    return (cluster, int(number), host) if number.isdigit() else (short, 0, host)


# --------------------------------------------------------------------------
# Building a planning


def _resolve_sites(elements: Sequence[str]) -> list[str]:
    api = _api()
    all_sites = list(api.get_g5k_sites())
    if "grid5000" in elements:
        return all_sites
    clusters = set(api.get_g5k_clusters(queues=None))
    sites: set[str] = set()
    unknown = []
    for element in elements:
        if element in all_sites:
            sites.add(element)
        elif element in clusters:
            sites.add(api.get_cluster_site(element))
        elif site := _host_site_or_none(api, element):
            sites.add(site)
        else:
            unknown.append(element)  # reported below, all at once
    if unknown:
        raise ValueError(
            f"unknown Grid'5000 element(s) {', '.join(unknown)}: give 'grid5000', "
            f"sites ({', '.join(all_sites)}), clusters or hosts"
        )
    return sorted(sites)


def _queue_list(queues: str | Sequence[str] | None) -> set[str] | None:
    if queues is None or queues == "all":
        return None
    return {queues} if isinstance(queues, str) else set(queues)


def _site_clusters(site: str, queues: set[str] | None) -> list[str]:
    return list(_api().get_site_clusters(site, queues=None if queues is None else sorted(queues)))


def _site_vlans(site: str) -> list[str]:
    kavlans = _api().get_site_attributes(site).get("kavlans") or {}
    # kavlans 1 to 3 are not routed, so not worth a reservation (as Execo).
    numbers = sorted(int(k) for k in kavlans if str(k).isdigit() and int(k) > 3)
    return [f"kavlan-{n}" for n in numbers]


class _JobTimes:
    """A job's busy interval, from its status entry or its API document."""

    def __init__(self, site: str, now: float) -> None:
        self.site = site
        self.now = now
        self.cache: dict[Any, dict[str, Any] | None] = {}

    def job(self, reservation: Mapping[str, Any]) -> dict[str, Any] | None:
        uid = reservation.get("uid")
        scheduled = reservation.get("started_at") or reservation.get("scheduled_at")
        if scheduled and reservation.get("walltime") is not None:
            return dict(reservation)  # the status entry says enough
        return self.document(uid)

    def document(self, uid: Any) -> dict[str, Any] | None:
        """The job's API document (None when it cannot be read)."""
        if uid not in self.cache:
            try:
                self.cache[uid] = dict(
                    _api().get_resource_attributes(f"/sites/{self.site}/jobs/{uid}")
                )
            except Exception as exc:  # a job ended meanwhile: not busy any more
                logger.debug("planning: job %s on %s unreadable: %s", uid, self.site, exc)
                self.cache[uid] = None
        return self.cache[uid]

    def interval(self, job: Mapping[str, Any]) -> Interval | None:
        start = job.get("started_at") or job.get("scheduled_at")
        walltime = job.get("walltime")
        if not start or walltime is None:
            logger.debug("planning: job %s on %s is not scheduled", job.get("uid"), self.site)
            return None
        end = int(start) + int(walltime) + JOB_END_MARGIN
        return int(max(float(start), self.now)), end


def _counts(job: Mapping[str, Any], ignore_besteffort: bool) -> bool:
    # A job of any queue holds its hosts; besteffort ones may be preempted.
    if ignore_besteffort and job.get("queue") == "besteffort":
        return False
    return (job.get("state") or "").lower() not in ("terminated", "error")


def _fill_site(
    site: str,
    site_planning: dict[str, dict[str, ElementPlanning]],
    ignore_besteffort: bool,
) -> None:
    status = _api().get_resource_attributes(f"/sites/{site}/status")
    times = _JobTimes(site, time.time())
    for host, node in sorted(status.get("nodes", {}).items()):
        cluster = site_planning.get(_host_cluster(host))
        if cluster is None or node.get("hard") == "dead":
            continue
        cluster[host] = {"busy": [], "free": []}
        for reservation in node.get("reservations") or []:
            job = times.job(reservation)
            if job is None or not _counts(job, ignore_besteffort):
                continue
            interval = times.interval(job)
            if interval is not None:
                cluster[host]["busy"].append(interval)
    if "vlans" in site_planning or "subnets" in site_planning:
        _fill_network(site, site_planning, times, ignore_besteffort)


def _fill_network(
    site: str,
    site_planning: dict[str, dict[str, ElementPlanning]],
    times: _JobTimes,
    ignore_besteffort: bool,
) -> None:
    # A node's status does not say which KaVLAN or subnet its jobs hold (and
    # a KaVLAN-only job holds no node): read every current job's document.
    listing = _api().get_resource_attributes(f"/sites/{site}/jobs?state=waiting,launching,running")
    for item in listing.get("items", []):
        job = times.document(item.get("uid"))
        if job is None or not _counts(job, ignore_besteffort):
            continue
        interval = times.interval(job)
        if interval is not None:
            _add_network(site_planning, job, interval)


def _add_network(
    site_planning: dict[str, dict[str, ElementPlanning]], job: Mapping[str, Any], span: Interval
) -> None:
    by_type = job.get("resources_by_type") or {}
    if "vlans" in site_planning:
        for vlan in by_type.get("vlans") or []:
            name = f"kavlan-{vlan}"
            if name in site_planning["vlans"]:
                site_planning["vlans"][name]["busy"].append(span)
    if "subnets" in site_planning:
        for subnet in by_type.get("subnets") or []:
            entry = site_planning["subnets"].setdefault(subnet, {"busy": [], "free": []})
            entry["busy"].append(span)


def _normalize(el_planning: ElementPlanning, start: int, end: int) -> None:
    """Sort, merge and cut the busy list; make the free list its complement."""
    merged: list[Interval] = []
    for busy_start, busy_end in sorted(el_planning["busy"]):
        b_start, b_end = max(busy_start, start), min(busy_end, end)
        if b_end < b_start:
            continue
        if merged and b_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b_end))
        else:
            merged.append((b_start, b_end))
    free: list[Interval] = []
    cursor = start
    for b_start, b_end in merged:
        if b_start > cursor:
            free.append((cursor, b_start))
        cursor = max(cursor, b_end)
    if cursor < end:
        free.append((cursor, end))
    el_planning["busy"] = merged
    el_planning["free"] = free


def _wanted_host(host: str, elements: Sequence[str], site: str, cluster: str) -> bool:
    short = host.split(".", 1)[0]
    return bool({site, cluster, host, short} & set(elements)) or "grid5000" in elements


def get_planning(
    elements: Sequence[str] = ("grid5000",),
    vlan: bool = False,
    subnet: bool = False,
    storage: bool = False,
    out_of_chart: bool = False,
    starttime: Any = None,
    endtime: Any = None,
    ignore_besteffort: bool = True,
    queues: str | Sequence[str] | None = "default",
) -> Planning:
    """The planning of Grid'5000 elements, from the API.

    Args:
        elements: ``"grid5000"``, site, cluster and host names.
        vlan: add each site's KaVLANs (``"vlans"``: ``kavlan-4`` and up).
        subnet: add the subnets held by jobs (``"subnets"``).
        storage: add an empty ``"storage"`` entry (as Execo, storage
            reservations are not read).
        out_of_chart: make every host busy during the usage policy's day
            periods, to find slots at night and on week-ends only.
        starttime: the planning's start (any date
            :func:`procession.get_unixts` accepts; default: in a minute).
        endtime: its end (default: four weeks and a minute after start).
        ignore_besteffort: besteffort jobs do not make hosts busy (default).
        queues: only clusters serving this queue or these queues
            (``"all"`` or None: every cluster). Jobs of every queue make
            their hosts busy.

    Returns:
        The planning dict described in the module's documentation. A site
        whose API requests fail is left out, with a warning.

    Raises:
        ValueError: an element is not a known site, cluster or host.
    """
    elements = [elements] if isinstance(elements, str) else list(elements)
    start = int(get_unixts(starttime) or time.time() + 60)
    end = int(get_unixts(endtime) or start + DEFAULT_PLANNING_LENGTH)
    wanted_queues = _queue_list(queues)
    planning: Planning = {}
    for site in _resolve_sites(elements):
        site_planning: dict[str, dict[str, ElementPlanning]] = {
            c: {} for c in _site_clusters(site, wanted_queues)
        }
        try:
            if vlan:
                site_planning["vlans"] = {v: {"busy": [], "free": []} for v in _site_vlans(site)}
            if subnet:
                site_planning["subnets"] = {}
            if storage:
                site_planning["storage"] = {}
            _fill_site(site, site_planning, ignore_besteffort)
        except Exception as exc:  # Execo's behaviour: a broken site is skipped
            logger.warning("planning: site %s left out, its API failed: %s", site, exc)
            continue
        planning[site] = site_planning
    charter = get_charter_el_planning(start, end) if out_of_chart else []
    for site, site_planning in planning.items():
        for key, resources in list(site_planning.items()):
            for name in list(resources):
                if key not in NON_CLUSTER_KEYS and not _wanted_host(name, elements, site, key):
                    del resources[name]
                    continue
                resources[name]["busy"].extend(charter)
                _normalize(resources[name], start, end)
            if key not in NON_CLUSTER_KEYS and not resources:
                del site_planning[key]
    return planning


# --------------------------------------------------------------------------
# Slots (pure)


def _without_excluded(planning: Planning, excluded: Iterable[str]) -> Planning:
    excluded = set(excluded)
    kept: Planning = {}
    for site, site_planning in planning.items():
        if site in excluded:
            continue
        kept[site] = {
            key: {
                name: el
                for name, el in resources.items()
                if name not in excluded and name.split(".", 1)[0] not in excluded
            }
            for key, resources in site_planning.items()
            if key not in excluded
        }
    return kept


def _slots_limits(planning: Planning) -> list[int]:
    limits: set[int] = set()
    for site_planning in planning.values():
        for resources in site_planning.values():
            for el in resources.values():
                for b_start, b_end in itertools.chain(el["busy"], el["free"]):
                    limits.update((b_start, b_end))
    ordered = sorted(limits)
    return ordered[:-1]  # the planning's end starts no slot


def _free_at(el: ElementPlanning, start: int, end: int) -> bool:
    return any(f_start <= start and f_end >= end for f_start, f_end in el["free"])


def _vlan_number(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def compute_slots(
    planning: Planning, walltime: Any, excluded_elements: Iterable[str] | None = None
) -> list[Slot]:
    """Cut a planning into slots, with the free hosts of each element.

    A slot starts at each date where some resource changes state; it lasts
    ``walltime``, and a host counts as free in it when it is free for the
    whole slot.

    Args:
        planning: a planning, as :func:`get_planning` returns (unchanged).
        walltime: the slots' length (any duration
            :func:`procession.get_seconds` accepts).
        excluded_elements: sites, clusters or hosts to leave out.

    Returns:
        ``[[start, end, {"grid5000": n, site: n, cluster: n, ...}], ...]``
        sorted by start. With a planning made with ``vlan=True``, each
        free dict has a ``"kavlan"`` entry: the number of free local
        KaVLANs (``kavlan-4`` to ``kavlan-9``) for a one-site planning,
        the list of sites whose global KaVLAN is free otherwise. Subnets
        are not counted.
    """
    duration = get_seconds(walltime)
    if duration is None:
        raise ValueError(f"not a walltime: {walltime!r}")
    length = int(duration)
    if excluded_elements is not None:
        planning = _without_excluded(planning, excluded_elements)
    with_vlans = any("vlans" in site_planning for site_planning in planning.values())
    global_vlans = with_vlans and len(planning) > 1
    slots: list[Slot] = []
    for limit in _slots_limits(planning):
        free: dict[str, Any] = {"grid5000": 0}
        vlan_sites: list[str] = []
        local_vlans = 0
        for site, site_planning in planning.items():
            free[site] = 0
            for key, resources in site_planning.items():
                if key in NON_CLUSTER_KEYS:
                    continue
                n = sum(_free_at(el, limit, limit + length) for el in resources.values())
                free[key] = n
                free[site] += n
                free["grid5000"] += n
            for name, el in site_planning.get("vlans", {}).items():
                if not _free_at(el, limit, limit + length):
                    continue
                if global_vlans and _vlan_number(name) > 10:
                    vlan_sites.append(site)
                elif not global_vlans and _vlan_number(name) < 10:
                    local_vlans += 1
        if with_vlans:
            free["kavlan"] = sorted(set(vlan_sites)) if global_vlans else local_vlans
        slots.append([limit, limit + length, free])
    return slots


def _vlan_free(slot: Slot, resources_wanted: Mapping[str, Any]) -> bool:
    if "kavlan" not in resources_wanted:
        return True
    kavlan = slot[2].get("kavlan", 0)
    return bool(kavlan)


def _nodes(slot: Slot, resources_wanted: Mapping[str, Any]) -> int:
    return sum(
        int(n)
        for element, n in slot[2].items()
        if element in resources_wanted and element != "kavlan"
    )


NO_SLOT: Final = (None, None, None)
"""What the searches return when no slot fits (Execo's value)."""


def find_first_slot(
    slots: Sequence[Slot], resources_wanted: Mapping[str, Any]
) -> Slot | tuple[None, None, None]:
    """The first slot where some of the wanted elements have a free host.

    Funk's ``date`` mode.

    Args:
        slots: as :func:`compute_slots` returns.
        resources_wanted: ``{element: n}``; only the keys count here (and
            ``"kavlan"``, which asks for a free KaVLAN too).

    Returns:
        The slot, or ``(None, None, None)``.
    """
    for slot in slots:
        if _nodes(slot, resources_wanted) > 0 and _vlan_free(slot, resources_wanted):
            return slot
    return NO_SLOT


def find_max_slot(
    slots: Sequence[Slot], resources_wanted: Mapping[str, Any]
) -> Slot | tuple[None, None, None]:
    """The slot with the most free hosts on the wanted elements.

    Funk's ``max`` mode. The earliest slot wins a tie.

    Args:
        slots: as :func:`compute_slots` returns.
        resources_wanted: ``{element: n}``; the free hosts of its keys are
            summed (``"kavlan"`` asks for a free KaVLAN too).

    Returns:
        The slot, or ``(None, None, None)`` when no slot has a free host.
    """
    best: Slot | tuple[None, None, None] = NO_SLOT
    most = 0
    for slot in slots:
        nodes = _nodes(slot, resources_wanted)
        if nodes > most and _vlan_free(slot, resources_wanted):
            most, best = nodes, slot
    return best


def _total_wanted(
    resources_wanted: Mapping[str, Any], sites: Iterable[str], cluster_site: Any
) -> dict[str, int]:
    """What each element must have free: a site also hosts its clusters' wants."""
    wanted = {e: int(n) for e, n in resources_wanted.items() if e != "kavlan"}
    total = dict(wanted)
    site_set = set(sites)
    for element, n in wanted.items():
        if element == "grid5000":
            continue
        if "grid5000" in total:
            total["grid5000"] += n
        if element not in site_set:
            site = cluster_site(element)
            if site in total:
                total[site] += n
    return total


def find_free_slot(
    slots: Sequence[Slot], resources_wanted: Mapping[str, Any]
) -> Slot | tuple[None, None, None]:
    """The first slot with enough free hosts for every wanted element.

    Funk's ``free`` mode. Wants add up: ``{"grenoble": 2, "dahu": 3}``
    needs 3 free hosts on dahu and 5 on grenoble (the 2 may be anywhere
    on the site, dahu included), as :func:`get_jobs_specs` asks OAR.

    Args:
        slots: as :func:`compute_slots` returns.
        resources_wanted: ``{element: hosts}``, elements being
            ``"grid5000"``, sites and clusters; ``"kavlan"`` asks for a
            free KaVLAN too.

    Returns:
        The slot, or ``(None, None, None)``.
    """
    others = [e for e in resources_wanted if e not in ("grid5000", "kavlan")]
    # With one site or cluster wanted, nothing adds up: no need for the API.
    sites = set(_api().get_g5k_sites()) if len(others) > 1 else set()
    total = _total_wanted(resources_wanted, sites, _cluster_site_lookup(resources_wanted, sites))
    for slot in slots:
        if not _vlan_free(slot, resources_wanted):
            continue
        if all(slot[2].get(element, 0) >= n for element, n in total.items()):
            return slot
    return NO_SLOT


def _cluster_site_lookup(resources_wanted: Mapping[str, Any], sites: set[str]) -> Any:
    if not sites & set(resources_wanted):  # no site total to add clusters to
        return lambda cluster: None
    return _api().get_cluster_site


# --------------------------------------------------------------------------
# From a slot to OAR submissions


def distribute_hosts(
    resources_available: Mapping[str, Any],
    resources_wanted: Mapping[str, Any],
    excluded_elements: Iterable[str] | None = None,
    ratio: float | None = None,
) -> dict[str, Any]:
    """Decide how many hosts to take on each element of a slot.

    Args:
        resources_available: a slot's free dict (``slot[2]``); not changed.
        resources_wanted: ``{element: hosts}``; 0 means every free host of
            the element. Clusters are served first, then sites, then
            ``"grid5000"`` hosts are spread over the sites one at a time,
            round-robin.
        excluded_elements: sites and clusters not to use.
        ratio: if given (between 0 and 1), take only this fraction of each
            count (rounded down).

    Returns:
        ``{element: hosts}`` for :func:`get_jobs_specs`, with ``"kavlan"``
        copied from the slot when it was wanted.

    Differences from Execo: does not modify ``resources_available``.
    """
    api = _api()
    available = dict(resources_available)
    excluded = set(excluded_elements or ())
    resources: dict[str, Any] = {}
    all_sites = set(api.get_g5k_sites())
    for element, n in resources_wanted.items():
        if element in ("grid5000", "kavlan") or element in all_sites:
            continue
        nodes = int(n) if n else int(available.get(element, 0))
        site = api.get_cluster_site(element)
        available[site] = available.get(site, 0) - nodes
        resources[element] = nodes
    for element in excluded:
        if element in available and element not in all_sites and element != "grid5000":
            lost = available[element]
            available[element] = 0
            site = api.get_cluster_site(element)
            available[site] = available.get(site, 0) - lost
    for element, n in resources_wanted.items():
        if element in all_sites and element not in excluded:
            resources[element] = int(n) if n else int(available.get(element, 0))
            available[element] = available.get(element, 0) - resources[element]
    for element in excluded & all_sites:
        available[element] = 0
    if "grid5000" in resources_wanted:
        _spread(resources, available, resources_wanted["grid5000"], sorted(all_sites))
    if "kavlan" in resources_wanted:
        resources["kavlan"] = resources_available.get("kavlan")
    if ratio is not None:
        resources = {
            k: (math.floor(v * ratio) if isinstance(v, int) and k != "kavlan" else v)
            for k, v in resources.items()
        }
    return resources


def _spread(
    resources: dict[str, Any], available: dict[str, Any], wanted: Any, sites: list[str]
) -> None:
    pool = [s for s in sites if available.get(s, 0) > 0]
    goal = int(wanted) if wanted else sum(available[s] for s in pool)
    placed = 0
    while placed < goal and pool:
        for site in list(pool):
            if placed == goal:
                break
            if available[site] <= 0:
                pool.remove(site)
                continue
            available[site] -= 1
            resources[site] = resources.get(site, 0) + 1
            placed += 1


def _oar_str_list(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def get_jobs_specs(
    resources: Mapping[str, Any],
    excluded_elements: Iterable[str] | None = None,
    name: str | None = None,
) -> list[tuple[OarSubmission, str]]:
    """OAR submissions for a request, one per site.

    Args:
        resources: ``{element: hosts}`` (as :func:`distribute_hosts`
            returns): clusters get ``{cluster='c'}/nodes=n``, sites
            ``nodes=n`` (on top of their clusters' hosts), ``"kavlan"``
            adds a KaVLAN (a global one when several sites are used).
        excluded_elements: clusters and hosts the site-wide requests must
            avoid.
        name: the jobs' name.

    Returns:
        ``[(OarSubmission, site), ...]`` for :func:`procession.g5k.oarsub`
        (the site name is the frontend). Walltime, reservation date, queue
        and job type are left for the caller to set
        (``dataclasses.replace``).
    """
    api = _api()
    excluded = list(excluded_elements or ())
    all_sites = list(api.get_g5k_sites())
    clusters = set(api.get_g5k_clusters(queues=None))
    sites: list[str] = []
    for element, n in resources.items():
        site = (
            element
            if element in all_sites
            else api.get_cluster_site(element)
            if element in clusters and element not in excluded
            else None
        )
        if site is not None and site not in sites and (n or element in all_sites):
            sites.append(site)
    kavlan = "kavlan-global" if len(sites) > 1 else "kavlan"
    vlan_sites = resources.get("kavlan")
    if kavlan == "kavlan-global" and isinstance(vlan_sites, list) and vlan_sites:
        vlan_site: str | None = next((s for s in sites if s in vlan_sites), sites[0])
    else:
        vlan_site = sites[0] if sites else None
    specs = []
    for site in sites:
        parts = []
        # One KaVLAN for the whole request: a global one spans the sites.
        if "kavlan" in resources and site == vlan_site:
            parts.append(f"{{type='{kavlan}'}}/vlan=1")
        parts.extend(_site_parts(api, site, resources, excluded, clusters | set(all_sites)))
        if parts:
            specs.append((OarSubmission(resources="+".join(parts), name=name), site))
    return specs


def _site_parts(
    api: Any,
    site: str,
    resources: Mapping[str, Any],
    excluded: Sequence[str],
    not_hosts: set[str],
) -> list[str]:
    site_clusters = list(api.get_site_clusters(site, queues=None))
    hosts = [
        api.get_host_longname(e) or e
        for e in excluded
        if e not in not_hosts and _host_site_or_none(api, e) == site
    ]
    host_filter = f"host not in ({_oar_str_list(hosts)})" if hosts else ""
    parts = []
    for cluster in site_clusters:
        n = int(resources.get(cluster, 0) or 0)
        if n > 0 and cluster not in excluded:
            conditions = " and ".join(filter(None, [host_filter, f"cluster='{cluster}'"]))
            parts.append(f"{{{conditions}}}/nodes={n}")
    n_site = int(resources.get(site, 0) or 0)
    if n_site > 0:
        bad_clusters = [c for c in site_clusters if c in excluded]
        conditions = " and ".join(
            filter(
                None,
                [
                    host_filter,
                    f"cluster not in ({_oar_str_list(bad_clusters)})" if bad_clusters else "",
                ],
            )
        )
        parts.append((f"{{{conditions}}}/" if conditions else "") + f"nodes={n_site}")
    return parts


def _host_site_or_none(api: Any, host: str) -> str | None:
    try:
        site = api.get_host_site(host)
    except ValueError:  # a host name of an unknown cluster
        return None
    return None if site is None else str(site)


def resources_table(resources: Mapping[str, Any], msg: str = "Resources") -> str:
    """A text table of ``{element: hosts}``: a line per site with its count
    and its clusters' counts, then the total (``grid5000`` or the sum of
    the clusters)."""
    api = _api()
    lines = [msg]
    total = 0
    for site in api.get_g5k_sites():
        clusters = [c for c in api.get_site_clusters(site, queues=None) if c in resources]
        if site not in resources and not clusters:
            continue
        words = [site.ljust(12), str(resources.get(site, "")).rjust(4)]
        words += [f"{c}: {resources[c]}" for c in clusters]
        total += sum(int(resources[c] or 0) for c in clusters)
        lines.append(" ".join(words).rstrip())
    if "grid5000" in resources:
        lines.append(f"{'grid5000'.ljust(12)} {resources['grid5000']}")
    elif total:
        lines.append(f"{'total'.ljust(12)} {total}")
    if "kavlan" in resources:
        lines.append(f"{'kavlan'.ljust(12)} {resources['kavlan']}")
    return "\n".join(lines)


def show_resources(resources: Mapping[str, Any], msg: str = "Resources") -> None:
    """Log, at info level, the table :func:`resources_table` makes."""
    logger.info("%s", resources_table(resources, msg))


# --------------------------------------------------------------------------
# Pictures (matplotlib, extra "plot")


def _new_figure(show: bool, **kwargs: Any) -> Any:
    """A matplotlib figure: a bare ``Figure`` (no pyplot global state, safe
    in any thread) unless it must be shown in a window."""
    try:
        if show:
            import matplotlib.pyplot as plt  # noqa: PLC0415

            return plt.figure(**kwargs)
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            "drawing a planning needs matplotlib: pip install 'procession[plot]'"
        ) from exc
    return Figure(**kwargs)


def _finish_figure(fig: Any, show: bool, save: bool, path: Path) -> None:
    if save:
        fig.savefig(path)
        logger.info("picture saved to %s", path)
    if show:
        import matplotlib.pyplot as plt  # noqa: PLC0415

        plt.show()


_TAB10: Final = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
BUSY_COLOUR: Final = "#666666"


def _planning_span(planning: Planning) -> tuple[int, int]:
    dates = [
        d
        for site_planning in planning.values()
        for resources in site_planning.values()
        for el in resources.values()
        for span in itertools.chain(el["busy"], el["free"])
        for d in span
    ]
    if not dates:
        raise ValueError("the planning is empty: nothing to draw")
    return min(dates), max(dates)


def draw_gantt(
    planning: Planning,
    colors: Mapping[str, Any] | None = None,
    show: bool = False,
    save: bool = True,
    outfile: str | Path | None = None,
    slots: Sequence[Slot] | None = None,
) -> Any:
    """Draw a Gantt chart of a planning (requires matplotlib, extra ``plot``).

    One horizontal line per host (and KaVLAN, subnet), one panel per site:
    busy periods in grey, free ones in the colour of their cluster. The
    given ``slots`` (such as the one a search found) are drawn as
    translucent green spans on every panel.

    Args:
        planning: as :func:`get_planning` returns.
        colors: ``{cluster: colour}`` (any matplotlib colour) and
            ``"busy"``; default: matplotlib's ``tab10`` cycle and grey.
        show: also open a window (needs a display).
        save: save to ``outfile`` (default).
        outfile: where to save; the suffix picks the format (``.png``,
            ``.svg``, ``.pdf``). Default: ``gantt_<sites>_<start>.png``
            in the current directory.
        slots: slots to highlight.

    Returns:
        The matplotlib ``Figure``: each site's axes hold one ``Rectangle``
        patch per busy or free period, then one ``Polygon`` per slot.
    """
    start, end = _planning_span(planning)
    sites = sorted(planning)
    fig = _new_figure(show, figsize=(12, 2 + 2.5 * len(sites)))
    axes = fig.subplots(len(sites), 1, squeeze=False)
    colours = dict(colors or {})
    for ax, site in zip(axes[:, 0], sites, strict=True):
        _draw_site(ax, planning[site], colours, start)
        for slot in slots or []:
            ax.axvspan(slot[0] - start, slot[1] - start, color="green", alpha=0.25)
        ax.set_xlim(0, end - start)
        ax.set_title(site)
        ax.set_xlabel(f"seconds after {format_date(start)}")
    fig.tight_layout()
    path = Path(outfile or f"gantt_{'_'.join(sites)}_{int(start)}.png")
    _finish_figure(fig, show, save, path)
    return fig


def _draw_site(
    ax: Any, site_planning: Mapping[str, Mapping[str, ElementPlanning]], colours: Any, t0: int
) -> None:
    labels: list[str] = []
    for index, key in enumerate(sorted(site_planning)):
        colour = colours.get(key, _TAB10[index % len(_TAB10)])
        for name in sorted(site_planning[key], key=_host_key):
            el = site_planning[key][name]
            y = len(labels)
            short = name.split(".", 1)[0]
            labels.append(f"{key}/{short}" if key in NON_CLUSTER_KEYS else short)
            for kind, colour_of_kind in (
                ("busy", colours.get("busy", BUSY_COLOUR)),
                ("free", colour),
            ):
                for p_start, p_end in el[kind]:
                    ax.barh(y, p_end - p_start, left=p_start - t0, height=0.8, color=colour_of_kind)
    ax.set_yticks(range(len(labels)), labels)


def draw_slots(
    slots: Sequence[Slot],
    colors: Mapping[str, Any] | None = None,
    show: bool = False,
    save: bool = True,
    outfile: str | Path | None = None,
) -> Any:
    """Draw the free hosts of every element over time (extra ``plot``).

    Args:
        slots: as :func:`compute_slots` returns.
        colors: ``{element: colour}``; default: matplotlib's cycle.
        show: also open a window.
        save: save to ``outfile`` (default).
        outfile: where to save (the suffix picks the format); default
            ``slots_<start>.png``.

    Returns:
        The matplotlib ``Figure``: one step line per element.
    """
    if not slots:
        raise ValueError("no slots to draw")
    starts = [slot[0] for slot in slots]
    keys = sorted({k for slot in slots for k in slot[2]} - {"kavlan"})
    fig = _new_figure(show, figsize=(12, 6))
    ax = fig.subplots()
    for key in keys:
        counts = [slot[2].get(key, 0) for slot in slots]
        x = [s - starts[0] for s in starts]
        ax.step(x, counts, where="post", label=key, color=(colors or {}).get(key))
    ax.set_xlabel(f"seconds after {format_date(starts[0])}")
    ax.set_ylabel("free hosts")
    ax.legend(loc="upper right")
    _finish_figure(fig, show, save, Path(outfile or f"slots_{int(starts[0])}.png"))
    return fig
