"""The Grid'5000 REST API: sites, clusters, hosts, network equipments.

Execo's ``execo_g5k.api_utils`` names and semantics. The reference data
(sites, clusters, hosts and network equipments: what changes only when the
platform changes) is fetched once and kept in an on-disk cache, so that
the getters are instant and work offline. At the first call of a process
the API's version (the ``version`` of its root document) is compared with
the cached one: the cache is refreshed when it differs, and used as it is
when the API cannot be reached. :func:`clear_cache` forgets it.

The API is ``g5k_configuration['api_uri']``; see
:mod:`procession.g5k._api_credentials` for where credentials come from
(never from scripts, never logged).

HTTP goes through ``requests`` (extra ``procession[g5k]``) rather than
python-grid5000: Execo's getters are path-based (``get_resource_attributes(
path)``, ``APIConnection.get(path)`` returning the response), which is a
GET of a path, while python-grid5000 puts an object layer (managers, lazy
objects) on top of the same ``requests`` session that these calls would
have to go around; its configuration file is read for credentials all the
same.

This module is thread-safe.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from procession import Host, ProcessionError, get_seconds, get_unixts

from ._api_credentials import find_credentials, forget_passwords, inside_grid5000
from .config import g5k_configuration

if TYPE_CHECKING:
    import requests

__all__ = [
    "APIConnection",
    "APIException",
    "canonical_host_name",
    "clear_cache",
    "filter_clusters",
    "get_api_data",
    "get_cluster_attributes",
    "get_cluster_hosts",
    "get_cluster_jobtypes",
    "get_cluster_network_equipments",
    "get_cluster_queues",
    "get_cluster_site",
    "get_g5k_clusters",
    "get_g5k_hosts",
    "get_g5k_sites",
    "get_host_attributes",
    "get_host_cluster",
    "get_host_interface",
    "get_host_longname",
    "get_host_network_equipments",
    "get_host_shortname",
    "get_host_site",
    "get_hosts_metric",
    "get_network_equipment_attributes",
    "get_network_equipment_site",
    "get_resource_attributes",
    "get_site_attributes",
    "get_site_clusters",
    "get_site_hosts",
    "get_site_network_equipments",
    "group_hosts",
]

logger = logging.getLogger("procession.g5k.api")

JSON = dict[str, Any]
HostLike = TypeVar("HostLike", str, Host)
Queues = str | Sequence[str] | None | bool

CACHE_FORMAT = 1
"""Bumped when the layout of the cached data changes."""


class APIException(ProcessionError):
    """A request to the Grid'5000 API failed.

    Attributes:
        uri: the requested URI.
        method: the HTTP method.
        status_code: the HTTP status, or None when no answer came.
        response: the ``requests`` response, or None.
        exception: the transport error, or None.
    """

    def __init__(
        self,
        uri: str,
        method: str,
        response: requests.Response | None = None,
        exception: BaseException | None = None,
    ) -> None:
        super().__init__(uri, method)
        self.uri = uri
        self.method = method
        self.response = response
        self.exception = exception
        self.status_code = response.status_code if response is not None else None

    def __str__(self) -> str:
        if self.response is not None:
            body = self.response.text.strip()
            if len(body) > 500:
                body = body[:500] + "..."
            return f"{self.method} {self.uri}: HTTP {self.status_code}: {body}"
        return f"{self.method} {self.uri}: {self.exception!r}"


def _requests() -> Any:
    try:
        import requests  # noqa: PLC0415  (optional dependency, extra "g5k")
    except ImportError as exc:
        raise ImportError(
            "the Grid'5000 API needs the requests package: pip install 'procession[g5k]'"
        ) from exc
    return requests


class APIConnection:
    """Requests to a REST API, by default the Grid'5000 one.

    Args:
        base_uri: the API's base URI; default ``g5k_configuration['api_uri']``.
        username: the user name; None means the default (see
            :mod:`procession.g5k._api_credentials`), False none at all.
        password: the password; None means found (environment,
            python-grid5000 file, keyring, prompt).
        headers: HTTP headers; default ``Accept: application/json``.
        additional_args: query parameters added to every request, on top
            of ``g5k_configuration['api_additional_args']``.
        timeout: seconds; default ``g5k_configuration['api_timeout']``.

    Each request opens and closes its own connection (no pool is left
    open behind the caller). Methods raise :class:`APIException`.

    Differences from Execo: ``additional_args`` does not modify
    ``g5k_configuration['api_additional_args']``; the password is not
    checked against api.grid5000.fr when prompted; ``delete`` exists.
    """

    def __init__(
        self,
        base_uri: str | None = None,
        username: str | bool | None = None,
        password: str | None = None,
        headers: Mapping[str, str] | None = None,
        additional_args: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.base_uri = (base_uri or g5k_configuration["api_uri"]).rstrip("/")
        self.headers = dict(headers or {"Accept": "application/json"})
        self.additional_args = dict(g5k_configuration.get("api_additional_args") or {})
        self.additional_args.update(additional_args or {})
        self.timeout = timeout if timeout is not None else g5k_configuration["api_timeout"]
        self._username = username
        self._password = password

    def __repr__(self) -> str:
        return f"APIConnection({self.base_uri!r})"

    def _auth(self) -> tuple[str, str] | None:
        if self._username is False or (
            self._username is None and g5k_configuration.get("api_username") is False
        ):
            return None
        name = self._username if isinstance(self._username, str) else None
        return find_credentials(self.base_uri, name, self._password)

    def _verify(self, auth: tuple[str, str] | None) -> bool | str:
        verify = g5k_configuration.get("api_verify_ssl_cert", True)
        # Inside Grid'5000 the API's certificate is signed by the platform's own CA.
        if auth is None and inside_grid5000():
            return False
        return verify if isinstance(verify, str) else bool(verify)

    def _build_uri(self, relative_uri: str) -> str:
        return self.base_uri + "/" + relative_uri.lstrip("/")

    def request(self, method: str, relative_uri: str, json: Any = None) -> requests.Response:
        """Send one request; the response when its status is 2xx or 304."""
        requests = _requests()
        uri = self._build_uri(relative_uri)
        auth = self._auth()
        try:
            response = requests.request(
                method,
                uri,
                params=self.additional_args or None,
                headers=self.headers,
                json=json,
                auth=auth,
                verify=self._verify(auth),
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise APIException(uri, method, exception=exc) from exc
        logger.debug("%s %s: %s", method, uri, response.status_code)
        if not (200 <= response.status_code < 300 or response.status_code == 304):
            raise APIException(uri, method, response=response)
        return response  # type: ignore[no-any-return]

    def get(self, relative_uri: str) -> requests.Response:
        """GET *relative_uri* (relative to the base URI); the response."""
        return self.request("GET", relative_uri)

    def post(self, relative_uri: str, json: Any) -> requests.Response:
        """POST *json* to *relative_uri*; the response."""
        return self.request("POST", relative_uri, json)

    def delete(self, relative_uri: str) -> requests.Response:
        """DELETE *relative_uri*; the response."""
        return self.request("DELETE", relative_uri)


# --- the shared connection ------------------------------------------------------
_api_lock = threading.Lock()
_api: APIConnection | None = None
_api_key: tuple[Any, ...] = ()


def _get_g5k_api() -> APIConnection:
    """The shared connection, re-made when the configuration changed."""
    global _api, _api_key
    key = (
        g5k_configuration["api_uri"],
        g5k_configuration.get("api_username"),
        g5k_configuration.get("api_timeout"),
        json.dumps(g5k_configuration.get("api_additional_args") or {}, sort_keys=True),
    )
    with _api_lock:
        if _api is None or key != _api_key:
            _api, _api_key = APIConnection(), key
        return _api


def get_resource_attributes(path: str) -> JSON:
    """The JSON document at *path* of the API (``"sites/lyon"``,
    ``"/sites/lyon/status"``), as a dict; never cached.

    Raises:
        APIException: the request failed.
    """
    data: JSON = _get_g5k_api().get(path).json()
    return data


def _get_items(path: str) -> list[JSON]:
    """Every item of a paginated collection."""
    items: list[JSON] = []
    sep = "&" if "?" in path else "?"
    while True:
        page = get_resource_attributes(f"{path}{sep}offset={len(items)}&limit=1000")
        items.extend(page.get("items", []))
        if not page.get("items") or len(items) >= int(page.get("total", len(items))):
            return items


# --- the cached reference data ----------------------------------------------------
_data_lock = threading.RLock()
_data: dict[str, JSON] = {}
"""The reference data by API URI, once loaded in this process."""


def _cache_root() -> Path:
    configured = g5k_configuration.get("api_cache_dir")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "procession" / "g5k_api"


def _cache_file(uri: str) -> Path:
    # one cache per API (the real one, a test stand-in, ...)
    digest = hashlib.sha1(uri.rstrip("/").encode(), usedforsecurity=False).hexdigest()[:16]
    return _cache_root() / f"{digest}.json"


def _read_cache(uri: str) -> JSON | None:
    try:
        cached: JSON = json.loads(_cache_file(uri).read_text())
    except (OSError, ValueError):
        return None
    if cached.get("format") != CACHE_FORMAT or cached.get("uri") != uri:
        return None
    return cached


def _write_cache(uri: str, version: str, data: JSON) -> None:
    path = _cache_file(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {"format": CACHE_FORMAT, "uri": uri, "version": version, "data": data}
    # written aside then renamed: concurrent processes never read half a file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(content, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _fetch_site(site: str) -> JSON:
    clusters = [c["uid"] for c in _get_items(f"sites/{site}/clusters")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        site_attrs = pool.submit(get_resource_attributes, f"sites/{site}")
        network = pool.submit(_get_items, f"sites/{site}/network_equipments")
        cluster_attrs = {
            c: pool.submit(get_resource_attributes, f"sites/{site}/clusters/{c}") for c in clusters
        }
        hosts = {c: pool.submit(_get_items, f"sites/{site}/clusters/{c}/nodes") for c in clusters}
        return {
            "site": site_attrs.result(),
            "network": {e["uid"]: e for e in network.result()},
            "clusters": {c: f.result() for c, f in cluster_attrs.items()},
            "hosts": {c: {h["uid"]: h for h in f.result()} for c, f in hosts.items()},
        }


def _fetch_api_data() -> JSON:
    logger.info("Retrieving the Grid'5000 reference data from %s", g5k_configuration["api_uri"])
    sites = sorted(s["uid"] for s in _get_items("sites"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        backbone = pool.submit(_get_items, "network_equipments")
        per_site = {s: pool.submit(_fetch_site, s) for s in sites}
        data: JSON = {
            "network": {"backbone": backbone.result()},
            "sites": {},
            "clusters": {},
            "hosts": {},
            "hierarchy": {},
        }
        for site, future in per_site.items():
            got = future.result()
            data["network"][site] = got["network"]
            data["sites"][site] = got["site"]
            data["hierarchy"][site] = {}
            for cluster, attrs in got["clusters"].items():
                data["clusters"][cluster] = attrs
                data["hierarchy"][site][cluster] = list(got["hosts"][cluster])
                data["hosts"].update(got["hosts"][cluster])
    return data


def _api_version() -> str | None:
    """The API's version, or None when it cannot be reached."""
    try:
        return str(get_resource_attributes("")["version"])
    except (APIException, KeyError, ValueError) as exc:
        logger.warning("Grid'5000 API unreachable, using the cached data: %s", exc)
        return None


def get_api_data() -> JSON:
    """The reference data: a dict with keys ``network`` (``backbone``: list
    of equipments; per site: equipments by uid), ``sites``, ``clusters`` and
    ``hosts`` (attributes by uid) and ``hierarchy`` (site → cluster → host
    uids), as in Execo.

    Loaded once per process: from the on-disk cache when its version is
    the API's (or the API cannot be reached), else from the API, then
    written to the cache.

    Raises:
        APIException: no cache, and the API cannot be reached.
    """
    uri = g5k_configuration["api_uri"].rstrip("/")
    with _data_lock:
        if uri in _data:
            return _data[uri]
        cached = _read_cache(uri)
        version = _api_version() if cached else str(get_resource_attributes("")["version"])
        if cached and version in (None, cached["version"]):
            logger.debug("Grid'5000 reference data from the cache %s", _cache_file(uri))
            data: JSON = cached["data"]
        else:
            assert version is not None
            data = _fetch_api_data()
            _write_cache(uri, version, data)
        _data[uri] = data
        return data


def clear_cache() -> None:
    """Forget the reference data: in memory, and the on-disk cache of the
    current API (``g5k_configuration['api_uri']``); also forget the
    passwords found. The next getter call fetches everything again.

    .. versionadded:: 0.1 (not in Execo)
    """
    uri = g5k_configuration["api_uri"].rstrip("/")
    with _data_lock:
        _data.clear()
        try:
            _cache_file(uri).unlink()
        except FileNotFoundError:
            pass
    forget_passwords()


# --- getters ----------------------------------------------------------------------
def _as_list(queues: str | Sequence[str]) -> list[str]:
    return [queues] if isinstance(queues, str) else list(queues)


def filter_clusters(clusters: Iterable[str], queues: Queues = "default") -> list[str]:
    """The *clusters* that have at least one of *queues* (a name or a list;
    None or False: no filtering). A cluster without a ``queues``
    attribute is in ``admin``, ``default`` and ``besteffort``."""
    if queues is None or queues is False or queues is True:
        return list(clusters)
    wanted = set(_as_list(queues))
    return [
        c
        for c in clusters
        if wanted.intersection(
            get_cluster_attributes(c).get("queues") or ["admin", "default", "besteffort"]
        )
    ]


def get_g5k_sites() -> list[str]:
    """The Grid'5000 sites."""
    return list(get_api_data()["hierarchy"])


def _check_site(site: str) -> JSON:
    hierarchy: JSON = get_api_data()["hierarchy"]
    if site not in hierarchy:
        raise ValueError(f"unknown g5k site {site}")
    return hierarchy


def get_site_clusters(site: str, queues: Queues = "default") -> list[str]:
    """The clusters of *site* (filtered on *queues*, see :func:`filter_clusters`).

    Raises:
        ValueError: unknown site.
    """
    return filter_clusters(_check_site(site)[site], queues)


def get_site_hosts(site: str, queues: Queues = "default") -> list[str]:
    """The hosts (short names) of *site*'s clusters in *queues*."""
    return [h for c in get_site_clusters(site, queues) for h in get_cluster_hosts(c)]


def get_site_network_equipments(site: str) -> list[str]:
    """The network equipments (uids) of *site*."""
    _check_site(site)
    return list(get_api_data()["network"][site])


def get_g5k_clusters(queues: Queues = "default") -> list[str]:
    """Every cluster in *queues* (see :func:`filter_clusters`)."""
    return filter_clusters(get_api_data()["clusters"], queues)


def get_g5k_hosts(queues: Queues = "default") -> list[str]:
    """Every host (short names) of the clusters in *queues*."""
    return [h for c in get_g5k_clusters(queues) for h in get_cluster_hosts(c)]


def get_cluster_site(cluster: str) -> str:
    """The site of *cluster*.

    Raises:
        ValueError: unknown cluster.
    """
    for site, clusters in get_api_data()["hierarchy"].items():
        if cluster in clusters:
            return str(site)
    raise ValueError(f"unknown g5k cluster {cluster}")


def get_cluster_hosts(cluster: str) -> list[str]:
    """The hosts (short names) of *cluster*.

    Raises:
        ValueError: unknown cluster.
    """
    return list(get_api_data()["hierarchy"][get_cluster_site(cluster)][cluster])


def get_cluster_network_equipments(cluster: str) -> list[str]:
    """The network equipments the hosts of *cluster* are plugged into.

    Differences from Execo: works (Execo 2.8 raises TypeError).
    """
    return sorted({e for h in get_cluster_hosts(cluster) for e in get_host_network_equipments(h)})


def get_cluster_queues(cluster: str) -> list[str]:
    """The OAR queues of *cluster*."""
    return list(get_cluster_attributes(cluster).get("queues") or [])


def get_cluster_jobtypes(cluster: str) -> list[str]:
    """The OAR job types needed to reserve *cluster*: ``["exotic"]`` for an
    exotic cluster, else ``[]``.

    Differences from Execo: reads the cluster's ``exotic`` attribute (Execo
    2.8 indexes the list of queues with ``"exotic"`` and fails).
    """
    return ["exotic"] if get_cluster_attributes(cluster).get("exotic") else []


def get_host_attributes(host: str | Host) -> JSON:
    """The attributes of *host* (any name form, or a Host) in the reference API.

    Raises:
        KeyError: unknown host.
    """
    attrs: JSON = get_api_data()["hosts"][get_host_shortname(host)]
    return attrs


def get_cluster_attributes(cluster: str) -> JSON:
    """The attributes of *cluster* in the reference API.

    Raises:
        KeyError: unknown cluster.
    """
    attrs: JSON = get_api_data()["clusters"][cluster]
    return attrs


def get_site_attributes(site: str) -> JSON:
    """The attributes of *site* in the reference API.

    Raises:
        KeyError: unknown site.
    """
    attrs: JSON = get_api_data()["sites"][site]
    return attrs


def get_network_equipment_site(equip: str) -> str | None:
    """The site of the network equipment *equip*; None for a backbone one
    or an unknown one."""
    for site in get_g5k_sites():
        if equip in get_api_data()["network"][site]:
            return site
    return None


def get_network_equipment_attributes(equip: str) -> JSON:
    """The attributes of the network equipment *equip* (of a site, or of
    the backbone).

    Raises:
        KeyError: unknown equipment.
    """
    network = get_api_data()["network"]
    site = get_network_equipment_site(equip)
    if site is not None:
        attrs: JSON = network[site][equip]
        return attrs
    for attrs in network["backbone"]:
        if attrs["uid"] == equip:
            return attrs
    raise KeyError(equip)


def get_host_network_equipments(host: str | Host) -> list[str]:
    """The network equipments *host*'s mountable Ethernet adapters are
    plugged into.

    Raises:
        ValueError: unknown host.
    """
    short = get_host_shortname(host)
    if short not in get_api_data()["hosts"]:
        raise ValueError(f"unknown g5k host {host}")
    return sorted(
        {
            n["switch"]
            for n in get_host_attributes(short).get("network_adapters", [])
            if n.get("switch")
            and not n.get("management")
            and n.get("mountable")
            and n.get("interface") == "Ethernet"
        }
    )


# --- host names -------------------------------------------------------------------
# name[-interface][-kavlan-N][-ipv6][.site[.grid5000.fr]], e.g. dahu-3-eth1-kavlan-4.grenoble
_HOST_NAME = re.compile(
    r"^(?P<short>[a-zA-Z]+\d*-\d+)(?:-(?!kavlan-\d+)(?!ipv6)(?P<iface>\w+))?"
    r"(?P<kavlan>-kavlan-\d+)?(?P<ipv6>-ipv6)?(?P<domain>\.[.\w]+)?$"
)
_HOST_GROUP = re.compile(r"^(?P<cluster>[a-zA-Z]+\d*)-\d+(?:\.(?P<site>\w+))?")


def _address(host: str | Host) -> str:
    return host.address if isinstance(host, Host) else str(host)


def canonical_host_name(host: HostLike) -> HostLike:
    """*host* without its interface, kavlan and ipv6 parts
    (``dahu-3-eth1-kavlan-4.grenoble.grid5000.fr`` →
    ``dahu-3.grenoble.grid5000.fr``); a Host gives a Host, a str a str."""
    address = _address(host)
    m = _HOST_NAME.match(address)
    canonical = m["short"] + (m["domain"] or "") if m else address
    if isinstance(host, Host):
        return Host(canonical, user=host.user, keyfile=host.keyfile, port=host.port)
    return canonical


def get_host_interface(host: str | Host) -> str | None:
    """The interface named in *host* (``dahu-3-eth1`` → ``eth1``), ``eth0``
    when none is, None when *host* is not a Grid'5000 node name."""
    m = _HOST_NAME.match(_address(host))
    if not m:
        return None
    return m["iface"] or "eth0"


def get_host_shortname(host: str | Host) -> str:
    """The short name of *host* (``dahu-3``)."""
    return canonical_host_name(_address(host)).partition(".")[0]


def get_host_cluster(host: str | Host) -> str | None:
    """The cluster of *host* (any name form), from its name."""
    m = _HOST_GROUP.match(canonical_host_name(_address(host)))
    return m["cluster"] if m else None


def get_host_site(host: str | Host) -> str | None:
    """The site of *host* (any name form): from its name, else from its
    cluster's site."""
    m = _HOST_GROUP.match(canonical_host_name(_address(host)))
    if not m:
        return None
    return m["site"] or get_cluster_site(m["cluster"])


def get_host_longname(host: str | Host) -> str | None:
    """The fully qualified name of *host* (``dahu-3.grenoble.grid5000.fr``);
    None when its site cannot be found."""
    short, _, rest = _address(host).partition(".")
    site = rest.partition(".")[0] or get_host_site(short)
    return f"{short}.{site}.grid5000.fr" if site else None


def group_hosts(hosts: Iterable[HostLike]) -> dict[str | None, dict[str | None, list[HostLike]]]:
    """*hosts* grouped in a dict by site, then by cluster."""
    grouped: dict[str | None, dict[str | None, list[HostLike]]] = {}

    def site_key(h: HostLike) -> str:
        return get_host_site(h) or ""

    def cluster_key(h: HostLike) -> str:
        return get_host_cluster(h) or ""

    for site, site_hosts in itertools.groupby(sorted(hosts, key=site_key), site_key):
        by_cluster = grouped.setdefault(site or None, {})
        for cluster, cluster_hosts in itertools.groupby(
            sorted(site_hosts, key=cluster_key), cluster_key
        ):
            by_cluster[cluster or None] = list(cluster_hosts)
    return grouped


# --- metrics --------------------------------------------------------------------
def _unixts(date: Any) -> int | None:
    ts = get_unixts(date) if date is not None else None
    return int(ts) if ts is not None else None


def get_hosts_metric(
    hosts: Iterable[HostLike],
    metric: str,
    from_ts: Any = None,
    to_ts: Any = None,
    resolution: Any = None,
) -> dict[HostLike, JSON]:
    """Values of *metric* (``"bmc_node_power_watt"``, ...) on *hosts*, from
    the Grid'5000 metrology API (``/sites/{site}/metrics``).

    Args:
        hosts: the hosts (names or Hosts).
        metric: the metric's name.
        from_ts: the start of the period: a date in any form
            :func:`~procession.get_unixts` accepts.
        to_ts: the end of the period, likewise.
        resolution: keep one value every *resolution* seconds (any form
            :func:`~procession.get_seconds` accepts), per host.

    Returns:
        host (as given) → ``{"values": [(timestamp, value), ...],
        "from": ..., "to": ..., "resolution": ..., "type": metric}``.

    Differences from Execo: uses the current metrics API (Execo 2.8 still
    calls the retired ``/metrics/{metric}/timeseries``); resolution is
    applied here.
    """
    start = _unixts(from_ts)
    end = _unixts(to_ts)
    step = get_seconds(resolution) if resolution is not None else None
    result: dict[HostLike, JSON] = {}
    for site, clusters in group_hosts(hosts).items():
        site_hosts = [h for hs in clusters.values() for h in hs]
        by_short = {get_host_shortname(h): h for h in site_hosts}
        query = f"sites/{site}/metrics?metrics={metric}&nodes=" + ",".join(by_short)
        if start is not None:
            query += f"&start_time={start}"
        if end is not None:
            query += f"&end_time={end}"
        answer: Any = _get_g5k_api().get(query).json()
        points = answer if isinstance(answer, list) else answer.get("items", [])
        series: dict[str, list[tuple[float, Any]]] = {}
        for p in points:
            ts = get_unixts(p["timestamp"])
            if ts is not None:
                series.setdefault(p["device_id"], []).append((ts, p["value"]))
        for short, host in by_short.items():
            values = sorted(series.get(short, []))
            if step:
                kept: list[tuple[float, Any]] = []
                for ts, v in values:
                    if not kept or ts - kept[-1][0] >= step:
                        kept.append((ts, v))
                values = kept
            result[host] = {
                "values": values,
                "from": start,
                "to": end,
                "resolution": step,
                "type": metric,
            }
    return result
