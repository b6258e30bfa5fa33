"""Connection parameters and their precedence.

Highest first: the fields of the :class:`Host` (user, keyfile, port), then
the ``connection_params`` given to the call, then
``default_connection_params``. ``host_rewrite_func`` maps the address just
before it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._config import default_connection_params
from .._errors import ConfigurationError
from ._host import Host

__all__ = ["effective_login", "make_connection_params", "rewritten_address"]


def make_connection_params(connection_params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``default_connection_params`` overridden by ``connection_params``.

    Raises:
        ConfigurationError: an unknown key (a typo would otherwise be
            silently ignored).
    """
    params = dict(default_connection_params)
    if connection_params:
        unknown = set(connection_params) - set(params) - _EXTRA_KEYS
        if unknown:
            raise ConfigurationError(
                f"unknown connection parameter(s) {sorted(unknown)}; known: {sorted(params)}"
            )
        params.update(connection_params)
    return params


# procession additions accepted in connection_params.
_EXTRA_KEYS = frozenset({"connection_reuse"})


def effective_login(
    host: Host, params: Mapping[str, Any]
) -> tuple[str | None, str | None, int | None]:
    """The (user, keyfile, port) to use: Host fields first, then params."""
    user = host.user if host.user is not None else params.get("user")
    keyfile = host.keyfile if host.keyfile is not None else params.get("keyfile")
    port = host.port if host.port is not None else params.get("port")
    return user or None, keyfile or None, int(port) if port else None


def rewritten_address(host: Host, params: Mapping[str, Any]) -> str:
    """The address after ``host_rewrite_func``, if any."""
    func = params.get("host_rewrite_func")
    return str(func(host.address)) if func else host.address
