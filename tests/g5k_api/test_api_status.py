"""Status and the OAR proxy of the stand-in, backed by the real OAR testbed."""

from __future__ import annotations

from procession.g5k import get_resource_attributes
from procession.testbed.g5kapi import G5kApiServer


def test_site_status_from_oar(g5k_api: G5kApiServer) -> None:
    status = get_resource_attributes("sites/grenoble/status")
    assert sorted(status["nodes"]) == [f"dahu-{i}.grenoble.grid5000.fr" for i in (1, 2, 3)]
    for node in status["nodes"].values():
        assert node["hard"] == "alive"
        assert node["soft"] == "free"
        assert node["reservations"] == []
    lyon = get_resource_attributes("sites/lyon/clusters/nova/status")
    assert sorted(lyon["nodes"]) == [f"nova-{i}.lyon.grid5000.fr" for i in (1, 2, 3)]
    # Execo's planning reads OAR's resources through the API's proxy
    resources = get_resource_attributes(
        "/sites/lyon/internal/oarapi/resources/details.json?limit=1073741824"
    )["items"]
    assert {r["network_address"] for r in resources} == set(lyon["nodes"])
    assert all(r["type"] == "default" and r["state"] == "Alive" for r in resources)
