"""NetnsHost: a host that fails on demand, in a network namespace of its own.

Each host is a namespace (``ip netns add``) joined to the root namespace by a
veth pair carrying a /30 of 10.213.0.0/16, a private block reserved for this
project's fault hosts: those addresses exist only inside namespaces made
here. Its own sshd runs inside the namespace, so it can die, be cut off or
slowed down without touching the other hosts.

Faults:

- :meth:`NetnsHost.kill_sshd`: sshd and its sessions die; connecting is
  refused at once.
- :meth:`NetnsHost.blackhole`: nftables drops every packet on the veth inside
  the namespace; connecting times out.
- :meth:`NetnsHost.slow`: ``tc netem`` delay on the root side of the veth when
  the kernel has ``sch_netem``; otherwise a TCP relay inside the namespace
  delays the bytes of new TCP connections (ping is not slowed then). A rate
  limit uses ``tc tbf`` on both ends of the veth.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import logging
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from . import _daemon, _sshd

if TYPE_CHECKING:
    from ._loopback import LoopbackTestbed

logger = logging.getLogger("procession.testbed")

NETNS_NETWORK: Final = ipaddress.IPv4Network("10.213.0.0/16")
"""The block fault hosts take their /30 from (root side .1, host .2 of each /30)."""

_SLOTS: Final = NETNS_NETWORK.num_addresses // 4
_ALLOCATION_ATTEMPTS: Final = 100
_STOP_TIMEOUT: Final = 5.0
_RELAY_READY_TIMEOUT: Final = 10.0
_RELAY_SCRIPT: Final = Path(__file__).with_name("_delay_relay.py")
_BLACKHOLE_TABLE: Final = "procession_blackhole"
_SLOW_TABLE: Final = "procession_slow"
_NETEM_UNKNOWN = re.compile(r"unknown|not supported|No such file", re.IGNORECASE)


class NetnsHost:
    """A fault host: its own network namespace, veth pair and sshd.

    Needs root (namespaces, veth, nftables, tc). Attach it to a
    :class:`LoopbackTestbed` so that the testbed's client key, port and
    ``ssh_config`` work for it too (the testbed must outlive it); alone, it
    makes its own key and client config::

        with LoopbackTestbed() as tb, NetnsHost(testbed=tb) as h:
            h.blackhole()
            subprocess.run(["ssh", "-F", tb.ssh_config, h.address, "true"])  # times out

    Args:
        name: the namespace name; default ``procession-<slot>``.
        testbed: the testbed whose key and client config to use.

    Attributes:
        name: the namespace name.
        address: the host's address, inside the namespace.
        root_address: the root namespace's end of the veth pair.
        veth: the root-side veth interface (where ``tc`` delays apply).

    Raises:
        RuntimeError: not root.
    """

    def __init__(self, name: str | None = None, testbed: LoopbackTestbed | None = None) -> None:
        if os.geteuid() != 0:
            raise RuntimeError(
                "NetnsHost needs root (ip netns, veth pairs, nftables, tc); "
                f"running as uid {os.geteuid()}"
            )
        if testbed is not None and not testbed.running:
            raise RuntimeError(f"{testbed!r} is not running: start it first")
        self._requested_name = name
        self._testbed = testbed
        self._ip = ""
        self.name: str = name or ""
        self.address: str = ""
        self.root_address: str = ""
        self.veth: str = ""
        self._peer = ""
        self.dir: Path = Path()
        self._own_config: Path | None = None
        self._own_keyfile: Path | None = None
        self._sshd_pid: int | None = None
        self._relay_pid: int | None = None
        self._open = False
        self._netem: bool | None = None

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> Self:
        """Create the namespace and veth pair, start sshd and wait until it accepts ssh.

        Returns:
            self.

        Raises:
            RuntimeError: already started, a tool is missing, or sshd did not
                accept ssh within 30 s. Nothing is left behind then.
        """
        if self._open:
            raise RuntimeError(f"NetnsHost {self.name} already started")
        self._ip = _sshd.require_tool("ip", "iproute2")
        self.dir = Path(tempfile.mkdtemp(prefix="procession-netns-"))
        self._open = True
        atexit.register(self.close)
        try:
            self._make_keys()
            self._make_network()
            _sshd.ensure_privsep_dir()
            self.start_sshd()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Kill every process of the namespace, delete it and its veth pair, remove files.

        Idempotent; also run at interpreter exit.
        """
        if not self._open:
            return
        self._open = False
        atexit.unregister(self.close)
        self._stop_relay()
        self._kill_namespace_processes()
        if self.veth:
            self._ip_quiet("link", "del", self.veth)
        if self.name:
            self._ip_quiet("netns", "del", self.name)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- client side ---------------------------------------------------------

    @property
    def user(self) -> str:
        """Login user."""
        return self._testbed.user if self._testbed is not None else _sshd.current_user()

    @property
    def port(self) -> int:
        """ssh port (the testbed's when attached, else 22)."""
        return self._testbed.port if self._testbed is not None else 22

    @property
    def keyfile(self) -> Path:
        """Client private key."""
        if self._testbed is not None:
            return self._testbed.keyfile
        assert self._own_keyfile is not None
        return self._own_keyfile

    @property
    def ssh_config(self) -> Path:
        """Client configuration for ``ssh -F`` (the testbed's when attached)."""
        if self._testbed is not None:
            return self._testbed.ssh_config
        assert self._own_config is not None
        return self._own_config

    def connection_params(self) -> dict[str, Any]:
        """Execo connection parameters for this host (see ``LoopbackTestbed.connection_params``)."""
        return _sshd.connection_params(
            user=self.user, port=self.port, keyfile=self.keyfile, ssh_config=self.ssh_config
        )

    def ssh_argv(self, *command: str, connect_timeout: int = 10) -> list[str]:
        """argv of ``ssh -F ssh_config address command...``."""
        return _sshd.ssh_argv(
            self.ssh_config, self.address, *command, connect_timeout=connect_timeout
        )

    # -- faults --------------------------------------------------------------

    @property
    def sshd_running(self) -> bool:
        """Whether the host's sshd runs."""
        return self._sshd_pid is not None and _daemon.is_alive(self._sshd_pid)

    def kill_sshd(self) -> None:
        """Kill sshd and every session it forked (SIGKILL): connecting is refused.

        Open ssh connections to the host end (ssh exits with 255).

        Raises:
            RuntimeError: sshd survived SIGKILL.
        """
        self._check_open()
        if not self._kill_sshd():
            raise RuntimeError(f"sshd (pid {self._sshd_pid}) of {self.name} survived SIGKILL")

    def start_sshd(self, timeout: float = _sshd.READY_TIMEOUT) -> None:
        """Start sshd (again) and wait until it accepts ssh.

        Raises:
            RuntimeError: sshd exited or did not accept ssh within ``timeout``
                seconds (the message holds its log).
        """
        self._check_open()
        if self.sshd_running:
            return
        log = self.dir / "sshd.log"
        argv = [self._ip, "netns", "exec", self.name, _sshd.SSHD, "-D", "-e", "-f"]
        self._sshd_pid = _daemon.spawn([*argv, str(self.dir / "sshd.conf")], log)
        try:
            _sshd.wait_ready(
                [(self._sshd_pid, self.address, self.port, log)], self.ssh_config, timeout
            )
        except RuntimeError:
            self._kill_sshd()
            raise

    def blackhole(self) -> None:
        """Drop every packet to and from the host: connecting times out, open connections hang.

        nftables rules inside the namespace, on its end of the veth.
        """
        self._check_open()
        self.unblackhole()
        self._nft(
            f"table inet {_BLACKHOLE_TABLE} {{\n"
            f"  chain pre {{ type filter hook prerouting priority -300; "
            f'iifname "{self._peer}" drop; }}\n'
            f"  chain out {{ type filter hook output priority -300; "
            f'oifname "{self._peer}" drop; }}\n'
            "}\n"
        )

    def unblackhole(self) -> None:
        """Undo :meth:`blackhole` (no-op when not black-holed)."""
        self._check_open()
        self._nft_delete_table(f"inet {_BLACKHOLE_TABLE}")

    def slow(self, delay_ms: float, rate: str | None = None) -> None:
        """Add ``delay_ms`` milliseconds to every round trip, and optionally limit the rate.

        With ``sch_netem`` in the kernel, netem delays every packet from the
        root namespace to the host, so every round trip, ping included, takes
        at least ``delay_ms`` more. Without it, a TCP relay inside the
        namespace holds the bytes of every TCP connection made *after* this
        call for ``delay_ms`` on their way to the host (ICMP is not delayed).

        Args:
            delay_ms: added round-trip time, in milliseconds (0: none).
            rate: a ``tc`` rate such as ``"1mbit"``, enforced with ``tbf`` in
                both directions; None for no limit.

        Raises:
            RuntimeError: ``tc`` failed (e.g. a malformed rate).
        """
        self._check_open()
        self.unslow()
        tc = _sshd.require_tool("tc", "iproute2")
        shaped = False
        if delay_ms > 0 and self._netem_available(tc):
            netem = ["netem", "delay", f"{delay_ms}ms", *(["rate", rate] if rate else [])]
            _sshd.run_tool([tc, "qdisc", "replace", "dev", self.veth, "root", *netem])
            shaped = True
        elif delay_ms > 0:
            self._start_relay(delay_ms)
        if rate:
            tbf = ["tbf", "rate", rate, "burst", "32kb", "latency", "1s"]
            if not shaped:
                _sshd.run_tool([tc, "qdisc", "replace", "dev", self.veth, "root", *tbf])
            in_ns = [self._ip, "netns", "exec", self.name]
            _sshd.run_tool([*in_ns, tc, "qdisc", "replace", "dev", self._peer, "root", *tbf])

    def unslow(self) -> None:
        """Undo :meth:`slow` (no-op when not slowed)."""
        self._check_open()
        tc = _sshd.require_tool("tc", "iproute2")
        self._stop_relay()
        self._nft_delete_table(f"ip {_SLOW_TABLE}")
        for argv in (
            [tc, "qdisc", "del", "dev", self.veth, "root"],
            [self._ip, "netns", "exec", self.name, tc, "qdisc", "del", "dev", self._peer, "root"],
        ):
            with contextlib.suppress(RuntimeError):  # no qdisc to delete
                _sshd.run_tool(argv)

    @property
    def netem(self) -> bool:
        """Whether this kernel has ``sch_netem`` (else :meth:`slow` uses the TCP relay)."""
        self._check_open()
        return self._netem_available(_sshd.require_tool("tc", "iproute2"))

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"<NetnsHost {self.name or '?'} {state} address={self.address or '?'}>"

    # -- internals -----------------------------------------------------------

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("NetnsHost is not started (use start() or a with block)")

    def _ip_quiet(self, *args: str) -> None:
        with contextlib.suppress(RuntimeError):
            _sshd.run_tool([self._ip, *args])

    def _make_keys(self) -> None:
        host_key = self.dir / "host_ed25519"
        _sshd.generate_key(host_key, "procession-netns-host")
        if self._testbed is not None:
            public = self._testbed.keyfile.with_suffix(".pub")
        else:
            self._own_keyfile = self.dir / "id_ed25519"
            _sshd.generate_key(self._own_keyfile, "procession-netns-client")
            public = self._own_keyfile.with_suffix(".pub")
        shutil.copyfile(public, self.dir / "authorized_keys")

    def _claim_slot(self) -> int:
        """Create the namespace and veth pair of a free slot; return the slot.

        The root-side veth name is the claim: ``ip link add`` fails when
        another host (of this or another process) already uses the slot.
        """
        rng = random.SystemRandom()
        for _ in range(_ALLOCATION_ATTEMPTS):
            slot = rng.randrange(_SLOTS)
            name = self._requested_name or f"procession-{slot}"
            try:
                _sshd.run_tool([self._ip, "netns", "add", name])
            except RuntimeError:
                if self._requested_name:
                    raise
                continue
            self.name = name
            try:
                _sshd.run_tool(
                    [self._ip, "link", "add", f"prc{slot}r", "type", "veth",
                     "peer", "name", f"prc{slot}n", "netns", name]
                )  # fmt: skip
            except RuntimeError:
                self._ip_quiet("netns", "del", name)
                self.name = ""
                continue
            self.veth, self._peer = f"prc{slot}r", f"prc{slot}n"
            return slot
        raise RuntimeError("no free slot for a network namespace host in 10.213.0.0/16")

    def _make_network(self) -> None:
        slot = self._claim_slot()
        base = NETNS_NETWORK.network_address + 4 * slot
        self.root_address, self.address = str(base + 1), str(base + 2)
        ns = ["-n", self.name]
        for argv in (
            ["addr", "add", f"{self.root_address}/30", "dev", self.veth],
            ["link", "set", self.veth, "up"],
            [*ns, "addr", "add", f"{self.address}/30", "dev", self._peer],
            [*ns, "link", "set", self._peer, "up"],
            [*ns, "link", "set", "lo", "up"],
        ):
            _sshd.run_tool([self._ip, *argv])
        (self.dir / "sshd.conf").write_text(
            _sshd.sshd_config(
                listen=[self.address],
                port=self.port,
                host_key=self.dir / "host_ed25519",
                authorized_keys=self.dir / "authorized_keys",
                pid_file=self.dir / "sshd.pid",
                user=self.user,
            )
        )
        if self._testbed is None:
            self._own_config = self.dir / "ssh_config"
            self._own_config.write_text(
                _sshd.client_config(
                    patterns=[self.address], user=self.user, port=self.port, keyfile=self.keyfile
                )
            )
        logger.debug("netns host %s at %s", self.name, self.address)

    def _namespace_pids(self) -> list[int]:
        try:
            out = _sshd.run_tool([self._ip, "netns", "pids", self.name])
        except RuntimeError:
            return []
        return [int(p) for p in out.split()]

    def _kill_namespace_processes(self) -> None:
        self._kill_sshd()
        # Anything else started in the namespace (a test's netcat server...).
        strays = self._namespace_pids()
        for pid in strays:
            _daemon.kill_quietly(pid, signal.SIGKILL)
        _daemon.wait_all_exited(strays, _STOP_TIMEOUT)

    def _kill_sshd(self) -> bool:
        if self._sshd_pid is None:
            return True
        _daemon.kill_descendants(self._sshd_pid, _STOP_TIMEOUT)
        _daemon.kill_quietly(self._sshd_pid, signal.SIGKILL)
        if not _daemon.wait_exited(self._sshd_pid, _STOP_TIMEOUT):
            return False
        self._sshd_pid = None
        return True

    def _nft(self, ruleset: str) -> None:
        nft = _sshd.require_tool("nft", "nftables")
        rules = self.dir / "rules.nft"
        rules.write_text(ruleset)
        _sshd.run_tool([self._ip, "netns", "exec", self.name, nft, "-f", str(rules)])

    def _nft_delete_table(self, table: str) -> None:
        nft = _sshd.require_tool("nft", "nftables")
        with contextlib.suppress(RuntimeError):  # no such table
            _sshd.run_tool(
                [self._ip, "netns", "exec", self.name, nft, "delete", "table", *table.split()]
            )

    def _netem_available(self, tc: str) -> bool:
        """Whether ``tc qdisc ... netem`` works, tried once on our own veth."""
        if self._netem is None:
            try:
                _sshd.run_tool(
                    [tc, "qdisc", "replace", "dev", self.veth, "root", "netem", "delay", "0ms"]
                )
            except RuntimeError as exc:
                if not _NETEM_UNKNOWN.search(str(exc)):
                    raise
                self._netem = False
            else:
                _sshd.run_tool([tc, "qdisc", "del", "dev", self.veth, "root"])
                self._netem = True
        return self._netem

    def _start_relay(self, delay_ms: float) -> None:
        log = self.dir / "relay.log"
        log.write_bytes(b"")
        argv = [self._ip, "netns", "exec", self.name, sys.executable, "-I", str(_RELAY_SCRIPT)]
        self._relay_pid = _daemon.spawn(
            [*argv, "--listen", self.address, "--delay-ms", str(delay_ms)], log
        )
        port = self._wait_relay_port(log)
        self._nft(
            f"table ip {_SLOW_TABLE} {{\n"
            "  chain pre { type nat hook prerouting priority dstnat; "
            f'iifname "{self._peer}" tcp dport != {port} redirect to :{port}; }}\n'
            "}\n"
        )
        # Readiness by connecting: a login through the relay.
        _sshd.wait_ready(
            [(self._relay_pid, self.address, self.port, log)], self.ssh_config, what="delay relay"
        )

    def _wait_relay_port(self, log: Path) -> int:
        assert self._relay_pid is not None
        deadline = time.monotonic() + _RELAY_READY_TIMEOUT
        delay = 0.01
        while time.monotonic() < deadline:
            match = re.search(r"listening on (\d+)", log.read_text(errors="replace"))
            if match:
                return int(match.group(1))
            if not _daemon.is_alive(self._relay_pid):
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        text = log.read_text(errors="replace").strip()
        self._stop_relay()
        raise RuntimeError(f"delay relay did not start within {_RELAY_READY_TIMEOUT} s: {text}")

    def _stop_relay(self) -> None:
        if self._relay_pid is not None:
            _daemon.stop_tree(self._relay_pid, _STOP_TIMEOUT)
            self._relay_pid = None
