"""Kadeployer / deploy with ``kadeploy_backend = 'api'``: deployments through
the Grid'5000 API stand-in (its in-memory kadeploy: no OAR, no root)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from procession import ActionsFailed, Host
from procession.g5k import APIConnection, Deployment, Kadeployer, deploy, g5k_configuration
from procession.testbed.g5kapi import G5kApiServer

KO = "nova-3.lyon.grid5000.fr"
"""The node whose deployments always fail in the stand-in of these tests."""


@pytest.fixture(scope="module")
def deploy_api_server() -> Iterator[G5kApiServer]:
    with G5kApiServer(default_user="oartest", deploy_seconds=0.5, ko_nodes=[KO]) as server:
        yield server


@pytest.fixture(scope="module")
def slow_deploy_api_server() -> Iterator[G5kApiServer]:
    # created_at is in whole seconds: a deployment takes 29 to 30 s here
    with G5kApiServer(default_user="oartest", deploy_seconds=30) as server:
        yield server


@pytest.fixture
def deploy_api(
    deploy_api_server: G5kApiServer,
    g5k_ref_api: G5kApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> G5kApiServer:
    """The stand-in configured as the test's API, with the API backend."""
    monkeypatch.setitem(g5k_configuration, "api_uri", deploy_api_server.url)
    monkeypatch.setitem(g5k_configuration, "kadeploy_backend", "api")
    monkeypatch.setitem(g5k_configuration, "polling_interval", 0.2)
    return deploy_api_server


def _deployments(site: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        APIConnection(username=False).get(f"sites/{site}/deployments").json()["items"]
    )
    return items


def test_api_body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = Deployment(env_name="debian12-min", user="me", vlan="4", key="ssh-ed25519 AAAA me@x")
    body = d.api_body(["nova-1.lyon.grid5000.fr"])
    assert body == {
        "nodes": ["nova-1.lyon.grid5000.fr"],
        "environment": "debian12-min@me",
        "key": "ssh-ed25519 AAAA me@x",
        "vlan": 4,
    }
    url = "https://public.lyon.grid5000.fr/~me/env.yaml"
    assert Deployment(env_file=url, key=url).api_body(["n"])["environment"] == url
    with pytest.raises(ValueError, match="http"):
        Deployment(env_file="/home/me/env.yaml").api_body(["n"])
    # a key file's text; by default, the user's public key
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa.pub").write_text("ssh-rsa BBBB me@laptop\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    key = str(tmp_path / ".ssh" / "id_rsa.pub")
    assert Deployment(env_name="e", key=key).api_body(["n"])["key"] == "ssh-rsa BBBB me@laptop"
    assert Deployment(env_name="e").api_body(["n"])["key"] == "ssh-rsa BBBB me@laptop"
    (tmp_path / ".ssh" / "id_rsa.pub").unlink()
    assert "key" not in Deployment(env_name="e").api_body(["n"])


def test_all_nodes_deployed(deploy_api: G5kApiServer) -> None:
    hosts = ["nova-1.lyon.grid5000.fr", "nova-2.lyon", "dahu-1.grenoble.grid5000.fr"]
    k = Kadeployer(Deployment(hosts, env_name="debian12-min"), timeout=30)
    assert k.processes == [] and k.frontends == ["lyon", "grenoble"]
    start = time.monotonic()
    k.run()
    assert k.ok and k.errors == []
    assert k.deployed_hosts == {Host(h) for h in hosts} and k.undeployed_hosts == set()
    assert time.monotonic() - start < 10
    [lyon] = [d for d in _deployments("lyon") if "nova-2.lyon.grid5000.fr" in d["nodes"]]
    assert lyon["environment"] == "debian12-min" and lyon["status"] == "terminated"


def test_ko_nodes_undeployed_and_retried(
    deploy_api: G5kApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    hosts = ["nova-1.lyon.grid5000.fr", KO]
    k = Kadeployer(Deployment(hosts, env_name="debian12-min")).run()
    assert k.deployed_hosts == {Host(hosts[0])} and k.undeployed_hosts == {Host(KO)}
    assert k.ok  # some nodes deployed: a warning, as with kadeploy3
    before = sum(KO in d["nodes"] for d in _deployments("lyon"))
    with caplog.at_level(logging.DEBUG, logger="procession.g5k.kadeploy"):
        deployed, undeployed = deploy(
            Deployment(hosts, env_name="debian12-min"), check_deployed_command=False, num_tries=2
        )
    assert deployed == {Host(hosts[0])} and undeployed == {Host(KO)}
    # first try: both nodes; second try: only the KO one
    assert sum(KO in d["nodes"] for d in _deployments("lyon")) == before + 2
    assert "deploy finished in 2 tries" in caplog.text


def test_unknown_site_and_api_errors(
    deploy_api: G5kApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    k = Kadeployer(Deployment(["x-1.atlantis.grid5000.fr"], env_name="debian12-min")).run()
    assert not k.ok and k.deployed_hosts == set()
    [error] = k.errors
    assert "atlantis" in error and "HTTP 404" in error and "not found" in error
    with pytest.raises(ActionsFailed):
        k.check()
    with pytest.raises(ValueError, match="default_frontend"):
        Kadeployer(Deployment(["nova-1"], env_name="debian12-min"))
    monkeypatch.setitem(g5k_configuration, "kadeploy_backend", "nope")
    with pytest.raises(ValueError, match="kadeploy_backend"):
        Kadeployer(Deployment(["nova-1.lyon"], env_name="debian12-min"))


def test_timeout_and_kill_cancel_the_deployment(
    deploy_api: G5kApiServer, slow_deploy_api_server: G5kApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(g5k_configuration, "api_uri", slow_deploy_api_server.url)
    node = "nova-4.lyon.grid5000.fr"
    d = Deployment([node], env_name="debian12-min")
    k = Kadeployer(d, timeout=0.5).run()
    assert k.ended and not k.ok and k.undeployed_hosts == {Host(node)}
    [error] = k.errors
    assert "timed out" in error and "cancelled" in error
    api = APIConnection(username=False)
    [uid] = [d["uid"] for d in _deployments("lyon") if str(d["uid"]) in error]
    assert api.get(f"sites/lyon/deployments/{uid}").json()["status"] == "canceled"
    k = Kadeployer(d).start()
    time.sleep(0.3)
    start = time.monotonic()
    k.kill().wait(10)
    assert k.ended and not k.ok and "killed" in k.errors[0]
    assert time.monotonic() - start < 2
    assert all(x["status"] == "canceled" for x in _deployments("lyon"))
    # a reset Kadeployer deploys again (here on the fast stand-in)
    monkeypatch.setitem(g5k_configuration, "api_uri", deploy_api.url)
    k.reset()
    assert k.run().ok and k.deployed_hosts == {Host(node)}
