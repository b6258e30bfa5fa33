"""The topology graph, checked against the network data of the stand-in."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from procession.g5k.topology import draw_topology, g5k_graph, get_topology
from procession.testbed.g5kapi import DATA_DIR, G5kApiServer

SITES = DATA_DIR / "sites"


def node_ports(site: str) -> list[tuple[str, str]]:
    """(equipment, host) of every port of kind node in the site's data."""
    ports = []
    for path in sorted((SITES / site / "network_equipments").glob("*.json")):
        equip = json.loads(path.read_text())
        for lc in equip.get("linecards", []):
            for port in lc.get("ports", []):
                if port.get("kind") == "node" and port.get("uid"):
                    ports.append((equip["uid"], port["uid"]))
    return ports


def count_hosts(site: str) -> int:
    return sum(1 for _ in (SITES / site / "clusters").glob("*/nodes/*.json"))


def kinds(graph) -> Counter:
    return Counter(k for _, k in graph.nodes(data="kind"))


def test_one_site(g5k_ref_api: G5kApiServer) -> None:
    g = get_topology("grenoble")
    assert kinds(g) == {"site": 1, "cluster": 3, "node": 40, "router": 1}
    assert g.nodes["dahu-1.grenoble.grid5000.fr"]["cluster"] == "dahu"
    assert g.nodes["dahu-1.grenoble.grid5000.fr"]["cores"] == 32
    contains = [(a, b) for a, b, k in g.edges(data="kind") if k == "contains"]
    assert len(contains) == 3 + 40
    links = [(a, b) for a, b, k in g.edges(data="kind") if k == "link"]
    # every node port of gw whose node is in the data is one link; no backbone
    expected = node_ports("grenoble")
    assert len(links) == len(expected) == 40
    assert all("gw.grenoble.grid5000.fr" in (a, b) for a, b in links)
    assert not any(k == "renater" for _, k in g.nodes(data="kind"))


def test_two_sites_with_backbone(g5k_ref_api: G5kApiServer) -> None:
    g = get_topology(["grenoble", "lyon"])
    k = kinds(g)
    assert k["site"] == 2 and k["cluster"] == 3 + 7
    assert k["node"] == count_hosts("grenoble") + count_hosts("lyon") == 40 + 72
    assert k["router"] == 2 and k["switch"] == 2  # gw of each; force10 and salome
    # the backbone's equipments, and "renater5" that grenoble's router names
    backbone = {p.stem for p in (DATA_DIR / "network_equipments").glob("*.json")}
    renater = {n for n, kind in g.nodes(data="kind") if kind == "renater"}
    assert renater == backbone | {"renater5"}
    assert list(g.neighbors("renater5")) == ["gw.grenoble.grid5000.fr"]
    host_links = [
        (a, b)
        for a, b, kind in g.edges(data="kind")
        if kind == "link" and "node" in (g.nodes[a]["kind"], g.nodes[b]["kind"])
    ]
    assert len(host_links) == len(node_ports("grenoble")) + len(node_ports("lyon"))
    # lyon: nodes on force10, salome and gw; the switches uplink to gw
    assert g.has_edge("force10.lyon.grid5000.fr", "gw.lyon.grid5000.fr")
    assert g.has_edge("salome.lyon.grid5000.fr", "gw.lyon.grid5000.fr")
    assert g.has_edge("gw.lyon.grid5000.fr", "renater-lyon")
    assert g.has_edge("gw.grenoble.grid5000.fr", "renater-grenoble")
    # every host reaches every other through the network links only
    import networkx as nx

    net = nx.Graph([(a, b) for a, b, kind in g.edges(data="kind") if kind == "link"])
    path = nx.shortest_path(net, "dahu-1.grenoble.grid5000.fr", "nova-1.lyon.grid5000.fr")
    assert path[1] == "gw.grenoble.grid5000.fr" and "renater-lyon" in path


def test_clusters_and_hosts(g5k_ref_api: G5kApiServer) -> None:
    g = g5k_graph(["nova", "dahu-3.grenoble.grid5000.fr"])
    k = kinds(g)
    assert k["node"] == 23 + 1 and k["cluster"] == 2 and k["site"] == 2
    with pytest.raises(ValueError, match="atlantis"):
        get_topology("atlantis")


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_draw(g5k_ref_api: G5kApiServer, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"topo.{suffix}"
    fig = draw_topology(get_topology("lyon"), path, title="lyon")
    assert path.stat().st_size > 1000
    assert fig.axes[0].get_title() == "lyon"
    if suffix == "png":
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert b"<svg" in path.read_bytes()[:500]
