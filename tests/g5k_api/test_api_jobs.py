"""OAR jobs through the Grid'5000 API stand-in, backed by the real OAR testbed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from procession import Remote
from procession.g5k import (
    APIConnection,
    APIException,
    OarJob,
    OarSubmission,
    g5k_configuration,
    get_current_oar_jobs,
    get_oar_job_info,
    get_oar_job_nodes,
    get_resource_attributes,
    oardel,
    oarsub,
    wait_oar_job_start,
)
from procession.g5k.api_jobs import api_job_body, api_site
from procession.testbed.g5kapi import G5kApiServer


def test_job_body_and_site() -> None:
    spec = OarSubmission(
        "{cluster='nova'}/nodes=2",
        walltime="1:30:00",
        job_type=["deploy"],
        sql_properties="deploy='YES'",
        reservation_date=1_800_000_000,
        name="x",
    )
    body = api_job_body(spec)
    assert body["resources"] == "{cluster='nova'}/nodes=2,walltime=1:30:00"
    assert body["types"] == ["deploy"] and body["properties"] == "deploy='YES'"
    assert body["reservation"] == 1_800_000_000  # a UNIX timestamp: no time zone to get wrong
    assert body["name"] == "x" and body["command"].startswith("sleep")
    assert api_site("lyon") == "lyon"
    assert api_site("frontend.lyon.grid5000.fr") == "lyon"
    assert api_site("nancy.grid5000.fr") == "nancy"


def test_job_lifecycle_through_api(g5k_api: G5kApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(g5k_configuration, "oar_backend", "api")
    [(job_id, site)] = oarsub([(OarSubmission("nodes=2", walltime=120, name="apijob"), "lyon")])
    assert job_id is not None and site == "lyon"
    assert wait_oar_job_start(job_id, "lyon", timeout=90)
    nodes = get_oar_job_nodes(job_id, "lyon")
    assert [h.address for h in nodes] == ["nova-1.lyon.grid5000.fr", "nova-2.lyon.grid5000.fr"]
    info = get_oar_job_info(job_id, "lyon")
    assert info["state"] == "Running"
    assert info["walltime"] == 120 and info["name"] == "apijob"
    assert info["owner"] == "oartest" and info["start_date"] > 0
    assert (job_id, "lyon") in get_current_oar_jobs(["lyon", "grenoble"])
    assert all(site == "lyon" for _, site in get_current_oar_jobs(["lyon", "grenoble"]))
    status = get_resource_attributes("sites/lyon/status")["nodes"]
    for node in ("nova-1.lyon.grid5000.fr", "nova-2.lyon.grid5000.fr"):
        assert status[node]["soft"] == "busy"
        assert [r["uid"] for r in status[node]["reservations"]] == [job_id]
    assert status["nova-3.lyon.grid5000.fr"]["soft"] == "free"
    oardel([(job_id, "lyon")])
    deadline = time.monotonic() + 90
    while get_oar_job_info(job_id, "lyon")["state"] not in ("Terminated", "Error"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert (job_id, "lyon") not in get_current_oar_jobs(["lyon"])


def test_advance_reservation_through_api(
    g5k_api: G5kApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(g5k_configuration, "oar_backend", "api")
    when = int(time.time()) + 7200
    later = OarSubmission("nodes=1", walltime=600, reservation_date=when, name="later")
    [(job_id, site)] = oarsub([(later, "grenoble")])
    assert job_id is not None
    try:
        info = get_oar_job_info(job_id, site)
        assert info["state"] == "Waiting"
        # the timestamp became the same instant in OAR's own time zone
        assert info["scheduled_start"] == when
    finally:
        oardel([(job_id, site)])


def test_api_submission_errors(g5k_api: G5kApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(g5k_configuration, "oar_backend", "api")
    # more nodes than the site has: OAR refuses, the API says so, oarsub reports None
    assert oarsub([(OarSubmission("nodes=9", walltime=60), "grenoble")]) == [(None, "grenoble")]
    api = APIConnection(username=False)
    with pytest.raises(APIException) as err:
        api.post("sites/grenoble/jobs", {"resources": "nodes=1"})
    assert err.value.status_code == 400
    with pytest.raises(APIException) as err:
        api.get("sites/luxembourg/jobs")  # no OAR behind it in the stand-in
    assert err.value.status_code == 503
    with pytest.raises(APIException) as err:
        api.get("sites/atlantis/jobs")
    assert err.value.status_code == 404


def test_deployment_standin(g5k_api: G5kApiServer) -> None:
    api = APIConnection(username=False)
    nodes = ["nova-1.lyon.grid5000.fr"]
    dep = api.post("sites/lyon/deployments", {"nodes": nodes, "environment": "debian12-min"})
    assert dep.status_code == 201
    uid = dep.json()["uid"]
    assert dep.headers["Location"].endswith(f"/sites/lyon/deployments/{uid}")
    deadline = time.monotonic() + 30
    while (d := api.get(f"sites/lyon/deployments/{uid}").json())["status"] == "processing":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert d["status"] == "terminated"
    assert d["result"] == {nodes[0]: {"macro": None, "micro": None, "state": "OK"}}
    listed = api.get("sites/lyon/deployments").json()["items"]
    assert uid in [x["uid"] for x in listed]


def test_oarjob_through_api(
    g5k_api: G5kApiServer, oar_testbed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a script outside Grid'5000: the job through the API, then ssh to its nodes
    monkeypatch.setitem(g5k_configuration, "oar_backend", "api")
    job = OarJob(OarSubmission("nodes=1", walltime=300), "grenoble", start_timeout=120)
    with job:
        [host] = job.hosts
        assert host.address in oar_testbed.hosts_of("grenoble")
        r = Remote("hostname", job.hosts, oar_testbed.node_params).run(timeout=120)
        assert r.ok
    assert job.wait_end(120) in ("Error", "Terminated")
    assert (job.job_id, "grenoble") not in get_current_oar_jobs(["grenoble"])
