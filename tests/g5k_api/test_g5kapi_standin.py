"""The API stand-in itself: documents shaped like the real API's, the
``python -m`` entry point."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from procession.testbed.g5kapi import DATA_DIR, G5kApiServer, Reference


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.headers["Content-Type"].startswith("application/json")
        return json.load(r)


def test_documents(g5k_ref_api_server: G5kApiServer) -> None:
    base = g5k_ref_api_server.url
    root = get(base)
    assert root["version"] == Reference(DATA_DIR).version
    assert {link["rel"] for link in root["links"]} >= {"self", "collection"}
    sites = get(base + "sites")
    assert sites["total"] == 3 and sites["offset"] == 0
    lyon = get(base + "sites/lyon.json")  # the .json suffix is accepted
    hrefs = {link.get("title"): link["href"] for link in lyon["links"]}
    assert hrefs["clusters"] == "/stable/sites/lyon/clusters"
    assert hrefs["status"] == "/stable/sites/lyon/status"
    page = get(base + "sites/lyon/clusters?offset=5&limit=1")
    assert page["total"] == 7 and [c["uid"] for c in page["items"]] == ["sagittaire"]
    node = get(base.replace("/stable/", "/3.0/") + "sites/lyon/clusters/nova/nodes/nova-2")
    assert node["uid"] == "nova-2" and node["version"] == root["version"]
    backbone = get(base + "network_equipments")
    assert {e["uid"] for e in backbone["items"]} >= {"renater-lyon", "renater-grenoble"}
    with pytest.raises(urllib.error.HTTPError) as err:
        get(base + "sites/lyon/clusters/nova/nodes/../../../../grid5000")
    assert err.value.code == 404
    err.value.close()
    with pytest.raises(urllib.error.HTTPError) as err:
        get(base + "sites/lyon/status")  # no OAR behind this server
    assert err.value.code == 503
    err.value.close()


def test_python_m_entry_point() -> None:
    cmd = [sys.executable, "-m", "procession.testbed.g5kapi", "--port", "0"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        try:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line.startswith("Grid'5000 API stand-in on http://127.0.0.1:")
            url = line.split(" on ", 1)[1].strip()
            assert get(url + "sites/grenoble")["uid"] == "grenoble"
        finally:
            p.send_signal(signal.SIGINT)
            try:
                p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                raise
    assert p.returncode == 0


def test_python_m_entry_point_stops_on_sigterm() -> None:
    cmd = [sys.executable, "-m", "procession.testbed.g5kapi", "--port", "0"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        try:
            assert p.stdout is not None
            assert p.stdout.readline().startswith("Grid'5000 API stand-in on ")
            p.terminate()
            p.communicate(timeout=30)
        finally:
            if p.returncode is None:
                p.kill()
                p.communicate()
    assert p.returncode == 0
