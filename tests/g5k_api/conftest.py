"""Fixtures of the Grid'5000 API tests: the API stand-in of
``procession.testbed.g5kapi`` on a free port.

- ``g5k_ref_api`` (session server, function fixture): the reference data
  only; no OAR, no root needed.
- ``g5k_api`` (session server, function fixture): the same, with the
  status and jobs of grenoble (cluster dahu) and lyon (cluster nova) served
  from the real OAR server of ``oar_testbed`` through its REST API
  (``tests/oar_testbed_plugin.py``); the test user's jobs are deleted after
  each test.

Both set ``g5k_configuration`` for the test: ``api_uri`` is the stand-in,
the reference-data cache is a directory of the session, and no credentials
are used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from procession.g5k import APIConnection, APIException, g5k_configuration
from procession.testbed.g5kapi import G5kApiServer

OAR_SITES = ("grenoble", "lyon")
"""The sites whose status and jobs come from the OAR testbed."""
TEST_USER = "oartest"


@pytest.fixture(scope="session")
def g5k_api_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("g5k_api_cache")


@pytest.fixture(scope="session")
def g5k_ref_api_server() -> Iterator[G5kApiServer]:
    with G5kApiServer(default_user=TEST_USER) as server:
        yield server


@pytest.fixture(scope="session")
def g5k_api_server(oar_api: str) -> Iterator[G5kApiServer]:
    sites = dict.fromkeys(OAR_SITES, oar_api)
    with G5kApiServer(oar_api=sites, default_user=TEST_USER, deploy_seconds=1) as server:
        yield server


def _configure(monkeypatch: pytest.MonkeyPatch, url: str, cache_dir: Path) -> None:
    monkeypatch.setitem(g5k_configuration, "api_uri", url)
    monkeypatch.setitem(g5k_configuration, "api_username", False)
    monkeypatch.setitem(g5k_configuration, "api_cache_dir", str(cache_dir))
    monkeypatch.setitem(g5k_configuration, "polling_interval", 0.5)
    monkeypatch.setitem(g5k_configuration, "tiny_polling_interval", 0.3)
    monkeypatch.setitem(g5k_configuration, "default_timeout", 60)
    for var in ("G5K_USERNAME", "G5K_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTHON_GRID5000_CONFIG", str(cache_dir / "no-such-file.yaml"))


@pytest.fixture
def g5k_ref_api(
    g5k_ref_api_server: G5kApiServer, g5k_api_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> G5kApiServer:
    """The reference-only API stand-in, configured as the test's API."""
    _configure(monkeypatch, g5k_ref_api_server.url, g5k_api_cache_dir)
    return g5k_ref_api_server


@pytest.fixture
def g5k_api(
    g5k_api_server: G5kApiServer, g5k_api_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[G5kApiServer]:
    """The OAR-backed API stand-in, configured as the test's API; the test
    user's jobs on its OAR sites are deleted after the test."""
    _configure(monkeypatch, g5k_api_server.url, g5k_api_cache_dir)
    yield g5k_api_server
    delete_all_jobs(APIConnection(g5k_api_server.url, username=False))


def delete_all_jobs(api: APIConnection, timeout: float = 120) -> None:
    """Delete the test user's current jobs on the OAR sites and wait until
    OAR has ended them (a deleted job holds its nodes until then)."""
    deadline = time.monotonic() + timeout
    for site in OAR_SITES:
        while jobs := api.get(f"sites/{site}/jobs?user={TEST_USER}").json()["items"]:
            assert time.monotonic() < deadline, f"jobs still current after {timeout} s: {jobs}"
            for job in jobs:
                if job["state"] not in ("finishing",):
                    try:
                        api.delete(f"sites/{site}/jobs/{job['uid']}")
                    except APIException:
                        pass  # ended meanwhile
            time.sleep(0.5)
