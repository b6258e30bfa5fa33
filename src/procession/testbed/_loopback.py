"""LoopbackTestbed: many ssh "hosts" on loopback addresses, served by real sshd daemons."""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import pwd
import random
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from . import _daemon, _sshd

logger = logging.getLogger("procession.testbed")

STATE_FILE: Final = "testbed.json"
"""Name of the state file in the testbed directory (read by :meth:`LoopbackTestbed.load`)."""

NETNS_PATTERN: Final = "10.213.*.*"
"""ssh_config pattern of fault hosts (:class:`NetnsHost`), which use the testbed's key."""

_HOSTS_PER_BLOCK: Final = 254  # 127.X.Y.1 .. 127.X.Y.254
_ALLOCATION_ATTEMPTS: Final = 50
_START_ATTEMPTS: Final = 3
_STOP_TIMEOUT: Final = 5.0
_STATE_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class _Daemon:
    pid: int
    config: Path
    log: Path
    addresses: tuple[str, ...]
    child: bool  # spawned by this process, which must reap it


class TestbedError(RuntimeError):
    """A testbed could not be started, found or stopped."""

    __test__ = False  # not a pytest test class, despite its name


class _AddressConflict(TestbedError):
    """Another process listens on one of the addresses chosen (a race); retry elsewhere."""


def _listening_ipv4() -> set[tuple[str, int]]:
    """``(address, port)`` of every IPv4 TCP socket listening in this namespace."""
    listening = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            hex_address, hex_port = fields[1].split(":")
            # The kernel prints the address as a native-endian 32-bit integer.
            packed = int(hex_address, 16).to_bytes(4, sys.byteorder)
            listening.add((socket.inet_ntoa(packed), int(hex_port, 16)))
    return listening


def _port_free_on_all(addresses: list[str]) -> int | None:
    """A port that can be bound on every address, or None."""
    with socket.socket() as probe:
        probe.bind((addresses[0], 0))
        port: int = probe.getsockname()[1]
    for address in addresses:
        with socket.socket() as sock:
            try:
                sock.bind((address, port))
            except OSError:
                return None
    return port


def _allocate(n_hosts: int) -> tuple[list[str], list[str], int]:
    """Pick free loopback addresses and a port for ``n_hosts`` hosts.

    Addresses come from a random run of /24 blocks 127.X.Y.0/24 (X >= 16, so
    that 127.0.0.1 and Debian's 127.0.1.1 are never used) in which nothing
    listens yet, whatever the port; that keeps two testbeds (two pytest
    sessions, a test and ``make demo``) apart.

    Returns:
        ``(hosts, ssh_config patterns, port)``.
    """
    blocks = math.ceil(n_hosts / _HOSTS_PER_BLOCK)
    rng = random.SystemRandom()
    for _ in range(_ALLOCATION_ATTEMPTS):
        x = rng.randint(16, 254)
        y0 = rng.randint(0, 256 - blocks)
        prefixes = tuple(f"127.{x}.{y}." for y in range(y0, y0 + blocks))
        if any(address.startswith(prefixes) for address, _ in _listening_ipv4()):
            continue
        hosts = [f"{p}{z}" for p in prefixes for z in range(1, _HOSTS_PER_BLOCK + 1)][:n_hosts]
        port = _port_free_on_all(hosts)
        if port is not None:
            return hosts, [f"{p}*" for p in prefixes], port
    raise TestbedError(f"no free loopback block for {n_hosts} hosts")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class LoopbackTestbed:
    """Real OpenSSH servers on loopback addresses: each address is a "host".

    One sshd listens on at most 16 addresses (OpenSSH's ``MAX_LISTEN_SOCKS``),
    so ``n_hosts`` hosts take ``ceil(n_hosts / 16)`` daemons, all on the same
    port. Keys, configuration, pid and log files live in a private directory
    removed by :meth:`stop`.

    Use it as a context manager::

        with LoopbackTestbed(20) as tb:
            subprocess.run(["ssh", "-F", tb.ssh_config, tb.hosts[0], "hostname"])

    Args:
        n_hosts: number of hosts (loopback addresses).
        base_dir: the private directory; it must not exist or be empty, and is
            removed by :meth:`stop`. Default: a new temporary directory.
        user: login user; default the current user. Only root may choose
            another user, since sshd running as a normal user can only log
            that user in.

    Attributes:
        hosts: the host addresses, e.g. ``["127.42.7.1", ...]``.
        user: the login user.
        port: the ssh port of every host.
        dir: the private directory.
        keyfile: the client private key.
        ssh_config: client configuration for ``ssh -F``, which covers the
            hosts and the fault hosts (:class:`NetnsHost`) attached to this
            testbed.
    """

    def __init__(
        self,
        n_hosts: int = 8,
        base_dir: str | os.PathLike[str] | None = None,
        user: str | None = None,
    ) -> None:
        if n_hosts < 1:
            raise ValueError(f"n_hosts must be at least 1, not {n_hosts}")
        current = _sshd.current_user()
        self.user: str = user or current
        if self.user != current:
            if os.geteuid() != 0:
                raise ValueError(
                    f"running as {current!r}, sshd can only log in {current!r}, not {self.user!r}"
                )
            pwd.getpwnam(self.user)  # KeyError for an unknown user
        self.n_hosts = n_hosts
        self._base_dir = Path(base_dir) if base_dir is not None else None
        self.dir: Path = self._base_dir or Path()
        self.hosts: list[str] = []
        self.port: int = 0
        self.keyfile: Path = Path()
        self.ssh_config: Path = Path()
        self._patterns: list[str] = []
        self._daemons: list[_Daemon] = []
        self._running = False

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Generate keys, start the daemons and wait until each accepts ssh.

        Returns:
            self.

        Raises:
            RuntimeError: already started, a tool is missing, or a daemon did
                not start or did not accept ssh within 30 s (the message holds
                its log). Nothing is left running then.
        """
        if self._running:
            raise TestbedError("testbed already started")
        self._make_dir()
        atexit.register(self.stop)
        self._running = True
        try:
            self._make_keys()
            _sshd.ensure_privsep_dir()
            for attempt in range(_START_ATTEMPTS):
                try:
                    self._start_daemons()
                    break
                except _AddressConflict:
                    # Another process took an address or the port between our
                    # check and sshd's bind: retry elsewhere.
                    self._stop_daemons()
                    if attempt == _START_ATTEMPTS - 1:
                        raise
            self._write_state()
        except BaseException:
            self.stop()
            raise
        logger.debug("testbed of %d hosts up in %s, port %d", self.n_hosts, self.dir, self.port)
        return self

    def stop(self) -> None:
        """Stop every daemon and the sessions they forked, and remove the directory.

        Sessions still open are killed, so this does not wait for them.
        Idempotent; also run at interpreter exit.

        Raises:
            RuntimeError: a daemon survived SIGKILL (the directory is kept).
        """
        if not self._running:
            return
        self._running = False
        atexit.unregister(self.stop)
        survivors = self._stop_daemons()
        if survivors:
            raise TestbedError(f"testbed daemons still alive after SIGKILL: {survivors}")
        shutil.rmtree(self.dir, ignore_errors=True)

    def detach(self) -> None:
        """Leave the daemons running after this process exits.

        The state file ``testbed.json`` in :attr:`dir` lets another process
        attach with :meth:`load` and stop them; ``python -m procession.testbed
        down`` does that.
        """
        atexit.unregister(self.stop)

    @classmethod
    def load(cls, base_dir: str | os.PathLike[str]) -> LoopbackTestbed:
        """Attach to a testbed started elsewhere (e.g. ``python -m procession.testbed up``).

        Args:
            base_dir: the testbed directory, which holds ``testbed.json``.

        Returns:
            A started testbed; :meth:`stop` stops its daemons and removes the
            directory. It is not stopped at exit.

        Raises:
            RuntimeError: no readable state file in ``base_dir``.
        """
        path = Path(base_dir) / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise TestbedError(f"no testbed state in {path}: {exc}") from exc
        if state.get("version") != _STATE_VERSION:
            raise TestbedError(f"{path}: unknown state version {state.get('version')!r}")
        tb = cls(len(state["hosts"]), base_dir=base_dir, user=state["user"])
        tb.hosts = list(state["hosts"])
        tb.port = int(state["port"])
        tb.keyfile = Path(state["keyfile"])
        tb.ssh_config = Path(state["ssh_config"])
        tb._patterns = list(state["patterns"])
        tb._daemons = [
            _Daemon(d["pid"], Path(d["config"]), Path(d["log"]), tuple(d["addresses"]), False)
            for d in state["daemons"]
        ]
        tb._running = True
        return tb

    # -- queries -------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether :meth:`start` (or :meth:`load`) ran and :meth:`stop` did not."""
        return self._running

    @property
    def daemon_pids(self) -> list[int]:
        """Pids of the sshd daemons (for leak checks that must ignore them)."""
        return [d.pid for d in self._daemons]

    @property
    def state_file(self) -> Path:
        """The JSON state file (hosts, port, user, key, config, daemon pids)."""
        return self.dir / STATE_FILE

    def connection_params(self) -> dict[str, Any]:
        """Connection parameters to merge into ``procession.default_connection_params``.

        Keys are Execo's: ``user``, ``keyfile``, ``port``, ``ssh_options``,
        ``scp_options`` (with ``-rp``) and ``taktuk_connector_options``; the
        option tuples start with ``-F ssh_config``.
        """
        return _sshd.connection_params(
            user=self.user, port=self.port, keyfile=self.keyfile, ssh_config=self.ssh_config
        )

    def ssh_argv(self, host: str, *command: str, connect_timeout: int = 10) -> list[str]:
        """argv of ``ssh -F ssh_config host command...``."""
        return _sshd.ssh_argv(self.ssh_config, host, *command, connect_timeout=connect_timeout)

    def unreachable_hosts(self, timeout: float = 10.0) -> list[str]:
        """Hosts that do not let ``ssh ... true`` in within ``timeout`` seconds."""
        return _sshd.unreachable(self.ssh_config, self.hosts, timeout)

    def daemons_alive(self) -> dict[int, bool]:
        """Whether each daemon (by pid) still runs."""
        return {d.pid: self._is_ours(d) for d in self._daemons}

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<LoopbackTestbed {state} hosts={len(self.hosts)} port={self.port} dir={self.dir}>"

    # -- internals -----------------------------------------------------------

    def _make_dir(self) -> None:
        if self._base_dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="procession-testbed-"))
        else:
            self.dir = self._base_dir
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if any(self.dir.iterdir()):
                raise TestbedError(f"testbed directory {self.dir} is not empty")
        if self.user != _sshd.current_user():
            # sshd reads the authorized keys as the target user.
            self.dir.chmod(0o711)

    def _make_keys(self) -> None:
        self.keyfile = self.dir / "id_ed25519"
        _sshd.generate_key(self.keyfile, "procession-testbed-client")
        _sshd.generate_key(self.dir / "host_ed25519", "procession-testbed-host")
        authorized = self.dir / "authorized_keys"
        shutil.copyfile(self.keyfile.with_suffix(".pub"), authorized)
        authorized.chmod(0o644)

    def _start_daemons(self) -> None:
        self.hosts, patterns, self.port = _allocate(self.n_hosts)
        self._patterns = [*patterns, NETNS_PATTERN]
        self.ssh_config = self.dir / "ssh_config"
        self.ssh_config.write_text(
            _sshd.client_config(
                patterns=self._patterns, user=self.user, port=self.port, keyfile=self.keyfile
            )
        )
        for i, addresses in enumerate(_chunks(self.hosts, _sshd.MAX_LISTEN_SOCKS)):
            config = self.dir / f"sshd-{i}.conf"
            log = self.dir / f"sshd-{i}.log"
            config.write_text(
                _sshd.sshd_config(
                    listen=addresses,
                    port=self.port,
                    host_key=self.dir / "host_ed25519",
                    authorized_keys=self.dir / "authorized_keys",
                    pid_file=self.dir / f"sshd-{i}.pid",
                    user=self.user,
                )
            )
            log.write_bytes(b"")
            pid = _daemon.spawn([_sshd.SSHD, "-D", "-e", "-f", str(config)], log)
            self._daemons.append(_Daemon(pid, config, log, tuple(addresses), True))
        try:
            _sshd.wait_ready(
                [(d.pid, d.addresses[0], self.port, d.log) for d in self._daemons],
                self.ssh_config,
            )
            _sshd.check_bind_errors([d.log for d in self._daemons])
        except _sshd.BindError as exc:
            raise _AddressConflict(str(exc)) from exc
        except RuntimeError as exc:
            raise TestbedError(str(exc)) from exc
        listening = _listening_ipv4()
        missing = [h for h in self.hosts if (h, self.port) not in listening]
        if missing:
            raise _AddressConflict(f"sshd does not listen on {missing[:5]}... port {self.port}")

    def _is_ours(self, daemon: _Daemon) -> bool:
        # After a reboot or in a loaded state file, the pid may be another
        # process: only touch it if its argv names our config file. sshd
        # rewrites its argv into one string ("sshd: /usr/sbin/sshd -D ... -f
        # CONFIG [listener] ..."), hence the substring test.
        return _daemon.is_alive(daemon.pid) and str(daemon.config) in " ".join(
            _daemon.cmdline(daemon.pid)
        )

    def _stop_daemons(self) -> list[int]:
        survivors = []
        for daemon in self._daemons:
            if self._is_ours(daemon):
                if not _daemon.stop_tree(daemon.pid, _STOP_TIMEOUT, reap=daemon.child):
                    survivors.append(daemon.pid)
            elif daemon.child:
                _daemon.wait_exited(daemon.pid, 0)  # reap a daemon that died
        self._daemons = [d for d in self._daemons if d.pid in survivors]
        return survivors

    def _write_state(self) -> None:
        params = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.connection_params().items()
        }
        state = {
            "version": _STATE_VERSION,
            "dir": str(self.dir),
            "hosts": self.hosts,
            "port": self.port,
            "user": self.user,
            "keyfile": str(self.keyfile),
            "ssh_config": str(self.ssh_config),
            "patterns": self._patterns,
            "daemons": [
                {
                    "pid": d.pid,
                    "config": str(d.config),
                    "log": str(d.log),
                    "addresses": list(d.addresses),
                }
                for d in self._daemons
            ],
            "connection_params": params,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)
