"""The API getters against the local stand-in, checked against its data files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from procession import Host
from procession.g5k import (
    APIConnection,
    APIException,
    api_utils,
    canonical_host_name,
    get_cluster_attributes,
    get_cluster_hosts,
    get_cluster_jobtypes,
    get_cluster_network_equipments,
    get_cluster_queues,
    get_cluster_site,
    get_g5k_clusters,
    get_g5k_hosts,
    get_g5k_sites,
    get_host_attributes,
    get_host_cluster,
    get_host_interface,
    get_host_longname,
    get_host_network_equipments,
    get_host_shortname,
    get_host_site,
    get_hosts_metric,
    get_network_equipment_attributes,
    get_network_equipment_site,
    get_resource_attributes,
    get_site_attributes,
    get_site_clusters,
    get_site_hosts,
    get_site_network_equipments,
    group_hosts,
)
from procession.testbed.g5kapi import DATA_DIR, G5kApiServer

SITES = DATA_DIR / "sites"


def load(*parts: str) -> dict:
    return json.loads(DATA_DIR.joinpath(*parts).read_text())


def names(path: Path, suffix: str = "") -> list[str]:
    return sorted(p.name.removesuffix(suffix) for p in path.iterdir())


def test_execo_module_path() -> None:
    import procession.g5k.api_utils as m

    assert m.get_resource_attributes is get_resource_attributes


def test_get_resource_attributes(g5k_ref_api: G5kApiServer) -> None:
    root = get_resource_attributes("")
    assert root["uid"] == "grid5000" and root["version"]
    site = get_resource_attributes("/sites/lyon")
    assert site["uid"] == "lyon"
    assert {k: v for k, v in site.items() if k not in ("links", "version")} == load(
        "sites", "lyon", "lyon.json"
    )
    nodes = get_resource_attributes("sites/lyon/clusters/nova/nodes")
    assert nodes["total"] == 23 and len(nodes["items"]) == 23
    assert nodes["items"][1]["uid"] == "nova-2"  # natural order
    page = get_resource_attributes("sites/lyon/clusters/nova/nodes?offset=20&limit=10")
    assert [n["uid"] for n in page["items"]] == ["nova-21", "nova-22", "nova-23"]
    with pytest.raises(APIException) as err:
        get_resource_attributes("sites/atlantis")
    assert err.value.status_code == 404
    assert "atlantis" in str(err.value)


def test_api_connection(g5k_ref_api: G5kApiServer) -> None:
    api = APIConnection(username=False)
    assert api.base_uri == g5k_ref_api.url.rstrip("/")
    response = api.get("sites")
    assert response.status_code == 200
    assert [s["uid"] for s in response.json()["items"]] == names(SITES)
    unreachable = APIConnection("http://127.0.0.1:9/stable", username=False, timeout=5)
    with pytest.raises(APIException) as err:
        unreachable.get("")
    assert err.value.status_code is None and err.value.exception is not None


def test_sites_clusters_hosts(g5k_ref_api: G5kApiServer) -> None:
    assert sorted(get_g5k_sites()) == names(SITES)
    for site in names(SITES):
        clusters = names(SITES / site / "clusters")
        assert sorted(get_site_clusters(site, queues=None)) == clusters
        for cluster in clusters:
            hosts = names(SITES / site / "clusters" / cluster / "nodes", ".json")
            assert sorted(get_cluster_hosts(cluster)) == hosts
            assert get_cluster_site(cluster) == site
    # pyxis is only in the "testing" queue: filtered out by default, as in Execo
    assert "pyxis" not in get_site_clusters("lyon")
    assert "pyxis" in get_site_clusters("lyon", queues="testing")
    assert "pyxis" in get_g5k_clusters(queues=None) and "pyxis" not in get_g5k_clusters()
    assert sorted(get_g5k_clusters(["testing"])) == ["pyxis"]
    assert len(get_site_hosts("grenoble")) == 32 + 4 + 4
    assert len(get_g5k_hosts()) == 40 + 15 + (2 + 4 + 23 + 4 + 21 + 14)
    assert len(get_g5k_hosts(queues=None)) == len(get_g5k_hosts()) + 4
    with pytest.raises(ValueError, match="atlantis"):
        get_site_clusters("atlantis")
    with pytest.raises(ValueError, match="nocluster"):
        get_cluster_site("nocluster")


def test_attributes(g5k_ref_api: G5kApiServer) -> None:
    for getter, expected in (
        (lambda: get_site_attributes("grenoble"), load("sites", "grenoble", "grenoble.json")),
        (
            lambda: get_cluster_attributes("dahu"),
            load("sites", "grenoble", "clusters", "dahu", "dahu.json"),
        ),
        (
            lambda: get_host_attributes("dahu-3.grenoble.grid5000.fr"),
            load("sites", "grenoble", "clusters", "dahu", "nodes", "dahu-3.json"),
        ),
    ):
        got = getter()
        assert {k: v for k, v in got.items() if k not in ("links", "version")} == expected
    assert get_host_attributes(Host("nova-1-eth1-kavlan-4.lyon.grid5000.fr"))["uid"] == "nova-1"
    assert get_cluster_queues("pyxis") == ["admin", "testing"]
    assert get_cluster_jobtypes("pyxis") == ["exotic"]
    assert get_cluster_jobtypes("nova") == []
    with pytest.raises(KeyError):
        get_host_attributes("nova-99")


def test_network_equipments(g5k_ref_api: G5kApiServer) -> None:
    for site in names(SITES):
        expected = names(SITES / site / "network_equipments", ".json")
        assert sorted(get_site_network_equipments(site)) == expected
        for equip in expected:
            assert get_network_equipment_site(equip) in (site, *get_g5k_sites())
    assert get_network_equipment_site("force10") == "lyon"
    assert get_network_equipment_attributes("force10")["uid"] == "force10"
    assert get_network_equipment_site("renater-lyon") is None
    assert get_network_equipment_attributes("renater-lyon")["uid"] == "renater-lyon"
    # nova-1's one mountable, non-management Ethernet adapter is on force10
    assert get_host_network_equipments("nova-1.lyon.grid5000.fr") == ["force10"]
    assert "force10" in get_cluster_network_equipments("nova")
    with pytest.raises(ValueError):
        get_host_network_equipments("nova-99")
    with pytest.raises(KeyError):
        get_network_equipment_attributes("nothing")


def test_host_names(g5k_ref_api: G5kApiServer) -> None:
    assert canonical_host_name("dahu-3-eth1-kavlan-4.grenoble.grid5000.fr") == (
        "dahu-3.grenoble.grid5000.fr"
    )
    assert canonical_host_name("dahu-3-ipv6") == "dahu-3"
    h = canonical_host_name(Host("dahu-3-kavlan-5.grenoble.grid5000.fr", user="me", port=22))
    assert isinstance(h, Host) and (h.address, h.user, h.port) == (
        "dahu-3.grenoble.grid5000.fr",
        "me",
        22,
    )
    assert get_host_interface("dahu-3-eth1.grenoble.grid5000.fr") == "eth1"
    assert get_host_interface("dahu-3.grenoble.grid5000.fr") == "eth0"
    assert get_host_interface("localhost") is None
    assert get_host_shortname("nova-12-eth0.lyon.grid5000.fr") == "nova-12"
    assert get_host_shortname(Host("nova-12.lyon")) == "nova-12"
    assert get_host_longname("nova-12") == "nova-12.lyon.grid5000.fr"
    assert get_host_longname("nova-12.lyon") == "nova-12.lyon.grid5000.fr"
    assert get_host_cluster("sagittaire-7.lyon.grid5000.fr") == "sagittaire"
    assert get_host_site("sagittaire-7") == "lyon"
    assert get_host_site("dahu-1.grenoble.grid5000.fr") == "grenoble"
    assert get_host_site("localhost") is None


def test_group_hosts(g5k_ref_api: G5kApiServer) -> None:
    hosts = ["nova-2.lyon.grid5000.fr", "dahu-1", "nova-1.lyon.grid5000.fr", "taurus-3"]
    assert group_hosts(hosts) == {
        "grenoble": {"dahu": ["dahu-1"]},
        "lyon": {
            "nova": ["nova-2.lyon.grid5000.fr", "nova-1.lyon.grid5000.fr"],  # order kept
            "taurus": ["taurus-3"],
        },
    }
    grouped = group_hosts([Host("dahu-2.grenoble.grid5000.fr")])
    assert grouped["grenoble"]["dahu"] == [Host("dahu-2.grenoble.grid5000.fr")]


def test_connection_follows_configuration(g5k_ref_api: G5kApiServer) -> None:
    from procession.g5k import g5k_configuration

    first = api_utils._get_g5k_api()
    assert first is api_utils._get_g5k_api()
    g5k_configuration["api_timeout"] = 7  # restored by the fixture's monkeypatch
    second = api_utils._get_g5k_api()
    assert second is not first and second.timeout == 7


def test_hosts_metric(g5k_ref_api: G5kApiServer) -> None:
    # the stand-in's metrics are synthetic: one point every 10 s, 100, 101, ...
    hosts = ["nova-1.lyon.grid5000.fr", Host("dahu-2.grenoble.grid5000.fr")]
    got = get_hosts_metric(hosts, "bmc_node_power_watt", 1_800_000_000, 1_800_000_060)
    assert set(got) == set(hosts)
    values = got["nova-1.lyon.grid5000.fr"]["values"]
    assert values[0] == (1_800_000_000, 100.0) and len(values) == 7
    assert got[hosts[1]]["type"] == "bmc_node_power_watt"
    coarse = get_hosts_metric(hosts[:1], "m", 1_800_000_000, 1_800_000_060, resolution=30)
    assert [ts for ts, _ in coarse[hosts[0]]["values"]] == [
        1_800_000_000 + 30 * i for i in (0, 1, 2)
    ]
