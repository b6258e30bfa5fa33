"""The oargrid calls (grid jobs made of one OAR job per site) on the real OAR.

The testbed's two "sites" share one OAR server and one frontend: site names
are made to reach it by frontend_connection_params, and each job is pinned
to its site by the resource property ``site``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from _oar_testing import OarTestbed

from procession.g5k import (
    OarSubmission,
    g5k_configuration,
    get_current_oar_jobs,
    get_current_oargrid_jobs,
    get_oargrid_job_info,
    get_oargrid_job_nodes,
    get_oargrid_job_oar_jobs,
    oargriddel,
    oargridsub,
    wait_oargrid_job_start,
)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "oargrid.json"
    monkeypatch.setitem(g5k_configuration, "oargrid_registry", str(path))
    return path


@pytest.fixture
def site_params(oar: OarTestbed) -> dict[str, Any]:
    """Frontend params making every site name the testbed's frontend."""
    fe = oar.frontend
    return {
        "user": fe.user,
        "port": fe.port,
        "keyfile": fe.keyfile,
        "host_rewrite_func": lambda name: fe.address,
    }


CLASSIC = "allow_classic_ssh"


def sites_of(oar: OarTestbed) -> list[str]:
    return sorted({name.split(".")[1] for name in oar.addresses})


def wait_no_current_grid_job(params: dict[str, Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while get_current_oargrid_jobs(frontend_connection_params=params):
        assert time.monotonic() < deadline, "grid jobs still current"
        time.sleep(0.5)


def test_grid_job_over_two_sites(
    oar: OarTestbed, registry: Path, site_params: dict[str, Any]
) -> None:
    one, two = sites_of(oar)
    specs = [
        (OarSubmission("nodes=1", sql_properties=f"site='{one}'"), one),
        (
            OarSubmission("nodes=2", sql_properties=f"site='{two}'", job_type=CLASSIC),
            two,
        ),
    ]
    grid_id, key = oargridsub(specs, walltime=120, frontend_connection_params=site_params)
    assert grid_id == 1 and key is None
    jobs = get_oargrid_job_oar_jobs(grid_id)
    assert [frontend for _, frontend in jobs] == [one, two]
    assert str(grid_id) in json.loads(registry.read_text())["jobs"]
    assert wait_oargrid_job_start(grid_id, site_params, timeout=120)
    info = get_oargrid_job_info(grid_id, site_params)
    assert info["state"] == "Running" and info["walltime"] == 120
    assert info["user"] == oar.frontend.user
    assert info["start_date"] <= time.time() + 1
    assert CLASSIC in str(info["jobs_info"][1].get("types"))
    nodes = get_oargrid_job_nodes(grid_id, site_params)
    assert [h.address for h in nodes] == oar.hosts_of(one)[:1] + oar.hosts_of(two)[:2]
    assert get_current_oargrid_jobs(frontend_connection_params=site_params) == [grid_id]
    oargriddel([grid_id, 999], site_params)  # unknown ids are ignored, as in Execo
    wait_no_current_grid_job(site_params)
    assert get_oargrid_job_info(grid_id, site_params)["state"] in ("Error", "Terminated")


def test_grid_job_is_all_or_nothing(
    oar: OarTestbed, registry: Path, site_params: dict[str, Any]
) -> None:
    one, two = sites_of(oar)
    later = time.time() + 3600  # advance reservations: nothing launches, deletion is quick
    specs = [
        (OarSubmission("nodes=1", sql_properties=f"site='{one}'"), one),
        (OarSubmission("nodes=9", sql_properties=f"site='{two}'"), two),
    ]
    assert oargridsub(specs, later, 60, frontend_connection_params=site_params) == (None, None)
    assert not registry.exists() or json.loads(registry.read_text())["jobs"] == {}
    deadline = time.monotonic() + 120
    while get_current_oar_jobs([oar.frontend]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert get_current_oar_jobs([oar.frontend]) == []


def test_registry_keeps_host_frontends(oar: OarTestbed, registry: Path) -> None:
    one, _ = sites_of(oar)
    later = time.time() + 3600
    spec = OarSubmission("nodes=1", sql_properties=f"site='{one}'")
    grid_id, _ = oargridsub([(spec, oar.frontend)], reservation_date=later, walltime=60)
    assert grid_id is not None
    [(_, frontend)] = get_oargrid_job_oar_jobs(grid_id)
    assert frontend == oar.frontend  # a Host, with its user, port and key
    info = get_oargrid_job_info(grid_id)
    assert info["state"] == "Waiting" and abs(info["start_date"] - later) < 2
    assert not wait_oargrid_job_start(grid_id, timeout=1)
    assert get_current_oargrid_jobs(start_between=(later - 10, later + 10)) == [grid_id]
    assert get_current_oargrid_jobs(start_between=(later + 100, later + 200)) == []
    second, _ = oargridsub([(spec, oar.frontend)], reservation_date=later + 120, walltime=60)
    assert second == grid_id + 1
    oargriddel([grid_id, second])
    with pytest.raises(ValueError, match="unknown oargrid job 999"):
        get_oargrid_job_oar_jobs(999)
