"""The network topology of Grid'5000 as a networkx graph, and its picture.

Built from the reference API's network data (the cached data of
:mod:`procession.g5k.api_utils`): each site's network equipments list, per
linecard and port, what is plugged there (a node, another switch or router,
a port channel, the backbone), and the backbone equipments (``renater-*``)
list their neighbours.

The graph (a ``networkx.MultiGraph``) has nodes of these ``kind``:

- ``"site"`` (id ``"lyon"``), ``"cluster"`` (id ``"nova"``, attribute
  ``site``), ``"node"`` (id ``"nova-1.lyon.grid5000.fr"``, attributes
  ``site``, ``cluster``, ``cores``, ``power`` in flops);
- network equipments: their API kind, ``"router"`` or ``"switch"`` (id
  ``"gw.lyon.grid5000.fr"``, attributes ``site``, ``uid``, ``backplane``
  in bit/s);
- ``"renater"``: backbone equipments (id ``"renater-lyon"``), when the
  backbone is included.

Edges have a ``kind``: ``"contains"`` (site to cluster, cluster to node)
or ``"link"`` (a network link, attribute ``bandwidth`` in bit/s; one edge
per node adapter, keyed by the adapter's port, and one per pair of
equipments).

Needs the extra ``procession[g5k]`` (networkx); pictures need matplotlib
(extra ``plot``).

Differences from Execo: ``get_topology`` replaces the ``g5k_graph`` class
(which remains as a function); equipments are not split into linecards;
the backbone is kept whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api_utils import (
    get_api_data,
    get_cluster_site,
    get_g5k_sites,
    get_host_shortname,
    get_host_site,
)

if TYPE_CHECKING:
    import networkx as nx
    from matplotlib.figure import Figure

__all__ = ["NODE_COLORS", "draw_topology", "g5k_graph", "get_topology"]

logger = logging.getLogger("procession.g5k.topology")

NODE_COLORS: dict[str, str] = {
    "site": "#d62728",
    "cluster": "#ff7f0e",
    "node": "#1f77b4",
    "router": "#2ca02c",
    "switch": "#9467bd",
    "renater": "#7f7f7f",
}
"""Colours of the picture, by node kind."""


def _networkx() -> Any:
    try:
        import networkx  # noqa: PLC0415  (optional dependency, extra "g5k")
    except ImportError as exc:
        raise ImportError("the topology needs networkx: pip install 'procession[g5k]'") from exc
    return networkx


def _equip_id(uid: str, site: str) -> str:
    return f"{uid}.{site}.grid5000.fr"


def _host_id(short: str, site: str) -> str:
    return f"{short}.{site}.grid5000.fr"


class _Builder:
    """Adds the parts of the reference data to a graph."""

    def __init__(self, graph: Any, data: Mapping[str, Any]) -> None:
        self.graph = graph
        self.data = data

    def add_host(self, short: str, wanted: set[str] | None = None) -> None:
        attrs = self.data["hosts"][short]
        site = get_host_site(short)
        assert site is not None
        cluster = short.rsplit("-", 1)[0]
        self.add_cluster_node(cluster, site)
        host = _host_id(short, site)
        self.graph.add_node(
            host,
            kind="node",
            site=site,
            cluster=cluster,
            cores=attrs.get("architecture", {}).get("nb_cores", 0),
            power=attrs.get("performance", {}).get("core_flops", 0),
        )
        self.graph.add_edge(cluster, host, key="contains", kind="contains")

    def add_cluster_node(self, cluster: str, site: str) -> None:
        if not self.graph.has_node(site):
            self.graph.add_node(site, kind="site")
        if not self.graph.has_node(cluster):
            self.graph.add_node(cluster, kind="cluster", site=site)
            self.graph.add_edge(site, cluster, key="contains", kind="contains")

    def add_site_network(self, site: str, backbone: bool) -> None:
        equipments: Mapping[str, Any] = self.data["network"].get(site, {})
        for uid, equip in equipments.items():
            self.graph.add_node(
                _equip_id(uid, site),
                kind=equip.get("kind", "switch"),
                site=site,
                uid=uid,
                backplane=equip.get("backplane_bps"),
            )
        for uid, equip in equipments.items():
            self._add_ports(uid, site, equip, equipments, backbone)

    def _add_ports(
        self,
        uid: str,
        site: str,
        equip: Mapping[str, Any],
        equipments: Mapping[str, Any],
        backbone: bool,
    ) -> None:
        source = _equip_id(uid, site)
        for linecard in equip.get("linecards", []):
            for port in linecard.get("ports", []):
                target_uid, kind = port.get("uid"), port.get("kind")
                if not target_uid:
                    continue
                if kind == "channel":  # a port channel: its target is the channel's
                    channel = equip.get("channels", {}).get(target_uid, {})
                    target_uid, kind = channel.get("uid"), channel.get("kind")
                bandwidth = port.get("rate", linecard.get("rate"))
                if kind == "node":
                    host = _host_id(get_host_shortname(target_uid), site)
                    if self.graph.has_node(host):
                        label = port.get("port") or f"{target_uid}"
                        self.graph.add_edge(
                            source, host, key=label, kind="link", bandwidth=bandwidth
                        )
                elif target_uid in equipments and target_uid != uid:
                    self._link(source, _equip_id(target_uid, site), bandwidth)
                elif str(target_uid).startswith("renater") and backbone:
                    self.graph.add_node(target_uid, kind="renater")
                    self._link(source, target_uid, bandwidth)

    def _link(self, a: str, b: str, bandwidth: Any) -> None:
        # Both ends list a link between equipments: one edge per pair.
        if not self.graph.has_edge(a, b, key="uplink"):
            self.graph.add_edge(a, b, key="uplink", kind="link", bandwidth=bandwidth)

    def add_backbone(self, sites: set[str]) -> None:
        for equip in self.data["network"]["backbone"]:
            src = equip["uid"]
            self.graph.add_node(src, kind="renater")
            for linecard in equip.get("linecards", []):
                for port in linecard.get("ports", []):
                    dst = port.get("uid", "")
                    bandwidth = port.get("rate", linecard.get("rate"))
                    if dst.startswith("renater"):
                        self.graph.add_node(dst, kind="renater")
                        self._link(src, dst, bandwidth)
                    elif port.get("site_uid") in sites:
                        # "gw-lyon": the site's router
                        site = port["site_uid"]
                        gw = _equip_id(dst.removesuffix("-" + site), site)
                        if self.graph.has_node(gw):
                            self._link(src, gw, bandwidth)


def _resolve(elements: str | Iterable[str] | None) -> tuple[set[str], list[str]]:
    """The sites to add whole, and the hosts (short names) of the other elements."""
    data = get_api_data()
    if elements is None:
        return set(get_g5k_sites()), []
    if isinstance(elements, str):
        elements = [elements]
    sites: set[str] = set()
    hosts: list[str] = []
    for e in elements:
        if e in data["hierarchy"]:
            sites.add(e)
        elif e in data["clusters"]:
            hosts.extend(data["hierarchy"][get_cluster_site(e)][e])
        elif get_host_shortname(e) in data["hosts"]:
            hosts.append(get_host_shortname(e))
        else:
            raise ValueError(f"not a Grid'5000 site, cluster or host: {e}")
    return sites, hosts


def get_topology(
    elements: str | Iterable[str] | None = None, backbone: bool | None = None
) -> nx.MultiGraph:
    """The network topology of *elements*, as a networkx ``MultiGraph``.

    Args:
        elements: sites, clusters and hosts (any name form), or one of
            them; None: every site.
        backbone: include the backbone (``renater-*`` nodes and links);
            None: when the elements span more than one site.

    Returns:
        The graph described in the module's documentation; its
        ``graph["version"]`` is the reference data's version.

    Raises:
        ValueError: an element is not a site, cluster or host.
        APIException: no cached data and the API cannot be reached.
    """
    nx = _networkx()
    data = get_api_data()
    whole_sites, hosts = _resolve(elements)
    graph = nx.MultiGraph()
    graph.graph["version"] = (data["network"]["backbone"] or [{}])[0].get("version")
    builder = _Builder(graph, data)
    for site in sorted(whole_sites):
        for cluster, cluster_hosts in data["hierarchy"][site].items():
            builder.add_cluster_node(cluster, site)
            for host in cluster_hosts:
                builder.add_host(host)
    for host in hosts:
        builder.add_host(host)
    sites = {n for n, kind in graph.nodes(data="kind") if kind == "site"}
    if backbone is None:
        backbone = len(sites) > 1
    for site in sorted(sites):
        builder.add_site_network(site, backbone)
    if backbone:
        builder.add_backbone(sites)
    return graph


def g5k_graph(elements: str | Iterable[str] | None = None) -> nx.MultiGraph:
    """Execo's name: :func:`get_topology` of *elements*."""
    return get_topology(elements)


def draw_topology(
    graph: nx.MultiGraph,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    labels: bool = True,
    figsize: tuple[float, float] = (12, 9),
    seed: int = 1,
) -> Figure:
    """A picture of a topology graph (matplotlib), written to *path* when
    given (the format follows its suffix: ``.png``, ``.svg``, ``.pdf``).

    Nodes are coloured by kind (:data:`NODE_COLORS`); network links are
    solid lines, ``contains`` edges dotted. Labels name every node but the
    compute nodes. The layout is a seeded spring layout (no graphviz).

    Returns:
        The matplotlib Figure (not registered with pyplot).
    """
    nx = _networkx()
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError("pictures need matplotlib: pip install 'procession[plot]'") from exc
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_axis_off()
    pos = nx.spring_layout(graph, seed=seed)
    kinds = dict(graph.nodes(data="kind"))
    links = [(a, b) for a, b, k in graph.edges(data="kind") if k == "link"]
    contains = [(a, b) for a, b, k in graph.edges(data="kind") if k == "contains"]
    nx.draw_networkx_edges(graph, pos, edgelist=links, ax=ax, width=0.8, alpha=0.6)
    nx.draw_networkx_edges(graph, pos, edgelist=contains, ax=ax, style="dotted", alpha=0.3)
    for kind, color in NODE_COLORS.items():
        nodes = [n for n, k in kinds.items() if k == kind]
        if nodes:
            size = 20 if kind == "node" else 200
            nx.draw_networkx_nodes(
                graph, pos, nodelist=nodes, node_color=color, node_size=size, ax=ax, label=kind
            )
    if labels:
        names = {n: n.split(".")[0] for n, k in kinds.items() if k != "node"}
        nx.draw_networkx_labels(graph, pos, labels=names, font_size=7, ax=ax)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "Grid'5000 topology")
    if path is not None:
        fig.savefig(str(path), bbox_inches="tight")
    return fig
