"""Test-wide guards: leaks are loud.

Every test must leave no child process of the test process behind, no extra
thread, and no growth of open file descriptors. The conductor is started
once up front, so its own thread and descriptors are part of the baseline.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from procession._conductor import get_conductor

# The real OAR server, shared by tests/g5k and tests/g5k_api (one session
# fixture, one lock): see tests/oar_testbed_plugin.py.
pytest_plugins = ["oar_testbed_plugin"]


def children_of_self() -> set[int]:
    """Pids of the direct children of the test process (all threads)."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(x) for x in (task / "children").read_text().split())
        except OSError:
            continue
    return pids


# Files that libraries keep open on purpose, in process-wide caches: not leaks.
CACHED_FILES = ("/matplotlib/mpl-data/fonts/",)


def open_fds() -> set[int]:
    fds = set()
    for x in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{x}")
        except OSError:
            continue
        if not any(c in target for c in CACHED_FILES):
            fds.add(int(x))
    return fds


@pytest.fixture(scope="session", autouse=True)
def _conductor_started() -> None:
    get_conductor()


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("allow_leaks"):
        yield
        return
    children = children_of_self()
    threads = {t.ident for t in threading.enumerate()}
    fds = open_fds()
    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        extra_children = children_of_self() - children
        extra_threads = [
            t for t in threading.enumerate() if t.ident not in threads and t.is_alive()
        ]
        extra_fds = open_fds() - fds
        if not extra_children and not extra_threads and not extra_fds:
            return
        time.sleep(0.05)
    details = {
        p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")
        for p in extra_children
        if Path(f"/proc/{p}/cmdline").exists()
    }
    fd_targets = {}
    for fd in extra_fds:
        try:
            fd_targets[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    assert not extra_children, f"test left child processes: {details}"
    assert not extra_threads, f"test left threads: {extra_threads}"
    assert not extra_fds, f"test left open file descriptors: {fd_targets}"
