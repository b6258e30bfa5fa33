"""deploy / Kadeployer against the OAR testbed's frontend and nodes, with
the kadeploy3 stand-in (kadeploy3_standin.py: kadeploy reboots bare metal,
which cannot happen here) installed for the test as kadeploy3."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _oar_testing import OarTestbed

from procession import ActionsFailed, Host, ProcessBase, ProcessOutputHandler
from procession.g5k import Deployment, Kadeployer, deploy, g5k_configuration
from procession.g5k.kadeploy import KadeployOutputParser, get_host_frontend
from procession.g5k.utils import get_kavlan_host_name

STANDIN = Path(__file__).with_name("kadeploy3_standin.py")


@dataclass
class Standin:
    """The kadeploy3 stand-in installed for one test (see its docstring)."""

    directory: Path
    markers: Path
    user: str

    @property
    def check_command(self) -> str:
        return f"test -e {self.markers}/" + "{{{host}}}"

    def configure(self, **config: Any) -> None:
        config.setdefault("seconds", 0.2)
        config["markers"] = str(self.markers)
        (self.directory / "kadeploy3.json").write_text(json.dumps(config))

    def mark(self, node: str) -> None:
        (self.markers / node).write_text("already\n")

    def tries(self, node: str) -> int:
        counter = self.markers / f".tries-{node}"
        return int(counter.read_text()) if counter.exists() else 0


@pytest.fixture
def standin(oar: OarTestbed, monkeypatch: pytest.MonkeyPatch) -> Iterator[Standin]:
    """kadeploy3 for this test: the stand-in copied to a fresh directory that
    the frontend's user runs it from (g5k_configuration['kadeploy3'] names it),
    with a marker directory the nodes' user (oar) can read."""
    user = oar.frontend.user or "oartest"
    directory = Path(tempfile.mkdtemp(prefix="procession-kadeploy-", dir="/tmp"))
    try:
        directory.chmod(0o755)
        shutil.copy(STANDIN, directory / "kadeploy3")
        (directory / "kadeploy3").chmod(0o755)
        markers = directory / "deployed"
        markers.mkdir(mode=0o755)
        shutil.chown(markers, user=user)
        s = Standin(directory, markers, user)
        s.configure()
        monkeypatch.setitem(g5k_configuration, "kadeploy3", str(directory / "kadeploy3"))
        yield s
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def site_params(oar: OarTestbed) -> dict[str, Any]:
    """Frontend params making every site name ("grenoble", ...) the testbed's frontend."""
    fe = oar.frontend
    return {
        "user": fe.user,
        "port": fe.port,
        "keyfile": fe.keyfile,
        "host_rewrite_func": lambda name: fe.address,
    }


def nodes(oar: OarTestbed) -> tuple[Host, Host, Host]:
    """Two nodes of the first site and one of the second."""
    sites = sorted({name.split(".")[1] for name in oar.addresses})
    a, b = oar.hosts_of(sites[0])[:2]
    [c] = oar.hosts_of(sites[1])[:1]
    return Host(a), Host(b), Host(c)


class Lines(ProcessOutputHandler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
        self.lines.append(line)


# -- pure parts ----------------------------------------------------------------


def test_parser_reads_both_kadeploy_summaries() -> None:
    parser = KadeployOutputParser()
    for line in [
        "Deployment #D-1 started",
        "The deployment is successful on nodes",
        "dahu-1.grenoble.grid5000.fr",
        "dahu-2.grenoble.grid5000.fr",
        "The deployment failed on nodes",
        "dahu-3.grenoble.grid5000.fr (Deployment error: timeout)",
        "",
        "other-1.grenoble.grid5000.fr",
    ]:
        parser.feed(line)
    assert parser.deployed == ["dahu-1.grenoble.grid5000.fr", "dahu-2.grenoble.grid5000.fr"]
    assert parser.undeployed == ["dahu-3.grenoble.grid5000.fr"]
    old = KadeployOutputParser()  # kadeploy3 < 3.2
    for line in [
        "Nodes correctly deployed on cluster dahu",
        "dahu-1.grenoble.grid5000.fr",
        "Nodes not correctly deployed on cluster dahu",
        "dahu-2.grenoble.grid5000.fr (Error)",
    ]:
        old.feed(line)
    assert (old.deployed, old.undeployed) == (
        ["dahu-1.grenoble.grid5000.fr"],
        ["dahu-2.grenoble.grid5000.fr"],
    )


def test_command_line_frontends_and_kavlan_names(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Deployment(["dahu-1.grenoble.grid5000.fr"], env_name="debian 12", user="me", vlan=4)
    assert d.command_line() == "kadeploy3 -k -d -e 'debian 12' -u me --vlan 4"
    assert (
        Deployment([], env_file="/e.yaml", other_options="--force")
        .command_line()
        .endswith("-a /e.yaml --force")
    )
    with pytest.raises(ValueError, match="not both"):
        Deployment([], env_file="x", env_name="y").command_line()
    with pytest.raises(ValueError, match="no environment"):
        Deployment([]).command_line()
    monkeypatch.setitem(g5k_configuration, "default_env_name", "debian12-min")
    assert Deployment([]).command_line().endswith("-e debian12-min")
    assert get_host_frontend("dahu-1.grenoble.grid5000.fr") == "grenoble"
    assert get_host_frontend(Host("gros-3.nancy")) == "nancy"
    monkeypatch.setitem(g5k_configuration, "default_frontend", "lyon")
    assert get_host_frontend("nova-1") == "lyon"
    with pytest.raises(ValueError, match="no frontend known"):
        get_host_frontend("127.0.0.1")
    assert get_kavlan_host_name("dahu-1.grenoble.grid5000.fr", 4) == (
        "dahu-1-kavlan-4.grenoble.grid5000.fr"
    )


# -- against the testbed -------------------------------------------------------


def test_deploy_skips_the_nodes_already_deployed(
    oar: OarTestbed, standin: Standin, site_params: dict[str, Any]
) -> None:
    a, b, c = nodes(oar)
    standin.mark(a.address)
    out = Lines()
    deployed, undeployed = deploy(
        Deployment([a, b, c], env_name="debian12-min"),
        check_deployed_command=standin.check_command,
        node_connection_params=oar.node_params,
        frontend_connection_params=site_params,
        stdout_handlers=[out],
    )
    assert (deployed, undeployed) == ({a, b, c}, set())
    assert [standin.tries(h.address) for h in (a, b, c)] == [0, 1, 1]
    site_a, site_c = a.address.split(".")[1], c.address.split(".")[1]
    assert f"{site_a}: The deployment is successful on nodes" in out.lines
    assert f"{site_a}: {b.address}" in out.lines and f"{site_c}: {c.address}" in out.lines
    assert not any(a.address in line for line in out.lines)  # a was skipped
    # everything deployed now: nothing to do, kadeploy is not run again
    again = deploy(
        Deployment([a, b, c], env_name="debian12-min"),
        standin.check_command,
        oar.node_params,
        frontend_connection_params=site_params,
    )
    assert again == ({a, b, c}, set())
    assert [standin.tries(h.address) for h in (a, b, c)] == [0, 1, 1]


def test_deploy_retries_the_failed_nodes(
    oar: OarTestbed,
    standin: Standin,
    site_params: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b, c = nodes(oar)
    standin.configure(fail={b.address: 1, c.address: -1})
    with caplog.at_level(logging.WARNING, logger="procession.g5k.kadeploy"):
        deployed, undeployed = deploy(
            Deployment([a, b, c], env_name="debian12-min"),
            standin.check_command,
            oar.node_params,
            num_tries=3,
            frontend_connection_params=site_params,
        )
    assert (deployed, undeployed) == ({a, b}, {c})
    assert [standin.tries(h.address) for h in (a, b, c)] == [1, 2, 3]
    assert "total/deployed/undeployed = 2/1/1" in caplog.text  # the first try on site a
    # one try only: b and c stay undeployed; kadeploy's report alone (no check command)
    standin.configure(fail={b.address: 1, c.address: -1})
    for h in (a, b, c):
        (standin.markers / f".tries-{h.address}").unlink()
        (standin.markers / h.address).unlink(missing_ok=True)
    once = deploy(
        Deployment([a, b, c], env_name="debian12-min"),
        check_deployed_command=False,
        num_tries=1,
        frontend_connection_params=site_params,
    )
    assert once == ({a}, {b, c})


def test_check_enough_func_stops_early(
    oar: OarTestbed, standin: Standin, site_params: dict[str, Any]
) -> None:
    a, b, c = nodes(oar)
    standin.configure(fail={b.address: -1})
    calls: list[tuple[set[Host], set[Host]]] = []

    def enough(deployed: set[Host], undeployed: set[Host]) -> bool:
        calls.append((set(deployed), set(undeployed)))
        return len(deployed) >= 2

    deployed, undeployed = deploy(
        Deployment([a, b, c], env_name="debian12-min"),
        standin.check_command,
        oar.node_params,
        num_tries=5,
        check_enough_func=enough,
        frontend_connection_params=site_params,
    )
    assert (deployed, undeployed) == ({a, c}, {b})
    assert calls == [(set(), {a, b, c}), ({a, c}, {b})]
    assert standin.tries(b.address) == 1  # not retried: enough was deployed


def test_kadeployer_reports_hosts_and_failures(
    oar: OarTestbed,
    standin: Standin,
    site_params: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b, c = nodes(oar)
    standin.configure(fail={b.address: -1})
    k = Kadeployer(Deployment([a, b, c], env_name="x"), site_params)
    assert len(k.processes) == 2 and "Kadeployer on 3 hosts / 2 frontends" in k.name
    k.run()
    assert k.ok  # every node reported, and some deployed on each site
    assert (k.deployed_hosts, k.undeployed_hosts) == ({a, c}, {b})
    assert all("-m " in p.cmd for p in k.processes)  # type: ignore[attr-defined]
    k.reset()
    assert k.deployed_hosts == set()
    # an environment kadeploy does not know: kadeploy's own message, logged as an error
    standin.configure(envs=["debian12-min"])
    with caplog.at_level(logging.ERROR, logger="procession.g5k.kadeploy"):
        bad = Kadeployer(Deployment([a], env_name="no-such-env"), site_params).run()
    assert not bad.ok
    assert "kadeploy3 on" in caplog.text and "The environment no-such-env does not exist" in (
        caplog.text
    )
    with pytest.raises(ActionsFailed):
        bad.check()


def test_failing_frontend_is_a_clear_error(
    oar: OarTestbed,
    standin: Standin,
    site_params: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b, _ = nodes(oar)
    site = a.address.split(".")[1]
    dead = {**site_params, "port": 1}  # nothing listens there
    with caplog.at_level(logging.ERROR, logger="procession.g5k.kadeploy"):
        deployed, undeployed = deploy(
            Deployment([a, b], env_name="debian12-min"),
            standin.check_command,
            oar.node_params,
            frontend_connection_params=dead,
        )
    assert (deployed, undeployed) == (set(), {a, b})
    assert f"kadeploy3 on {site} failed" in caplog.text
    assert "Connection refused" in caplog.text or "port 1" in caplog.text
    caplog.clear()
    g5k_configuration["kadeploy3"] = "/nonexistent/kadeploy3"  # restored by the fixture
    with caplog.at_level(logging.ERROR, logger="procession.g5k.kadeploy"):
        k = Kadeployer(Deployment([a], env_name="debian12-min"), site_params).run()
    assert not k.ok and k.deployed_hosts == set()
    assert "/nonexistent/kadeploy3: No such file or directory" in caplog.text


def test_short_node_names_match_kadeploys_full_names(
    oar: OarTestbed, standin: Standin, site_params: dict[str, Any]
) -> None:
    # kadeploy prints fully qualified names whatever form it was given.
    a, b, _ = nodes(oar)
    short_a, short_b = (Host(h.address.removesuffix(".grid5000.fr")) for h in (a, b))
    standin.configure(fail={b.address: -1})
    k = Kadeployer(Deployment([short_a, short_b], env_name="x"), site_params).run()
    assert k.ok
    assert (k.deployed_hosts, k.undeployed_hosts) == ({short_a}, {short_b})


def test_deploy_timeout_under_either_name(
    oar: OarTestbed, standin: Standin, site_params: dict[str, Any]
) -> None:
    a, _, _ = nodes(oar)
    standin.configure(seconds=30)  # kadeploy3 takes longer than allowed
    for name in ("deploy_timeout", "timeout"):  # Execo 2.8's name, and older Execo's
        deployed, undeployed = deploy(
            Deployment([a], env_name="x"),
            check_deployed_command=False,
            frontend_connection_params=site_params,
            **{name: 1.0},
        )
        assert (deployed, undeployed) == (set(), {a}), name
    with pytest.raises(ValueError, match="not both"):
        deploy(Deployment([a], env_name="x"), deploy_timeout=1, timeout=1)
