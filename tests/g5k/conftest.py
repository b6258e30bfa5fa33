"""A real OAR server for the g5k tests, started by ``scripts/oar-testbed.sh``.

The session fixture installs the OAR packages when missing (as root), sets
up the server (private PostgreSQL cluster, fake Grid'5000 nodes on loopback
addresses, each served by OAR's sshd on port 6667), starts it, and stops
every daemon it started in its finalizer. Jobs are submitted as the test
user through ssh to the testbed's "frontend" (OAR refuses root's jobs).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _oar_testing import OarTestbed

from procession import Host
from procession.g5k import g5k_configuration, get_current_oar_jobs, oardel

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "oar-testbed.sh"
# OAR is one system-wide server: concurrent pytest sessions (two checkouts, a
# developer and CI) take turns on it instead of stopping it under each other.
LOCK_FILE = Path("/tmp/procession-oar.lock")
LOCK_TIMEOUT = 3600.0


@contextmanager
def _oar_lock() -> Iterator[None]:
    with LOCK_FILE.open("a") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"another test session has held {LOCK_FILE} for {LOCK_TIMEOUT:.0f} s; "
                        "is a stale pytest still running? (fuser -v " + str(LOCK_FILE) + ")"
                    ) from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _script(*args: str) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"oar-testbed.sh {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def oar_testbed() -> Iterator[OarTestbed]:
    if os.geteuid() != 0:
        pytest.skip("the OAR testbed needs root (packages, daemons, users)")
    with _oar_lock():
        yield from _running_testbed()


def _running_testbed() -> Iterator[OarTestbed]:
    _script("up")
    try:
        env = dict(line.split("=", 1) for line in _script("env").splitlines() if "=" in line)
        addresses = dict(
            line.split() for line in Path(env["HOSTS_FILE"]).read_text().splitlines() if line
        )
        frontend = Host(
            env["FRONTEND"],
            user=env["FRONTEND_USER"],
            port=int(env["FRONTEND_PORT"]),
            keyfile=env["FRONTEND_KEY"],
        )
        node_params = {
            # Direct connection to OAR's sshd, as oarsh does: user oar, port 6667.
            "user": "oar",
            "port": 6667,
            "keyfile": env["NODE_KEY"],
            "host_rewrite_func": lambda name: addresses.get(name, name),
        }
        yield OarTestbed(frontend, node_params, addresses)
    finally:
        _script("stop")


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
