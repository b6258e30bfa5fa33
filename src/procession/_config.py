"""Global configuration: ``configuration`` and ``default_connection_params``.

Both are plain dicts with Execo's keys, so ``configuration['kill_timeout'] =
5`` works as it does in Execo. A user file overrides the defaults when
procession is imported::

    # $XDG_CONFIG_HOME/procession/config.toml  (or $PROCESSION_CONFIG)
    [configuration]
    kill_timeout = 10

    [connection_params]
    user = "root"
    ssh_options = ["-o", "ConnectTimeout=5"]

The file is data (TOML), never executed, unlike Execo's ``~/.execo.conf.py``.
An unknown key, a value of the wrong type or a TOML syntax error raises
:class:`ConfigurationError` naming the file, the key and what was expected.

Layer 0: imports only other leaves.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ._errors import ConfigurationError

__all__ = [
    "ASYNCSSH",
    "CHAINPUT",
    "SCP",
    "SSH",
    "TAKTUK",
    "configuration",
    "default_connection_params",
    "load_config_file",
    "make_default_connection_params",
]

SSH: Final = 0
"""Remote tool: OpenSSH (``configuration['remote_tool']``)."""
SCP: Final = 1
"""File transfer tool: scp (``fileput_tool`` / ``fileget_tool``)."""
TAKTUK: Final = 2
"""Remote tool and transfer tool: Taktuk."""
CHAINPUT: Final = 3
"""File broadcast tool: the ChainPut pipeline."""
ASYNCSSH: Final = 5
"""Remote tool: the in-process ssh engine (asyncssh; extra ``asyncssh``)."""

_SSH_COMMON: Final = (
    "-o", "BatchMode=yes",
    "-o", "PasswordAuthentication=no",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=20",
)  # fmt: skip

configuration: dict[str, Any] = {
    "log_level": logging.INFO,
    "remote_tool": SSH,
    "fileput_tool": SCP,
    "fileget_tool": SCP,
    "compact_output_threshold": 4096,
    "kill_timeout": 60,
    "intr_period": 1,
    "port_range": (25500, 26700),
    "kill_childs_at_end": True,
    "color_mode": None,
    "ssh_connection_reuse": True,
    "ssh_control_persist": 60,
    "event_log": None,
}
"""Global configuration, with Execo's keys.

- ``log_level``: level of the ``procession`` logger (default ``logging.INFO``:
  quiet, warnings for failures).
- ``remote_tool``, ``fileput_tool``, ``fileget_tool``: :data:`SSH`,
  :data:`SCP`, :data:`TAKTUK` or :data:`CHAINPUT`, used by the factories.
- ``compact_output_threshold``: outputs longer than this many characters are
  shown as head and tail in ``dump()`` and logs; 0 for no limit.
- ``kill_timeout``: seconds between a SIGTERM sent by ``kill()`` and the
  SIGKILL sent if the process is still alive.
- ``intr_period``: kept for Execo compatibility; procession's waits are
  woken by Ctrl-C at once and do not poll.
- ``port_range``: ``(first, last + 1)`` ports used when a free port is needed.
- ``kill_childs_at_end``: send SIGTERM to every running child at interpreter
  exit.
- ``color_mode``: colour the log on a terminal; ``None`` decides from
  ``isatty``, ``True``/``False`` force it.
- ``ssh_connection_reuse`` (procession): multiplex ssh connections to a host
  (OpenSSH ControlMaster) so later commands skip the handshake.
- ``ssh_control_persist`` (procession): seconds an idle shared connection
  stays open.
- ``event_log`` (procession): a path; ``enable_event_log_from_configuration()``
  then appends a JSON-lines event log of every process there (None: off).
"""


def make_default_connection_params() -> dict[str, Any]:
    """A fresh copy of the default connection parameters."""
    return {
        "user": None,
        "keyfile": None,
        "port": None,
        "ssh": "ssh",
        "scp": "scp",
        "taktuk": "taktuk",
        # Execo passes -tt here so that killing ssh kills the remote command;
        # that turns every line ending into \r\n and mixes ssh's messages into
        # stderr. procession ends the remote command another way (see
        # SshProcess) and keeps output byte-exact.
        "ssh_options": _SSH_COMMON,
        "scp_options": (*_SSH_COMMON, "-rp"),
        "taktuk_options": ("-s",),
        "taktuk_connector": "ssh",
        "taktuk_connector_options": _SSH_COMMON,
        "chainput_nc_client_timeout": 5,
        "chainput_nc_server_timeout": 30,
        "nc": "/bin/nc.traditional -v -v",
        "chainput_host_retry": 5,
        "chainput_chain_retry": 10,
        "chainput_try_delay": 1,
        "forwarding_timeout": 25,
        "pty": False,
        "host_rewrite_func": None,
    }


default_connection_params: dict[str, Any] = make_default_connection_params()
"""Default connection parameters for ssh, scp and taktuk, with Execo's keys.

Precedence, highest first: fields of the :class:`Host`, the call's
``connection_params``, then this dict.
"""

# Keys whose default is None accept these types from a file.
_NULLABLE_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "user": (str,),
    "keyfile": (str,),
    "port": (int,),
    "color_mode": (bool,),
    "event_log": (str,),
}


def _expected_types(key: str, default: Any) -> tuple[type, ...]:
    if default is None:
        return _NULLABLE_TYPES.get(key, (str, int, float, bool, list))
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, int | float):
        return (int, float)
    if isinstance(default, tuple):
        return (list,)
    return (type(default),)


def _apply(path: Path, section: str, values: Any, target: dict[str, Any]) -> None:
    if not isinstance(values, dict):
        raise ConfigurationError(f"{path}: [{section}] must be a table")
    for key, value in values.items():
        where = f"{path}: [{section}] {key}"
        if key not in target:
            known = ", ".join(sorted(target))
            raise ConfigurationError(f"{where}: unknown key (known keys: {known})")
        if key == "host_rewrite_func":
            raise ConfigurationError(f"{where}: a function cannot be set from a file")
        expected = _expected_types(key, target[key])
        if isinstance(value, bool) and bool not in expected:
            expected_ok = False
        else:
            expected_ok = isinstance(value, expected)
        if not expected_ok:
            names = " or ".join(t.__name__ for t in expected)
            raise ConfigurationError(
                f"{where}: expected {names}, got {type(value).__name__} {value!r}"
            )
        target[key] = tuple(value) if isinstance(value, list) else value


def _default_config_path() -> Path | None:
    explicit = os.environ.get("PROCESSION_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    path = Path(base) / "procession" / "config.toml"
    return path if path.is_file() else None


def load_config_file(path: str | os.PathLike[str] | None = None) -> Path | None:
    """Apply a TOML configuration file to the global dicts.

    Args:
        path: the file; default ``$PROCESSION_CONFIG``, else
            ``$XDG_CONFIG_HOME/procession/config.toml`` when it exists.

    Returns:
        The file applied, or None when there was none.

    Raises:
        ConfigurationError: unreadable file, TOML syntax error, unknown
            section or key, or a value of the wrong type.
    """
    file = Path(path) if path is not None else _default_config_path()
    if file is None:
        return None
    try:
        with open(file, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigurationError(f"{file}: cannot read configuration file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{file}: invalid TOML: {exc}") from exc
    sections = {"configuration": configuration, "connection_params": default_connection_params}
    for section, values in data.items():
        if section not in sections:
            raise ConfigurationError(
                f"{file}: unknown section [{section}] (expected [configuration] "
                "or [connection_params])"
            )
        _apply(file, section, values, sections[section])
    return file
