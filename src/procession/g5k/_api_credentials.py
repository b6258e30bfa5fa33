"""Credentials of the Grid'5000 REST API: found, never written or logged.

Looked up in this order, the first that gives a password winning:

1. the ``username``/``password`` given to :class:`~procession.g5k.APIConnection`;
2. none at all on a Grid'5000 machine (the API trusts its own network);
3. the environment: ``G5K_USERNAME`` and ``G5K_PASSWORD``;
4. python-grid5000's configuration file ``~/.python-grid5000.yaml``
   (``username:`` and ``password:`` lines; ``$PYTHON_GRID5000_CONFIG``
   names another file);
5. the desktop keyring (service ``grid5000_api``, as Execo), when the
   ``keyring`` package is installed;
6. a prompt, once per process, when the standard input is a terminal.

The user name comes from the first of: the argument,
``g5k_configuration['api_username']``, ``G5K_USERNAME``, the configuration
file. Without a user name, requests go without credentials.
"""

from __future__ import annotations

import functools
import getpass
import logging
import os
import socket
import sys
import threading
from pathlib import Path

from .config import g5k_configuration

logger = logging.getLogger("procession.g5k.api")

KEYRING_SERVICE = "grid5000_api"
_lock = threading.Lock()
_passwords: dict[tuple[str, str], str] = {}


@functools.cache
def inside_grid5000() -> bool:
    """Whether this machine is a Grid'5000 frontend or node (asked once: a
    reverse DNS lookup may be slow)."""
    return socket.getfqdn().endswith(".grid5000.fr")


def _config_file() -> Path:
    return Path(os.environ.get("PYTHON_GRID5000_CONFIG", "~/.python-grid5000.yaml")).expanduser()


def read_config_file(path: Path | None = None) -> dict[str, str]:
    """The ``key: value`` pairs of python-grid5000's configuration file
    (its keys are flat: ``username``, ``password``, ``uri``, ``verify_ssl``)."""
    path = path or _config_file()
    try:
        text = path.read_text()
    except OSError:
        return {}
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace() and not key.startswith("#"):
            pairs[key.strip()] = value.strip().strip("'\"")
    return pairs


def _from_keyring(username: str) -> str | None:
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError:
        return None
    try:
        password = keyring.get_password(KEYRING_SERVICE, username)
    except Exception as exc:  # no usable backend: keyring is optional
        logger.debug("keyring unusable: %s", type(exc).__name__)
        return None
    return str(password) if password else None


def _prompt(username: str, uri: str) -> str | None:
    if not sys.stdin.isatty():
        return None
    return getpass.getpass(f"Grid'5000 API password of {username} ({uri}): ") or None


def find_credentials(
    uri: str, username: str | None = None, password: str | None = None
) -> tuple[str, str] | None:
    """``(username, password)`` for the API at *uri*, or None (no auth)."""
    if username and password:
        return username, password
    if inside_grid5000():
        return None
    env_user, env_password = os.environ.get("G5K_USERNAME"), os.environ.get("G5K_PASSWORD")
    config = read_config_file()
    username = (
        username or g5k_configuration.get("api_username") or env_user or config.get("username")
    )
    if not username:
        return None
    if password:  # given with the call, the user name from the configuration
        return username, password
    with _lock:
        key = (uri, username)
        if key not in _passwords:
            found = (
                (env_password if env_user in (None, username) else None)
                or (config.get("password") if config.get("username") in (None, username) else None)
                or _from_keyring(username)
                or _prompt(username, uri)
            )
            if not found:
                logger.warning("no Grid'5000 API password found for %s: no credentials", username)
                return None
            _passwords[key] = found
        return username, _passwords[key]


def forget_passwords() -> None:
    """Forget the passwords found so far (the next request looks again)."""
    with _lock:
        _passwords.clear()
