"""pytest plugin: fixtures giving tests real sshd hosts.

Registered through the ``pytest11`` entry point ``procession_testbed``; inert
unless a test requests one of its fixtures (it only adds the
``--testbed-hosts`` option).

Fixtures:

- ``testbed`` (session): a started :class:`~procession.testbed.LoopbackTestbed`
  of 8 hosts, or ``--testbed-hosts N``.
- ``testbed_connection_params`` (session): its connection parameters, to
  merge into ``procession.default_connection_params`` or pass as
  ``connection_params``.
- ``netns_host`` (function): a :class:`~procession.testbed.NetnsHost`
  attached to the session testbed (same key and ``ssh_config``); skipped
  with a reason when not root.

Everything is stopped in the fixtures' finalizers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from ._loopback import LoopbackTestbed
from ._netns import NetnsHost


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--testbed-hosts``."""
    parser.getgroup("procession").addoption(
        "--testbed-hosts",
        type=int,
        default=8,
        metavar="N",
        help="number of loopback hosts of the session 'testbed' fixture (default 8)",
    )


@pytest.fixture(scope="session")
def testbed(request: pytest.FixtureRequest) -> Iterator[LoopbackTestbed]:
    """A started loopback testbed shared by the session (``--testbed-hosts``, default 8)."""
    tb = LoopbackTestbed(request.config.getoption("--testbed-hosts"))
    tb.start()
    try:
        yield tb
    finally:
        tb.stop()


@pytest.fixture(scope="session")
def testbed_connection_params(testbed: LoopbackTestbed) -> dict[str, Any]:
    """Connection parameters of the session testbed (Execo keys)."""
    return testbed.connection_params()


@pytest.fixture
def netns_host(testbed: LoopbackTestbed) -> Iterator[NetnsHost]:
    """A fault host in a network namespace, using the session testbed's key and config.

    Skipped when not root: namespaces, veth pairs and nftables need it.
    """
    if os.geteuid() != 0:
        pytest.skip("netns_host needs root (ip netns, veth pairs, nftables, tc)")
    host = NetnsHost(testbed=testbed)
    host.start()
    try:
        yield host
    finally:
        host.close()
