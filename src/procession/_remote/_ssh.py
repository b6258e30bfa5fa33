"""OpenSSH command lines, connection multiplexing and ssh's own errors.

User-given options come *before* procession's own ones in every command
line: OpenSSH keeps the first value it sees for an option, so a user's
``-o ControlMaster=no`` in ``ssh_options`` wins over the multiplexing
options added here. The login options derived from a :class:`Host` come
first of all, since a Host's fields have the highest precedence.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .._config import configuration
from .._log import get_logger
from ._host import Host
from ._params import effective_login, rewritten_address

__all__ = [
    "classify_ssh_failure",
    "control_dir",
    "login_options",
    "mux_options",
    "scp_argv",
    "ssh_argv",
    "stop_masters",
]

log: Final = get_logger("remote")

_control_dir: Path | None = None
_control_lock = threading.Lock()


def control_dir() -> Path:
    """The private directory of ControlMaster sockets (created on first use).

    Masters left there are stopped at interpreter exit.
    """
    global _control_dir
    with _control_lock:
        if _control_dir is None:
            # Unix socket paths are limited to ~100 bytes: keep the prefix short.
            base = os.environ.get("XDG_RUNTIME_DIR")
            if not base or len(base) > 40 or not os.access(base, os.W_OK):
                base = tempfile.gettempdir()
            _control_dir = Path(tempfile.mkdtemp(prefix="procession-ssh-", dir=base))
            atexit.register(stop_masters)
        return _control_dir


def stop_masters() -> None:
    """Stop the ssh connection masters of this interpreter; remove their dir."""
    global _control_dir
    with _control_lock:
        directory, _control_dir = _control_dir, None
    if directory is None:
        return
    needle = str(directory).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        # A master renames itself "ssh: <socket path> [mux]".
        if needle in cmdline and b"[mux]" in cmdline:
            try:
                os.kill(int(proc.name), signal.SIGTERM)
            except OSError:
                pass
    shutil.rmtree(directory, ignore_errors=True)


def _reuse_enabled(params: Mapping[str, Any]) -> bool:
    wanted = params.get("connection_reuse")
    if wanted is None:
        wanted = configuration.get("ssh_connection_reuse", True)
    # Only OpenSSH's ssh knows these options (not oarsh and other wrappers).
    return bool(wanted) and os.path.basename(str(params.get("ssh", "ssh")).split()[0]) == "ssh"


def mux_options(params: Mapping[str, Any]) -> tuple[str, ...]:
    """ControlMaster options when connection reuse is on, else ()."""
    if not _reuse_enabled(params):
        return ()
    persist = int(configuration.get("ssh_control_persist", 60))
    return (
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={control_dir()}/%C",
        "-o", f"ControlPersist={persist}",
    )  # fmt: skip


def login_options(host: Host, params: Mapping[str, Any]) -> tuple[str, ...]:
    """``-o User=``, ``-i`` and ``-o Port=`` from the host and params."""
    user, keyfile, port = effective_login(host, params)
    opts: tuple[str, ...] = ()
    if user:
        opts += ("-o", f"User={user}")
    if keyfile:
        opts += ("-i", str(keyfile))
    if port:
        opts += ("-o", f"Port={port}")
    return opts


def _split_tool(value: Any) -> list[str]:
    return str(value).split() if isinstance(value, str) else [str(v) for v in value]


def ssh_argv(
    host: Host,
    remote_cmd: str,
    params: Mapping[str, Any],
    tty: bool = False,
    extra: Sequence[str] = (),
    reuse: bool = True,
) -> list[str]:
    """The full ssh command line to run ``remote_cmd`` on ``host``."""
    argv = _split_tool(params["ssh"])
    argv += login_options(host, params)
    argv += list(params.get("ssh_options") or ())
    argv += list(extra)
    if reuse:
        argv += mux_options(params)
    argv += ["-tt"] if tty else ["-T"]
    argv += [rewritten_address(host, params), remote_cmd]
    return argv


def scp_argv(
    host: Host, sources: Sequence[str], target: str, params: Mapping[str, Any]
) -> list[str]:
    """An scp command line (paths already prefixed with ``host:`` as needed)."""
    argv = _split_tool(params["scp"])
    argv += login_options(host, params)
    argv += list(params.get("scp_options") or ())
    argv += mux_options(params)
    return [*argv, *sources, target]


# What OpenSSH prints when it cannot connect or loses the connection.
_CONNECT_FAILURES: Final = re.compile(
    r"^(?:ssh: connect to host .*|ssh: Could not resolve hostname .*|"
    r".*Permission denied \(.*\)\.?|Host key verification failed\.|"
    r"kex_exchange_identification: .*|Connection (?:closed|reset) by .*|"
    r"Connection timed out during banner exchange|"
    r"ssh_exchange_identification: .*|Bad owner or permissions on .*|"
    r"Can't open user config file .*|.*: No route to host|"
    r"banner exchange: .*|Too many authentication failures.*)$",
    re.MULTILINE,
)
_LOST: Final = re.compile(
    r"^(?:Connection to .* closed by remote host\.?|client_loop: send disconnect: .*|"
    r"Timeout, server .* not responding\.?|packet_write_wait: .*|"
    r"Read from remote host .*|mux_client_.*: .*)$",
    re.MULTILINE,
)


def classify_ssh_failure(stderr: str, connected: bool) -> str:
    """Why ssh exited 255 without the remote command's exit status.

    Args:
        stderr: what ssh wrote on stderr (before the command started, only
            ssh writes there).
        connected: the remote command was seen starting.
    """
    if not connected:
        found = _CONNECT_FAILURES.findall(stderr)
        if found:
            return f"ssh could not connect: {found[-1].strip()}"
        last = stderr.strip().splitlines()[-1:] or ["no message from ssh"]
        return f"ssh could not connect: {last[0]}"
    lost = _LOST.findall(stderr)
    detail = f": {lost[-1].strip()}" if lost else ""
    return f"ssh connection lost while the command ran{detail}"
