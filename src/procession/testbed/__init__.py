"""Real OpenSSH servers for tests and demos: loopback hosts and fault hosts.

- :class:`LoopbackTestbed`: many "hosts" (loopback addresses 127.X.Y.Z) served
  by real sshd daemons started as the current user.
- :class:`NetnsHost`: a host in a network namespace of its own, with its own
  sshd, that can be killed, black-holed or slowed down (root only).
- ``python -m procession.testbed up|status|down``: a testbed that outlives
  the command, for ``make demo`` and interactive use.
- a pytest plugin (``procession.testbed.pytest_plugin``) with the fixtures
  ``testbed``, ``testbed_connection_params`` and ``netns_host``.

Layer 5: imports only the public package ``procession`` and the standard
library; never ``procession._*``. Daemons are managed with the standard
library directly (this is infrastructure for the process API's own tests).
Linux only.
"""

from __future__ import annotations

from ._loopback import STATE_FILE, LoopbackTestbed, TestbedError
from ._netns import NetnsHost
from ._sshd import MAX_LISTEN_SOCKS

__all__ = ["MAX_LISTEN_SOCKS", "STATE_FILE", "LoopbackTestbed", "NetnsHost", "TestbedError"]
