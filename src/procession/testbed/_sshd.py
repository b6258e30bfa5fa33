"""OpenSSH pieces shared by the loopback testbed and the fault hosts.

Key generation, sshd and ssh client configuration files, connection
parameters and the readiness check (a real ``ssh ... true``).
"""

from __future__ import annotations

import functools
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from . import _daemon

SSHD: Final = "/usr/sbin/sshd"
"""sshd must be started by absolute path: it re-executes itself for each connection."""

PRIVSEP_DIR: Final = "/run/sshd"
"""sshd's privilege separation directory on Debian (``_PATH_PRIVSEP_CHROOT_DIR``)."""

MAX_LISTEN_SOCKS: Final = 16
"""At most this many ``ListenAddress`` sockets per sshd (OpenSSH ``sshd.c``)."""

#: Seconds a daemon has to answer before start() gives up.
READY_TIMEOUT: Final = 30.0
#: Seconds one ssh attempt of the readiness check may take.
_SSH_ATTEMPT_TIMEOUT: Final = 15.0
_TOOL_TIMEOUT: Final = 30.0


class BindError(RuntimeError):
    """sshd could not listen on one of its addresses (another process holds it)."""


def require_tool(name: str, package: str) -> str:
    """Absolute path of a program, or RuntimeError naming the Debian package."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise RuntimeError(
            f"procession.testbed needs {name!r} (Debian package {package}); "
            f"install it, e.g. 'apt-get install {package}'"
        )
    return path


def run_tool(argv: Sequence[str], timeout: float = _TOOL_TIMEOUT) -> str:
    """Run a short-lived tool; return its stdout, RuntimeError with its stderr on failure."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{' '.join(argv)}: no answer after {timeout} s") from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()}"
        )
    return done.stdout


def current_user() -> str:
    """Login name of the effective user (sshd accepts only this user)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def generate_key(path: Path, comment: str) -> None:
    """Write an ed25519 key pair without passphrase at ``path`` and ``path.pub``."""
    keygen = require_tool("ssh-keygen", "openssh-client")
    run_tool([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


@functools.cache
def openssh_version() -> tuple[int, int]:
    """``(major, minor)`` of the installed sshd (``sshd -V``, or its usage text)."""
    if not os.path.exists(SSHD):
        raise RuntimeError(
            f"procession.testbed needs {SSHD} (Debian package openssh-server); "
            "install it, e.g. 'apt-get install openssh-server'"
        )
    # OpenSSH before 9.2 has no -V and prints its version in the usage message.
    done = subprocess.run(
        [SSHD, "-V"], capture_output=True, text=True, timeout=_TOOL_TIMEOUT, check=False
    )
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", done.stdout + done.stderr)
    if match is None:
        raise RuntimeError(f"cannot tell the OpenSSH version of {SSHD}: {done.stderr.strip()}")
    return int(match.group(1)), int(match.group(2))


def ensure_privsep_dir() -> None:
    """Create sshd's privilege separation directory when root and it is missing.

    sshd started as root refuses to run without it ("Missing privilege
    separation directory: /run/sshd"); the openssh-server service creates it
    at boot, but the service is not running in containers and CI VMs. sshd
    started as a normal user does not use it.
    """
    if os.geteuid() == 0 and not os.path.isdir(PRIVSEP_DIR):
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)


def sshd_config(
    *,
    listen: Sequence[str],
    port: int,
    host_key: Path,
    authorized_keys: Path,
    pid_file: Path,
    user: str,
) -> str:
    """Text of an sshd_config for a testbed daemon.

    Tuned for fan-out: a benchmark opens hundreds of connections at once, which
    the defaults (``MaxStartups 10:30:100``) would drop.
    """
    if len(listen) > MAX_LISTEN_SOCKS:
        raise ValueError(f"sshd listens on at most {MAX_LISTEN_SOCKS} addresses")
    lines = [f"ListenAddress {address}:{port}" for address in listen]
    lines += [
        "AddressFamily inet",
        f"HostKey {host_key}",
        f"PidFile {pid_file}",
        f"AuthorizedKeysFile {authorized_keys}",
        f"AllowUsers {user}",
        # Root logs in as the only user; a normal user can only log in as himself.
        f"PermitRootLogin {'yes' if os.geteuid() == 0 else 'no'}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        # PAM needs root; without it sshd runs as a normal user too.
        "UsePAM no",
        # The key files live in a temporary directory, whatever its modes.
        "StrictModes no",
        "UseDNS no",
        "MaxStartups 1000:30:2000",
        "MaxSessions 1000",
        "LoginGraceTime 60",
        "AllowTcpForwarding yes",
        "AllowStreamLocalForwarding yes",
        "X11Forwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        # Debian's bash sources ~/.bashrc for commands run by sshd when
        # SHLVL < 2; on these machines root's .bashrc runs `pyenv init`
        # (~200 ms a command). Test hosts stand for clean remote hosts.
        "SetEnv SHLVL=1",
        "LogLevel ERROR",
        # scp in OpenSSH >= 9 speaks sftp unless given -O.
        "Subsystem sftp internal-sftp",
    ]
    if openssh_version() >= (9, 8):
        # 9.8 penalises sources that fail or drop connections; the whole
        # testbed is one source address (127.0.0.1), so fault tests would lock
        # themselves out.
        lines.append("PerSourcePenalties no")
    return "\n".join(lines) + "\n"


def client_config(*, patterns: Sequence[str], user: str, port: int, keyfile: Path) -> str:
    """Text of an ssh client config for the testbed hosts (``ssh -F``)."""
    return (
        f"Host {' '.join(patterns)}\n"
        f"    User {user}\n"
        f"    Port {port}\n"
        f"    IdentityFile {keyfile}\n"
        "    IdentitiesOnly yes\n"
        "    IdentityAgent none\n"
        "    StrictHostKeyChecking no\n"
        "    UserKnownHostsFile /dev/null\n"
        "    LogLevel ERROR\n"
        "    BatchMode yes\n"
        "    PasswordAuthentication no\n"
        "    ControlPath none\n"
    )


def connection_params(*, user: str, port: int, keyfile: Path, ssh_config: Path) -> dict[str, Any]:
    """Execo connection parameters for hosts of a testbed.

    ``-F`` comes first so that everything else in the config file applies;
    the other options repeat the file for tools that do not read it.
    """
    common = (
        "-F", str(ssh_config),
        "-o", "BatchMode=yes",
        "-o", "PasswordAuthentication=no",
        "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes",
        "-o", "LogLevel=ERROR",
        "-o", "ConnectTimeout=20",
    )  # fmt: skip
    return {
        "user": user,
        "keyfile": str(keyfile),
        "port": port,
        "ssh_options": common,
        "scp_options": (*common, "-rp"),
        "taktuk_connector_options": common,
    }


def listening(pid: int, address: str, port: int) -> bool:
    """Whether a TCP socket listens on ``address:port`` in the network namespace of ``pid``.

    Read from ``/proc/PID/net/tcp`` rather than by connecting, so that sshd
    does not log a connection closed before the key exchange.
    """
    wanted = f"{int.from_bytes(socket.inet_aton(address), sys.byteorder):08X}:{port:04X}"
    try:
        with open(f"/proc/{pid}/net/tcp") as f:
            return any(
                fields[1] == wanted and fields[3] == "0A"  # TCP_LISTEN
                for fields in (line.split() for line in f)
            )
    except OSError:
        return False


def _log_tail(log: Path, limit: int = 2000) -> str:
    try:
        text = log.read_text(errors="replace").strip()
    except OSError:
        return "(no log)"
    return text[-limit:] if text else "(empty log)"


def ssh_argv(ssh_config: Path, address: str, *command: str, connect_timeout: int = 10) -> list[str]:
    """``ssh -F ssh_config address command...`` with a connect timeout."""
    return [
        "ssh",
        "-F",
        str(ssh_config),
        "-o",
        f"ConnectTimeout={connect_timeout}",
        address,
        *command,
    ]


def _spawn_ssh_true(ssh_config: Path, address: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ssh_argv(ssh_config, address, "true"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(
    daemons: Sequence[tuple[int, str, int, Path]],
    ssh_config: Path,
    timeout: float = READY_TIMEOUT,
    what: str = "sshd",
) -> None:
    """Wait until every daemon accepts an ssh login.

    Args:
        daemons: ``(pid, address, port, log)`` for each daemon; one of its
            addresses is tried.
        ssh_config: client config to log in with.
        timeout: seconds for all of them.
        what: the daemon's name in error messages.

    Raises:
        BindError: a daemon could not listen on one of its addresses.
        RuntimeError: a daemon exited, refused the key, or did not let
            ``ssh ... true`` in within ``timeout``; the message holds the
            daemon's log and ssh's stderr.
    """
    deadline = time.monotonic() + timeout
    pending = list(daemons)
    last_error: dict[int, str] = {}
    delay = 0.01
    while pending:
        for pid, _address, _port, log in pending:
            check_bind_errors([log])
            if not _daemon.is_alive(pid):
                _daemon.wait_exited(pid, 0)
                raise RuntimeError(f"{what} (pid {pid}) exited while starting: {_log_tail(log)}")
        # Cheap probe first, so that ssh is only run once sshd listens.
        ready = [d for d in pending if listening(d[0], d[1], d[2])]
        attempts = [(d, _spawn_ssh_true(ssh_config, d[1])) for d in ready]
        for d, proc in attempts:
            try:
                _, err = proc.communicate(timeout=_SSH_ATTEMPT_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if proc.returncode == 0:
                pending.remove(d)
                continue
            last_error[d[0]] = f"ssh exit {proc.returncode}: {err.strip()}"
            if "Permission denied" in err:  # a configuration error: retrying cannot help
                raise RuntimeError(
                    f"{what} (pid {d[0]}) on {d[1]}:{d[2]} refused the login: "
                    f"{last_error[d[0]]}; log: {_log_tail(d[3])}"
                )
        if not pending:
            return
        if time.monotonic() >= deadline:
            pid, address, port, log = pending[0]
            raise RuntimeError(
                f"{what} (pid {pid}) on {address}:{port} did not accept ssh within "
                f"{timeout} s; last attempt: {last_error.get(pid, 'not listening')}; "
                f"log: {_log_tail(log)}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def unreachable(
    ssh_config: Path, addresses: Sequence[str], timeout: float = 10.0, parallel: int = 32
) -> list[str]:
    """Addresses where ``ssh ... true`` fails, trying ``parallel`` at a time.

    Each attempt is bounded by ``timeout`` seconds.
    """
    failed = []
    for i in range(0, len(addresses), parallel):
        batch = [(a, _spawn_ssh_true(ssh_config, a)) for a in addresses[i : i + parallel]]
        for address, proc in batch:
            try:
                proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            if proc.returncode != 0:
                failed.append(address)
    return failed


def check_bind_errors(logs: Sequence[Path]) -> None:
    """BindError when a daemon could not listen on one of its addresses.

    sshd keeps running when only some of its ``ListenAddress`` fail, and logs
    ``Bind to port ... failed`` at level ERROR before it accepts connections.
    """
    for log in logs:
        text = _log_tail(log)
        if "Bind to port" in text:
            raise BindError(f"sshd could not listen on every address: {text}")
