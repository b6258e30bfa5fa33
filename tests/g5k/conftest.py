"""Fixtures of the g5k tests, on the real OAR server of the session fixture
``oar_testbed`` (``tests/oar_testbed_plugin.py``, shared with ``tests/g5k_api``).

Jobs are submitted as the test user through ssh to the testbed's "frontend"
(OAR refuses root's jobs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from _oar_testing import OarTestbed

from procession import Host
from procession.g5k import g5k_configuration, get_current_oar_jobs, oardel


@pytest.fixture(autouse=True)
def _fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(g5k_configuration, "polling_interval", 0.5)
    monkeypatch.setitem(g5k_configuration, "tiny_polling_interval", 0.3)
    monkeypatch.setitem(g5k_configuration, "default_timeout", 60)


@pytest.fixture
def oar(oar_testbed: OarTestbed) -> Iterator[OarTestbed]:
    """The testbed, with every job of the test user deleted after the test."""
    yield oar_testbed
    wait_no_jobs(oar_testbed.frontend)


def wait_no_jobs(frontend: Host, timeout: float = 120) -> None:
    """Delete the test user's jobs and wait until OAR has ended them all
    (a deleted job holds its nodes until then)."""
    deadline = time.monotonic() + timeout
    while jobs := get_current_oar_jobs([frontend]):
        assert time.monotonic() < deadline, f"jobs still current after {timeout} s: {jobs}"
        oardel(jobs)
        time.sleep(0.5)
