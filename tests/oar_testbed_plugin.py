"""The real OAR server shared by the g5k test packages (a pytest plugin).

Registered by ``tests/conftest.py``, so that ``tests/g5k`` (jobs through ssh
to a frontend) and ``tests/g5k_api`` (jobs through the Grid'5000 API
stand-in) share one session fixture and one lock: OAR is a system-wide
server, started and stopped by ``scripts/oar-testbed.sh``.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from procession import Host

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "oar-testbed.sh"
# OAR is one system-wide server: concurrent pytest sessions (two checkouts, a
# developer and CI) take turns on it instead of stopping it under each other.
LOCK_FILE = Path("/tmp/procession-oar.lock")
LOCK_TIMEOUT = 3600.0


@dataclass(frozen=True)
class OarTestbed:
    """Coordinates of the running OAR testbed."""

    frontend: Host
    node_params: dict[str, Any]
    addresses: dict[str, str]
    env: dict[str, str]

    def hosts_of(self, site: str) -> list[str]:
        return sorted(n for n in self.addresses if f".{site}." in n)


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


def oar_script(*args: str) -> str:
    """Run ``scripts/oar-testbed.sh ARGS``; its stdout, or RuntimeError."""
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
    oar_script("up")
    try:
        env = dict(line.split("=", 1) for line in oar_script("env").splitlines() if "=" in line)
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
        yield OarTestbed(frontend, node_params, addresses, env)
    finally:
        oar_script("stop")  # stops the OAR REST API too


@pytest.fixture(scope="session")
def oar_api(oar_testbed: OarTestbed) -> str:
    """The base URL of OAR's REST API (oar-restful-api behind a private
    apache2) on the session's OAR testbed; stopped with the testbed."""
    oar_script("api-start")
    return oar_testbed.env["OAR_API"]
